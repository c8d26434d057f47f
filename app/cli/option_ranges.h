#pragma once
// The range of every numeric command-line option. Each register_* attaches one of these validators, so
// the range shows in --help ("INT in [20, 1000]") and a value outside it (or not finite: inf, nan) is
// refused while parsing with "error: --flag: ..." and exit status 1, before any work starts.
#include <CLI/CLI.hpp>

namespace adaptis::cli {

// An integer in [min, max].
CLI::Validator int_range(long long min, long long max);
// Any unsigned 64-bit integer, written in decimal (no sign: CLI11 alone would wrap -1 and saturate
// values past 2^64 - 1).
CLI::Validator uint64_value();
// A finite number in [min, max]; with `min_exclusive`, in (min, max].
CLI::Validator real_range(double min, double max, bool min_exclusive = false);

// Ranges shared by several subcommands.
constexpr int kMinChartWidth = 20, kMaxChartWidth = 1000;  // --width of a terminal Gantt, in characters
constexpr double kMaxCommLatencyMs = 1e6;                  // --comm-latency-ms
constexpr double kMaxTimeBudgetS = 86400;                  // optimizer budgets: a day
constexpr int kMaxGaps = 100000;                           // simulate --gaps
constexpr int kMaxStagesPerDevice = 256;                   // -v, --max-stages-per-device
constexpr long long kMaxEvaluations = 1000000000000LL;     // optimize --max-evaluations
constexpr int kMaxSteps = 1000000;                         // run --steps, gui --run-steps
constexpr int kMaxRepeats = 10000;                         // profile --repeats / --warmup, run --profile-repeats
constexpr int kMaxGpuIndex = 1023;                         // --gpu
constexpr int kMaxSmsPerDevice = 1024;                     // run --sms-per-device
constexpr int kMaxMicroBatchSize = 65536;                  // export --micro-batch-size (sequences)
constexpr long long kMaxGlobalBatchTokens = 1LL << 40;     // plan / optimize --global-batch-tokens, --global-batch
// Optimizer worker threads: at most 4 per hardware thread and 256 in all (optimizer.h).
int max_threads_option();

}  // namespace adaptis::cli
