#pragma once
// Public interface of the planner library: the Plan IR, schedule generators, the plan builder, validator,
// simulator, list scheduler and optimizer with its lower bound, and the plan formats (plan files, PyTorch
// CSV, Megatron layouts, OctoPipe plans, Chrome traces, text Gantt). Pure functions over data; the CLI, TUI,
// GUI, tests and benchmarks all call these.
#include "adaptis/planner/chrome_trace.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/octopipe_plan.h"
#include "adaptis/planner/optimizer.h"
#include "adaptis/planner/p2p_transfers.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"
#include "adaptis/planner/text_gantt.h"
#include "adaptis/planner/cluster_search.h"
#include "adaptis/planner/validator.h"
// The size limits every planner entry point checks (layers, devices, micro-batches, stages).
#include "adaptis/model/problem_limits.h"
