#pragma once
// The planner simulates thousands of plans per search, each with buffers of a few megabytes that are
// freed at its end. With glibc's defaults the freed top of the heap is returned to the kernel once it
// passes the (dynamic) trim threshold and faulted back in by the next simulation: on 64 devices x 512
// micro-batches that was up to half the simulation time, spent in page faults. Processes that run the
// planner (the CLI, the benchmarks) call this once at start-up so freed memory stays for reuse; large
// blocks (over 64 MiB) are still mapped and unmapped on their own.
#include <malloc.h>

namespace adaptis {

inline void keep_freed_heap_for_reuse() {
#ifdef M_TRIM_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

}  // namespace adaptis
