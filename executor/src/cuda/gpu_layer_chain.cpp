// GpuLayerChain (gpu_layer_chain.h): the layer units of a model as one-micro-batch GPU stages on one stream.
#include "adaptis/executor/gpu_layer_chain.h"

#include <cstdint>
#include <stdexcept>

#include "adaptis/model/error.h"
#include "cuda/gpu_event.h"
#include "cuda/gpu_runtime_common.h"
#include "cuda/gpu_stage.h"

namespace adaptis::exec {

namespace {
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;  // gemm.cpp's per-handle workspace
}  // namespace

struct GpuLayerChain::Impl {
  int gpu = 0;
  std::unique_ptr<gpu::GpuContext> ctx;
  std::vector<std::unique_ptr<gpu::GpuStage>> stages;
  std::vector<gpu::DeviceBuffer<float>> acts, grads;  // acts[u] = input of unit u; grads[u] = its gradient
  std::vector<std::array<std::pair<std::unique_ptr<gpu::Event>, std::unique_ptr<gpu::Event>>, 3>> events;
  std::vector<double> saved_f, saved_b;

  ~Impl() {
    if (!ctx) return;
    // Buffers and stages free on the stream: finish it before the context (and its stream) goes.
    cudaStreamSynchronize(ctx->stream());
    acts.clear();
    grads.clear();
    stages.clear();
    cudaStreamSynchronize(ctx->stream());
  }
};

GpuLayerChain::GpuLayerChain(const NetConfig& cfg, const LayerUnits& units, GpuPrecision precision, int gpu)
    : impl_(std::make_unique<Impl>()) {
  require_gpu("GPU layer chain");
  validate_net_config(cfg, "GPU layer chain: model " + cfg.name);
  describe_gpu(gpu, "GPU layer chain");
  const int U = units.count();
  if (U < 1) throw InputError("GPU layer chain: the model has no layers");
  Impl& im = *impl_;
  im.gpu = gpu;
  ADAPTIS_CUDA_CHECK(cudaSetDevice(gpu));
  gpu::keep_pool_memory(gpu);
  cudaMemPool_t pool{};
  ADAPTIS_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, gpu));
  uint64_t zero = 0;
  ADAPTIS_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero));

  im.ctx = std::make_unique<gpu::GpuContext>(gpu, precision);
  for (int u = 0; u < U; ++u)
    im.stages.push_back(std::make_unique<gpu::GpuStage>(cfg, units.bounds[u], units.bounds[u + 1], 1, *im.ctx));
  const size_t n = cfg.activation_floats();
  im.acts.resize(size_t(U) + 1);
  im.grads.resize(size_t(U) + 1);
  for (int u = 0; u <= U; ++u) {
    im.acts[u].allocate(n, im.ctx->stream());
    im.grads[u].allocate(n, im.ctx->stream());
  }
  im.events.resize(size_t(U));
  for (auto& e : im.events)
    for (auto& p : e) p = {std::make_unique<gpu::Event>(), std::make_unique<gpu::Event>()};
  im.saved_f.assign(size_t(U), 0);
  im.saved_b.assign(size_t(U), 0);
}

GpuLayerChain::~GpuLayerChain() = default;

int GpuLayerChain::num_units() const { return static_cast<int>(impl_->stages.size()); }

std::vector<ChainPassTimes> GpuLayerChain::iterate(const MicroBatchData& data, const ChainPassHooks& hooks,
                                                   double* total_ms) {
  Impl& im = *impl_;
  ADAPTIS_CUDA_CHECK(cudaSetDevice(im.gpu));
  const cudaStream_t stream = im.ctx->stream();
  const int U = num_units();
  for (auto& s : im.stages) s->zero_grad();
  gpu::Event first, last;
  first.record(stream);
  auto run = [&](int u, ChainPass pass, auto&& body) {
    const auto p = static_cast<size_t>(pass);
    if (hooks.begin) hooks.begin(u, pass);
    im.events[u][p].first->record(stream);
    body();
    im.events[u][p].second->record(stream);
    if (hooks.end) hooks.end(u, pass);
  };
  for (int u = 0; u < U; ++u) {
    gpu::GpuStage& s = *im.stages[u];
    s.set_batch(0, data);  // outside the pass: a host-to-device copy of the tokens
    run(u, ChainPass::F, [&] { s.forward(0, u > 0 ? im.acts[u].get() : nullptr, u + 1 < U ? im.acts[u + 1].get() : nullptr); });
    im.saved_f[u] = double(s.saved_bytes());
  }
  for (int u = U - 1; u >= 0; --u) {
    gpu::GpuStage& s = *im.stages[u];
    run(u, ChainPass::B,
        [&] { s.backward_input(0, u + 1 < U ? im.grads[u + 1].get() : nullptr, u > 0 ? im.grads[u].get() : nullptr); });
    im.saved_b[u] = double(s.saved_bytes());
  }
  for (int u = 0; u < U; ++u) run(u, ChainPass::W, [&] { im.stages[u]->backward_weight(0); });
  for (auto& s : im.stages) s->finish_backward();
  last.record(stream);
  ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<ChainPassTimes> ms(static_cast<size_t>(U));
  for (int u = 0; u < U; ++u)
    for (size_t p = 0; p < 3; ++p) {
      float t = 0;
      ADAPTIS_CUDA_CHECK(cudaEventElapsedTime(&t, im.events[u][p].first->get(), im.events[u][p].second->get()));
      ms[u][p] = t;
    }
  float total = 0;
  ADAPTIS_CUDA_CHECK(cudaEventElapsedTime(&total, first.get(), last.get()));
  if (total_ms) *total_ms = total;
  return ms;
}

size_t GpuLayerChain::num_params(int unit) const { return impl_->stages.at(size_t(unit))->num_params(); }
double GpuLayerChain::saved_after_forward(int unit) const { return impl_->saved_f.at(size_t(unit)); }
double GpuLayerChain::saved_after_backward(int unit) const { return impl_->saved_b.at(size_t(unit)); }

size_t GpuLayerChain::peak_memory_bytes() const {
  cudaMemPool_t pool{};
  ADAPTIS_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, impl_->gpu));
  uint64_t high = 0;
  ADAPTIS_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &high));
  return size_t(high) + kCublasWorkspaceBytes;
}

}  // namespace adaptis::exec
