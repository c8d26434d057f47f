// CuptiSession (cupti_session.h).
#include "cupti_session.h"

#include <cupti.h>
#include <cuda_runtime.h>
#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

namespace adaptis::prof {

namespace {

constexpr size_t kBufferBytes = size_t(8) << 20;  // CUPTI suggests 1-10 MB per buffer
// RUNTIME and DRIVER are enabled only for their side effect: CUPTI emits an external-correlation record just
// before an API activity record (cupti_activity.h, cuptiActivityPushExternalCorrelationId), so without API
// records no record would carry our pushed ids. Their own records are skipped in buffer_completed.
constexpr CUpti_ActivityKind kKinds[] = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
                                         CUPTI_ACTIVITY_KIND_MEMSET,           CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION,
                                         CUPTI_ACTIVITY_KIND_RUNTIME,          CUPTI_ACTIVITY_KIND_DRIVER};

std::string cupti_error(CUptiResult r) {
  const char* s = nullptr;
  cuptiGetResultString(r, &s);
  return s ? s : ("CUPTI error " + std::to_string(static_cast<int>(r)));
}

std::string demangle(const char* name) {
  if (!name) return "?";
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  std::free(d);
  return out;
}

const char* copy_kind(uint8_t k) {
  switch (k) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "DtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH: return "HtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP: return "PtoP";
    default: return "copy";
  }
}

}  // namespace

// What the buffer callbacks fill; guarded by its mutex (callbacks run on CUPTI's worker threads).
struct CuptiSession::Collector {
  std::mutex mu;
  std::vector<RawRecord> records;
  std::map<uint32_t, uint64_t> external;  // correlation id -> pushed id
};

namespace {

// The active session's collector (see the header: CUPTI callbacks have no user pointer).
std::mutex g_active_mu;
CuptiSession::Collector* g_active = nullptr;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  std::vector<RawRecord> got;
  std::map<uint32_t, uint64_t> ext;
  CUpti_Activity* rec = nullptr;
  while (valid > 0 && cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) {
    switch (rec->kind) {
      case CUPTI_ACTIVITY_KIND_KERNEL:
      case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
        const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(rec);
        got.push_back({RawRecord::Kernel, demangle(k->name), k->start, k->end, 0, k->streamId, k->correlationId, 0});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMCPY: {
        const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(rec);
        got.push_back({RawRecord::Memcpy, copy_kind(m->copyKind), m->start, m->end, m->bytes, m->streamId,
                       m->correlationId, 0});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMSET: {
        const auto* m = reinterpret_cast<const CUpti_ActivityMemset4*>(rec);
        got.push_back({RawRecord::Memset, "memset", m->start, m->end, m->bytes, m->streamId, m->correlationId, 0});
        break;
      }
      case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
        const auto* e = reinterpret_cast<const CUpti_ActivityExternalCorrelation*>(rec);
        if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) ext[e->correlationId] = e->externalId;
        break;
      }
      default: break;
    }
  }
  std::free(buffer);
  std::lock_guard<std::mutex> lk(g_active_mu);
  if (!g_active) return;
  std::lock_guard<std::mutex> lk2(g_active->mu);
  g_active->records.insert(g_active->records.end(), got.begin(), got.end());
  g_active->external.insert(ext.begin(), ext.end());
}

}  // namespace

std::unique_ptr<CuptiSession> CuptiSession::start(std::string* why) {
  {
    std::lock_guard<std::mutex> lk(g_active_mu);
    if (g_active) {
      if (why) *why = "a CUPTI session is already active in this process";
      return nullptr;
    }
    g_active = new Collector();
  }
  auto fail = [&](const std::string& msg) -> std::unique_ptr<CuptiSession> {
    for (CUpti_ActivityKind k : kKinds) cuptiActivityDisable(k);
    std::lock_guard<std::mutex> lk(g_active_mu);
    delete g_active;
    g_active = nullptr;
    if (why) *why = msg;
    return nullptr;
  };
  CUptiResult r = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
  if (r != CUPTI_SUCCESS) return fail("cuptiActivityRegisterCallbacks: " + cupti_error(r));
  for (CUpti_ActivityKind k : kKinds) {
    r = cuptiActivityEnable(k);
    if (r == CUPTI_SUCCESS) continue;
    std::string msg = "cuptiActivityEnable: " + cupti_error(r);
    if (r == CUPTI_ERROR_INSUFFICIENT_PRIVILEGES)
      msg += " (tracing needs access to the GPU's profiling: run as root or with CAP_SYS_ADMIN, or load the driver "
             "with NVreg_RestrictProfilingToAdminUsers=0; containers need --cap-add SYS_ADMIN)";
    else if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED)
      msg += " (another profiler such as nsys or ncu is attached to this process)";
    return fail(msg);
  }
  return std::unique_ptr<CuptiSession>(new CuptiSession());
}

CuptiSession::~CuptiSession() {
  if (!finished_) {
    uint64_t dropped = 0;
    try {
      finish(&dropped);
    } catch (...) {
    }
  }
}

void CuptiSession::push(uint64_t id) { cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, id); }

void CuptiSession::pop() {
  uint64_t last = 0;
  cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last);
}

std::vector<RawRecord> CuptiSession::finish(uint64_t* dropped) {
  finished_ = true;
  cudaDeviceSynchronize();  // records of unfinished work would come back with zero timestamps
  cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  for (CUpti_ActivityKind k : kKinds) cuptiActivityDisable(k);
  size_t n_dropped = 0;
  if (cuptiActivityGetNumDroppedRecords(nullptr, 0, &n_dropped) == CUPTI_SUCCESS && dropped) *dropped = n_dropped;
  Collector* c = nullptr;
  {
    std::lock_guard<std::mutex> lk(g_active_mu);
    c = g_active;
    g_active = nullptr;
  }
  std::vector<RawRecord> out;
  if (!c) return out;
  out = std::move(c->records);
  for (RawRecord& r : out) {
    auto it = c->external.find(r.correlation);
    r.external = it == c->external.end() ? 0 : it->second;
  }
  delete c;
  // Records that never got timestamps (start = end = 0) carry no information.
  out.erase(std::remove_if(out.begin(), out.end(), [](const RawRecord& r) { return r.start == 0 && r.end == 0; }),
            out.end());
  std::sort(out.begin(), out.end(), [](const RawRecord& a, const RawRecord& b) { return a.start < b.start; });
  return out;
}

}  // namespace adaptis::prof
