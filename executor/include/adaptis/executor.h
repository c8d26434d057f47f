#pragma once
// Public interface of the executor library: the instruction IR and the lowering pass (Plan -> Program, with
// its deadlock checker), the runtime that interprets a Program on device threads over a Transport, the real
// layer math behind StageCompute (CPU; GPU backends in gpu.h, which compiles without CUDA), the run session
// and the run store (recorded runs in SQLite), reports and traces of recorded runs. The per-layer CPU
// kernels (adaptis/executor/layers/*.h) are the reference the GPU kernels are checked against.
#include "adaptis/executor/gpu.h"
#include "adaptis/executor/gpu_layer_chain.h"
#include "adaptis/executor/instruction.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/executor/machine_info.h"
#include "adaptis/executor/microbatch_data.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/executor/reference_trainer.h"
#include "adaptis/executor/run_report.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/executor/run_store.h"
#include "adaptis/executor/run_trace.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/executor/stage_compute.h"
#include "adaptis/executor/transport.h"
