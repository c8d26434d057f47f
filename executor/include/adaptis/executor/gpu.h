#pragma once
// The executor's GPU backends, declared in plain C++ so this header compiles (and callers link) in a build
// without CUDA; there every entry point throws InputError("this adaptis was built without CUDA") and
// gpu_available() says so.
//
// Three layers, each usable on its own:
//   1. Layer math on a GPU: a StageCompute whose F / B / W run as CUDA kernels and cuBLAS GEMMs (llm.c style:
//      one kernel per op, the CPU layers in executor/src/layers/ are the reference). fp32 mode computes like the
//      CPU (TF32 off); bf16 mode runs every GEMM but the MoE router's on bf16 operands with fp32 accumulation
//      and fp32 outputs (weights keep an fp32 master copy), everything else in fp32.
//   2. GpuPipelineRuntime with virtual devices: one GPU split into N pipeline devices, each with its own
//      compute and copy streams (optionally on its own green context = a disjoint SM partition, so a 4-stage
//      pipeline really runs its stages side by side). A host thread per virtual device enqueues its lowered
//      instruction list; messages between virtual devices are device-to-device copies ordered by CUDA events
//      (no host synchronisation inside an iteration). Every instruction is timed with CUDA events.
//   3. NCCL: one rank per GPU, messages as ncclSend / ncclRecv on one communicator. Each rank issues its
//      communication in one globally agreed order (nccl_comm_sequence below), which every rank computes from
//      the same Program, so the sends and receives of a pair always match and the run cannot deadlock.
//      Ranks are threads of one process (several GPUs of one node) or processes started by mpirun, which get
//      NCCL's unique id by MPI_Bcast (when built with MPI) or through a file / the environment.
// Measured timelines come back as the CPU runtime's StepResult, so make_step_record / RunStore record GPU
// runs in the same SQLite runs table.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "adaptis/executor/instruction.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/executor/stage_compute.h"

