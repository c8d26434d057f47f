#pragma once
// Carries out what an Explorer asks for (explorer.h's effects) and reports back: the optimizer on
// its thread, a launched `adaptis run` child process, the run store and single runs read off the
// UI thread, plan files written, the iteration's lengths read again off the UI thread. Both front ends own one driver
// next to their Explorer: after a command they call carry_out(), and every frame poll().
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <string>

#include "common/child_process.h"
#include "explorer/cluster_search_job.h"
#include "explorer/explorer.h"
#include "explorer/lengths_read_job.h"
#include "explorer/optimizer_job.h"

namespace adaptis::explorer {

struct DriverOptions {
  std::string binary;    // the adaptis executable launched runs use ("" = this process's own)
  std::string work_dir;  // plans and logs of launched runs ("" = a new temporary directory on first use)
};

class ExplorerDriver {
 public:
  explicit ExplorerDriver(DriverOptions options = {});
  ~ExplorerDriver();  // cancels the optimizer and stops a launched run
  ExplorerDriver(const ExplorerDriver&) = delete;
  ExplorerDriver& operator=(const ExplorerDriver&) = delete;

  // Takes the explorer's effects and starts each.
  void carry_out(Explorer& ex);
  // Reports background progress to the explorer (and carries out what that asks for); true when
  // something changed and the view should redraw.
  bool poll(Explorer& ex);
  // Background work in flight: the front end polls more often (or animates) meanwhile.
  bool busy() const;
  // Cancels the optimizer and a read of the lengths (joined) and stops a launched run; says what it
  // stopped ("" = nothing).
  std::string shutdown();
  const DriverOptions& options() const { return opt_; }

 private:
  struct RunLoad {
    RunUse use;
    int64_t id;
    std::string db;
  };
  struct RunLoadResult {
    std::shared_ptr<const LoadedRun> run;
    std::string error;
  };
  void start_optimizer(Explorer& ex);
  void start_cluster_search(Explorer& ex);
  void launch_run(Explorer& ex, const Effect& e);
  void save_plan(Explorer& ex, const Effect& e);
  void save_session_file(Explorer& ex, const Effect& e);
  void read_lengths(Explorer& ex, std::shared_ptr<const LengthsRequest> request);
  bool report_lengths(Explorer& ex);
  void refresh_runs(const std::string& db);
  void next_load();
  void watch_launched(Explorer& ex);
  std::string work_dir();
  double now_s() const;

  DriverOptions opt_;
  OptimizerJob optimizer_;
  uint64_t optimizer_seen_ = 0;
  ClusterSearchJob cluster_search_;
  LengthsReadJob lengths_read_;
  std::shared_ptr<const LengthsRequest> lengths_next_;  // asked for while an older read was stopping
  app::ChildProcess child_;
  LaunchedRun launched_;
  double last_watch_s_ = -1;
  int run_counter_ = 0;
  std::future<RunStoreView> store_read_;
  std::string store_again_;  // a db to read again after the read in flight ("" = none)
  std::deque<RunLoad> loads_;
  std::future<RunLoadResult> load_;
  RunLoad loading_{};
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace adaptis::explorer
