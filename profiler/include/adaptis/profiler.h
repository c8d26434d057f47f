#pragma once
// Public interface of the profiler library (measures per-layer F/B/W costs).