namespace adaptis::exec {

class RunBackend;  // run_session.h

// ---------------------------------------------------------------------------------------------------------
// Availability

// True when this binary was compiled with the CUDA backends.
bool built_with_cuda();
// True when it was also compiled with MPI: processes started by mpirun then get the NCCL unique id by
// MPI_Bcast (nccl_bootstrap_from_environment); without MPI they need ADAPTIS_NCCL_ID or ADAPTIS_NCCL_ID_FILE.
bool built_with_mpi();
// True when a CUDA device can be used. Otherwise false, and `why` (when given) says why in one line that
// names the cause: "this adaptis was built without CUDA", "no CUDA device: cudaGetDeviceCount returned 0",
// "no CUDA device: cudaGetDeviceCount failed: CUDA driver version is insufficient ...".
bool gpu_available(std::string* why = nullptr);

struct GpuInfo {
  int index = 0;
  std::string name;
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  size_t memory_bytes = 0;
  int driver_version = 0, runtime_version = 0;  // e.g. 13000
  bool green_contexts = false;                  // the driver offers SM partitions (green contexts)
  int min_sm_partition = 0;                     // smallest green-context partition, in SMs (0 = unknown)
};
// Every visible CUDA device; empty when there is none. InputError in a build without CUDA.
std::vector<GpuInfo> list_gpus();
// Throws InputError "<what>: <why>" when no GPU can be used (gpu_available's reason). Every GPU entry
// point starts here.
void require_gpu(const std::string& what);
// CUDA device `gpu`; InputError naming `what` when it does not exist (or in a build without CUDA).
GpuInfo describe_gpu(int gpu, const std::string& what);

// ---------------------------------------------------------------------------------------------------------
// Precision

enum class GpuPrecision : uint8_t { Fp32, Bf16 };
const char* gpu_precision_name(GpuPrecision p);  // "fp32", "bf16"
// "fp32" / "bf16" (case-insensitive); InputError on `field` otherwise.
GpuPrecision parse_gpu_precision(const std::string& text, const std::string& field = "precision");

// Stated tolerance of a GPU result against the CPU reference, per element of a tensor:
//   |gpu - cpu| <= atol * max|cpu over the tensor| + rtol * |cpu|
// (llm.c's validate_result rule, with the absolute part scaled to the tensor so it stays meaningful for small
// gradients). fp32: rtol 1e-4, atol 1e-5 (cuBLAS and the block reductions sum in another order than the CPU
// loops); bf16: rtol 2e-2, atol 2e-2 (bf16 GEMM operands keep 8 significant bits).
struct GpuTolerance {
  double rtol = 0, atol = 0;
};
GpuTolerance gpu_reference_tolerance(GpuPrecision p);

// ---------------------------------------------------------------------------------------------------------
// 1. Layer math

struct GpuStageOptions {
  GpuPrecision precision = GpuPrecision::Fp32;
  int device = 0;  // CUDA device index
};

// Layers [first_layer, last_layer) of cfg on a GPU, behind the CPU contract: forward/backward take host
// buffers (copied in and out) and params()/grads() return host copies. Parameters are initialised exactly
// like the CPU stage's (same seeds, drawn on the host, then uploaded), so both start bit-identical.
// Meant for reference comparisons, the CPU runtime and profiling; the GPU runtimes below keep tensors on
// the device. InputError (bad config or layer range, no GPU, built without CUDA).
std::unique_ptr<StageCompute> make_gpu_stage(const NetConfig& cfg, int first_layer, int last_layer,
                                             int num_microbatches, const GpuStageOptions& opt = {});
StageFactory gpu_stage_factory(const NetConfig& cfg, const GpuStageOptions& opt = {});

// ---------------------------------------------------------------------------------------------------------
// 2./3. Running a lowered Program

enum class GpuBackend : uint8_t { VirtualDevices, Nccl };
const char* gpu_backend_name(GpuBackend b);  // "cuda", "nccl"
// InputError on field "backend" ("the cuda backend needs a GPU: <why>") when `b` cannot run here.
void require_gpu_backend(GpuBackend b);

struct GpuRunOptions {
  GpuBackend backend = GpuBackend::VirtualDevices;
  GpuPrecision precision = GpuPrecision::Fp32;
  // Virtual devices: the GPU all of them share, and whether each gets its own green context (SM
  // partition). sms_per_device = 0 splits the SMs evenly (rounded down to the driver's granularity).
  int gpu = 0;
  bool green_contexts = false;
  int sms_per_device = 0;
  // NCCL in one process: the GPU of each rank (device d of the program = rank d); empty = GPU d.
  std::vector<int> gpus;
  AdamW optimizer;
  bool optimizer_step = true;
  // A host thread waiting this long for a peer that never sends fails the step (ExecutionError). The
  // program is statically checked first (check_program), so this only fires on bugs or a hung GPU.
  double watchdog_ms = 120000;
};
// Pure checks (no GPU needed): InputError naming the option (negative SM count, a GPU list of the wrong
// length, a non-positive watchdog, ...).
void validate_gpu_run_options(const GpuRunOptions& opt, int num_devices);

struct GpuRunInfo {
  std::string backend;      // "cuda" or "nccl"
  std::string description;  // one line, e.g. "NVIDIA H100: 4 virtual devices, green contexts of 32 SMs"
  std::vector<std::string> device_names;  // per pipeline device, e.g. "H100#0/vd1 (32 SMs)"
  std::vector<int> device_sms;             // SMs of each device's partition (all SMs without green contexts)
  bool green_contexts = false;             // partitions were actually created
};

// Runs a lowered Program on GPUs (the virtual-device backend or NCCL ranks as threads of this process).
// Like PipelineRuntime: stages built once, run_step = zero grads, run every device's list, reduce
// per-micro-batch gradients in micro-batch order, AdamW. Intervals are CUDA-event times relative to the
// iteration's start event (start_ns = 0). InputError on bad options / programs / no GPU; ExecutionError
// when a step fails (the runtime is then unusable).
class GpuPipelineRuntime {
 public:
  GpuPipelineRuntime(Program program, const NetConfig& cfg, const GpuRunOptions& opt = {});
  ~GpuPipelineRuntime();
  GpuPipelineRuntime(const GpuPipelineRuntime&) = delete;
  GpuPipelineRuntime& operator=(const GpuPipelineRuntime&) = delete;

  StepResult run_step(int step, const DataSource& data);

