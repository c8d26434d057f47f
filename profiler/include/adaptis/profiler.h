#pragma once
// Public interface of the profiler library: per-layer F/B/W costs measured on this machine's CPU
// (cpu_profiler.h) or on a GPU with CUPTI / CUDA events (gpu_profiler.h, which compiles without CUDA), and
// the SQLite store of GPU profiles with their raw activity records (profile_store.h).
#include "adaptis/profiler/cpu_profiler.h"
#include "adaptis/profiler/gpu_profiler.h"
#include "adaptis/profiler/profile_store.h"
