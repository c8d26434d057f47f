#pragma once
// A CUPTI Activity API tracing session: concurrent-kernel, memcpy, memset and external-correlation records,
// collected through CUPTI's buffer callbacks, each record joined to the external id that was pushed around the
// API call that launched it (cuptiActivityPushExternalCorrelationId around each pass, so every kernel and
// copy is attributed to the layer unit and pass that issued it).
//
// CUPTI's buffer callbacks carry no user pointer, so the session that receives them is found through one
// process-wide pointer; CUPTI itself is process-wide, and only one session may be active at a time (a second
// start() fails with a message).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace adaptis::prof {

struct RawRecord {
  enum Kind : uint8_t { Kernel, Memcpy, Memset } kind = Kernel;
  std::string name;  // demangled kernel name, copy kind
  uint64_t start = 0, end = 0;  // CUPTI ns
  uint64_t bytes = 0;
  uint32_t stream = 0, correlation = 0;
  uint64_t external = 0;  // 0 = launched while no id was pushed
};

class CuptiSession {
 public:
  // Enables the activity kinds. nullptr with `why` set when CUPTI cannot trace here (the message names the
  // CUPTI error and, for CUPTI_ERROR_INSUFFICIENT_PRIVILEGES, what to change).
  static std::unique_ptr<CuptiSession> start(std::string* why);
  ~CuptiSession();
  CuptiSession(const CuptiSession&) = delete;
  CuptiSession& operator=(const CuptiSession&) = delete;

  // Every CUDA API call between push and pop is tagged with `id` (> 0).
  void push(uint64_t id);
  void pop();
  // Synchronises the device, flushes every buffer, disables tracing and returns the records in start order.
  std::vector<RawRecord> finish(uint64_t* dropped);

  struct Collector;

 private:
  CuptiSession() = default;
  bool finished_ = false;
};

}  // namespace adaptis::prof