  const Program& program() const;
  const GpuRunInfo& info() const;
  // Host copies of every stage's gradients (after run_step) and parameters, named like the CPU runtime's.
  std::vector<NamedTensor> grads() const;
  std::vector<NamedTensor> params() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------------------
// NCCL across processes (mpirun) and the communication order that keeps it deadlock-free

// One communication step of a device: a send or a receive of a message, and where its instruction is.
struct CommStep {
  bool send = false;
  TensorTag tensor;
  int peer = -1;
  int instruction = -1;  // index of the SEND (send) or POST_RECV (receive) in the device's list
  int64_t order = 0;     // the message's global position (equal on sender and receiver)
};
// Per device, its sends and receives in the global message order: messages are numbered in the order a
// simulation of the program with non-blocking sends executes their SENDs (devices stepped round-robin),
// and each device issues its part in that order. Issued on one NCCL stream per rank, the k-th operation a
// rank issues towards a peer always meets the k-th one the peer issues back, and the sends a receive waits
// for are issued before anything the receive blocks, so the run cannot deadlock. InputError when the
// program does not pass check_program.
std::vector<std::vector<CommStep>> nccl_comm_sequence(const Program& program);

// Who this process is in a multi-process NCCL run and the communicator's unique id (128 bytes as hex).
struct NcclBootstrap {
  int rank = 0, world = 1;
  int local_rank = 0;        // rank within this node: picks the GPU (local_rank % GPUs of the node)
  std::string unique_id;     // 256 hex digits
  std::string method;        // "mpi", "env", "file"
};
// A fresh NCCL unique id as 256 hex digits (InputError without CUDA/NCCL).
std::string nccl_unique_id_hex();
// Rank, world size and id for a process launched by mpirun (or by hand):
//   - built with MPI and started by mpirun: MPI_Init, rank 0 makes the id and MPI_Bcast's it ("mpi");
//   - otherwise rank / world from ADAPTIS_NCCL_RANK / ADAPTIS_NCCL_WORLD, else OpenMPI's OMPI_COMM_WORLD_RANK /
//     _SIZE / _LOCAL_RANK (or PMI_RANK / PMI_SIZE); the id from ADAPTIS_NCCL_ID ("env"), else through the
//     file named by ADAPTIS_NCCL_ID_FILE, which rank 0 writes atomically (temp file + rename) and the others
//     poll until `timeout_ms` ("file").
// InputError naming the variable when something is missing or malformed.
NcclBootstrap nccl_bootstrap_from_environment(double timeout_ms = 60000);
// Ends MPI when nccl_bootstrap_from_environment started it (no-op otherwise).
void nccl_bootstrap_finalize();

// This process's rank of a multi-process NCCL run: builds the stages of its device (= rank) of the
// program on GPU local_rank % num_gpus, joins the communicator and runs its list. run_step returns the whole
// iteration on every rank: intervals and losses of all ranks are gathered with NCCL all-reduces, and each
// rank's clock origin is the end of a barrier at the start of the step. grads()/params() hold this rank's
// stages only.
class NcclPipelineRank {
 public:
  NcclPipelineRank(Program program, const NetConfig& cfg, const GpuRunOptions& opt, const NcclBootstrap& boot);
  ~NcclPipelineRank();
  NcclPipelineRank(const NcclPipelineRank&) = delete;
  NcclPipelineRank& operator=(const NcclPipelineRank&) = delete;

  StepResult run_step(int step, const DataSource& data);
  int rank() const;
  const GpuRunInfo& info() const;
  std::vector<NamedTensor> grads() const;
  std::vector<NamedTensor> params() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------------------
// `adaptis run --backend cuda|nccl`

struct GpuRunBackend {
  std::unique_ptr<RunBackend> backend;
  int rank = 0, world = 1;
  bool primary = true;  // the process that prints and records (rank 0); every rank gets the whole StepResult
};
// cuda: GpuPipelineRuntime over virtual devices. nccl: when this process was started by mpirun (OpenMPI / PMI
// variables) or has ADAPTIS_NCCL_RANK set, it is one rank of a multi-process run (nccl_bootstrap_from_environment);
// otherwise the ranks are threads of this process, one per GPU. InputError / ExecutionError like the runtimes.
GpuRunBackend make_gpu_run_backend(const Program& program, const NetConfig& cfg, const GpuRunOptions& opt);

}  // namespace adaptis::exec
