// `adaptis runs`: the recorded runs, newest first. `adaptis show RUN`: one run's predicted against measured
// timeline per device and per (stage, operation), with the relative error of each figure.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include "adaptis/executor/run_report.h"
#include "adaptis/executor/run_store.h"
#include "adaptis/model/error.h"
#include "cli/commands.h"
#include "cli/option_ranges.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {

std::string fmt(const char* f, double x) {
  if (!std::isfinite(x)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}
std::string percent(double rel) { return std::isfinite(rel) ? fmt("%+.1f%%", rel * 100) : "-"; }
nlohmann::json number_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

// Local wall-clock time of a UTC epoch in ns, "2025-06-01 14:03:12".
std::string local_time(int64_t utc_ns) {
  if (utc_ns <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(utc_ns / 1000000000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string db_path(const std::string& given) { return given.empty() ? exec::default_run_db_path() : given; }

nlohmann::json summary_json(const exec::RunSummary& r) {
  return {{"id", r.id},
          {"status", r.status},
          {"started_utc_ns", r.started_utc_ns},
          {"finished_utc_ns", r.finished_utc_ns > 0 ? nlohmann::json(r.finished_utc_ns) : nlohmann::json(nullptr)},
          {"host", r.host},
          {"pid", r.pid},
          {"command", r.command},
          {"backend", r.backend},
          {"schedule", r.schedule},
          {"model", r.model_name},
          {"devices", r.num_devices},
          {"stages", r.num_stages},
          {"microbatches", r.num_microbatches},
          {"steps", r.steps},
          {"steps_done", r.steps_done},
          {"final_loss", number_or_null(r.final_loss)},
          {"grad_checksum", r.grad_checksum},
          {"predicted_iteration_ms", number_or_null(r.predicted_iteration_ms)},
          {"measured_iteration_ms", number_or_null(r.measured_iteration_ms)},
          {"iteration_error", number_or_null(exec::relative_error(r.predicted_iteration_ms, r.measured_iteration_ms))},
          {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)}};
}

struct RunsArgs {
  std::string db;
  bool json = false;
  int limit = 0;
};

int runs_command(const RunsArgs& a) {
  if (a.limit < 0) throw InputError("--limit: must be >= 0");
  const std::string db = db_path(a.db);
  exec::RunStore store(db, exec::StoreAccess::ReadOnly);
  std::vector<exec::RunSummary> runs = store.list_runs();
  if (a.limit > 0 && static_cast<int>(runs.size()) > a.limit) runs.resize(static_cast<size_t>(a.limit));
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : runs) j.push_back(summary_json(r));
    std::cout << nlohmann::json{{"db", db}, {"runs", j}}.dump(2) << "\n";
    return 0;
  }
  if (runs.empty()) {
    std::cout << "no runs recorded in " << terminal_safe(db) << " (record one with `adaptis run`)\n";
    return 0;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%5s  %-10s  %-19s  %-14s  %-22s  %-7s  %3s %3s %4s  %7s  %9s  %12s  %12s  %7s\n", "id",
                "status", "started", "model", "schedule", "backend", "dev", "stg", "mb", "steps", "loss",
                "predicted ms", "measured ms", "error");
  std::cout << line;
  for (const auto& r : runs) {
    const std::string steps = std::to_string(r.steps_done) + "/" + std::to_string(r.steps);
    std::snprintf(line, sizeof line, "%5lld  %-10s  %-19s  %-14s  %-22s  %-7s  %3d %3d %4d  %7s  %9s  %12s  %12s  %7s\n",
                  static_cast<long long>(r.id), r.status.c_str(), local_time(r.started_utc_ns).c_str(),
                  r.model_name.substr(0, 14).c_str(), r.schedule.substr(0, 22).c_str(), r.backend.c_str(),
                  r.num_devices, r.num_stages, r.num_microbatches, steps.c_str(), fmt("%.4f", r.final_loss).c_str(),
                  fmt("%.3f", r.predicted_iteration_ms).c_str(), fmt("%.3f", r.measured_iteration_ms).c_str(),
                  percent(exec::relative_error(r.predicted_iteration_ms, r.measured_iteration_ms)).c_str());
    std::cout << terminal_safe_text(line);
  }
  std::cout << runs.size() << " run(s) in " << terminal_safe(db) << "\n";
  return 0;
}

struct ShowArgs {
  std::string run;
  std::string db;
  bool json = false;
};

nlohmann::json comparison_json(const exec::RunComparison& c) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : c.devices)
    devices.push_back({{"device", d.device},
                       {"stages", d.stages},
                       {"predicted_busy_ms", d.predicted_busy_ms},
                       {"measured_busy_ms", d.measured_busy_ms},
                       {"busy_error", number_or_null(d.busy_error)},
                       {"measured_busy_cpu_ms", number_or_null(d.measured_busy_cpu_ms)},
                       {"busy_cpu_error", number_or_null(d.busy_cpu_error)},
                       {"predicted_end_ms", d.predicted_end_ms},
                       {"measured_end_ms", d.measured_end_ms},
                       {"end_error", number_or_null(d.end_error)},
                       {"measured_wait_ms", d.measured_wait_ms},
                       {"measured_comm_ms", d.measured_comm_ms},
                       {"predicted_peak_activation_bytes", d.predicted_peak_activation_bytes},
                       {"measured_peak_activation_bytes", d.measured_peak_activation_bytes}});
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& o : c.ops)
    ops.push_back({{"stage", o.stage},
                   {"op", op_name(o.op)},
                   {"predicted_ms", number_or_null(o.predicted_ms)},
                   {"measured_ms", o.measured_ms},
                   {"samples", o.samples},
                   {"error", number_or_null(o.error)},
                   {"measured_cpu_ms", number_or_null(o.measured_cpu_ms)},
                   {"cpu_error", number_or_null(o.cpu_error)}});
  nlohmann::json mbs = nlohmann::json::array();
  for (const auto& m : c.microbatches)
    mbs.push_back({{"microbatch", m.mb},
                   {"predicted_ms", number_or_null(m.predicted_ms)},
                   {"measured_ms", m.measured_ms},
                   {"error", number_or_null(m.error)}});
  return {{"steps_used", c.steps_used},
          {"predicted_iteration_ms", number_or_null(c.predicted_iteration_ms)},
          {"measured_iteration_ms", number_or_null(c.measured_iteration_ms)},
          {"iteration_error", number_or_null(c.iteration_error)},
          {"cpu_share", number_or_null(c.cpu_share)},
          {"predicted_at_share_ms", number_or_null(c.predicted_at_share_ms)},
          {"share_adjusted_error", number_or_null(c.share_adjusted_error)},
          {"devices", devices},
          {"ops", ops},
          {"microbatches", mbs}};
}

int show_command(const ShowArgs& a) {
  exec::parse_run_id(a.run);  // a mistyped RUN is reported before the database is looked for
  const std::string db = db_path(a.db);
  exec::RunStore store(db, exec::StoreAccess::ReadOnly);
  const int64_t id = exec::parse_run_ref(a.run, store);
  const exec::RunRecord rec = store.load_run(id);
  const exec::RunSummary& r = rec.summary;
  const bool has_steps = !rec.steps.empty();
  exec::RunComparison cmp;
  if (has_steps) cmp = exec::compare_run(rec);

  if (a.json) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : rec.steps)
      steps.push_back({{"step", s.step},
                       {"loss", s.loss},
                       {"microbatch_losses", s.microbatch_losses},
                       {"grad_checksum", s.grad_checksum},
                       {"iteration_ms", s.iteration_ms()}});
    nlohmann::json j = summary_json(r);
    j["db"] = db;
    j["machine"] = rec.machine;
    j["plan"] = rec.plan;
    j["model_config"] = rec.model;
    j["cost_source"] = rec.costs.value("source", "");
    j["step_records"] = steps;
    j["comparison"] = has_steps ? comparison_json(cmp) : nlohmann::json(nullptr);
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "run " << r.id << ": " << terminal_safe(r.status) << ", " << terminal_safe(r.model_name) << " with "
              << terminal_safe(r.schedule) << " on " << r.num_devices << " " << terminal_safe(r.backend) << " devices (" << r.num_stages << " stages, " << r.num_microbatches
              << " micro-batches), " << r.steps_done << "/" << r.steps << " steps\n";
    std::cout << "  started " << local_time(r.started_utc_ns) << ", finished " << local_time(r.finished_utc_ns)
              << " on " << terminal_safe(r.host) << " (pid " << r.pid << ")\n";
    if (rec.machine.contains("cpu"))
      std::cout << "  machine " << terminal_safe(rec.machine.value("cpu", "?")) << ", " << rec.machine.value("logical_cores", 0)
                << " logical cores\n";
    std::cout << "  command " << terminal_safe(r.command) << "\n";
    std::cout << "  costs " << terminal_safe(rec.costs.value("source", "?")) << "\n";
    if (!r.error.empty()) std::cout << "  error: " << terminal_safe_text(r.error) << "\n";
    if (has_steps) {
      std::cout << "\nstep  loss         grad checksum     iteration ms\n";
      for (const auto& s : rec.steps)
        std::cout << fmt("%4.0f", s.step) << "  " << fmt("%-11.6f", s.loss) << "  " << terminal_safe(s.grad_checksum) << "  "
                  << fmt("%12.3f", s.iteration_ms()) << "\n";
      std::cout << "\niteration: predicted " << fmt("%.3f", cmp.predicted_iteration_ms) << " ms, measured "
                << fmt("%.3f", cmp.measured_iteration_ms) << " ms (" << cmp.steps_used << " step(s)), error "
                << percent(cmp.iteration_error) << "\n";
      if (std::isfinite(cmp.cpu_share))
        std::cout << "computing threads got " << fmt("%.0f%%", cmp.cpu_share * 100)
                  << " of a core (CPU time / wall time of compute; the prediction assumes 100%); at that share the "
                     "model predicts "
                  << fmt("%.3f", cmp.predicted_at_share_ms) << " ms, error " << percent(cmp.share_adjusted_error)
                  << "\n";
      std::cout << "\n";
      char line[512];
      std::snprintf(line, sizeof line, "%6s  %-8s  %10s %10s %8s %10s %8s  %10s %10s %8s  %9s %9s  %11s %11s\n",
                    "device", "stages", "busy pred", "busy meas", "error", "busy cpu", "error", "end pred", "end meas",
                    "error", "wait ms", "comm ms", "peak act p", "peak act m");
      std::cout << line;
      for (const auto& d : cmp.devices) {
        std::snprintf(line, sizeof line, "%6d  %-8s  %10s %10s %8s %10s %8s  %10s %10s %8s  %9s %9s  %11s %11s\n",
                      d.device, d.stages.c_str(), fmt("%.3f", d.predicted_busy_ms).c_str(),
                      fmt("%.3f", d.measured_busy_ms).c_str(), percent(d.busy_error).c_str(),
                      fmt("%.3f", d.measured_busy_cpu_ms).c_str(), percent(d.busy_cpu_error).c_str(),
                      fmt("%.3f", d.predicted_end_ms).c_str(),
                      fmt("%.3f", d.measured_end_ms).c_str(), percent(d.end_error).c_str(),
                      fmt("%.3f", d.measured_wait_ms).c_str(), fmt("%.3f", d.measured_comm_ms).c_str(),
                      format_bytes(d.predicted_peak_activation_bytes).c_str(),
                      format_bytes(d.measured_peak_activation_bytes).c_str());
        std::cout << terminal_safe_text(line);
      }
      std::cout << "\n(per iteration; busy = compute wall time, busy cpu = CPU time its thread got while computing, "
                   "end = when the device finished its list, wait = blocked in WAIT)\n\n";
      std::snprintf(line, sizeof line, "%5s  %-3s  %12s %12s %8s %10s %8s  %7s\n", "stage", "op", "predicted ms",
                    "measured ms", "error", "cpu ms", "error", "samples");
      std::cout << line;
      for (const auto& o : cmp.ops) {
        std::snprintf(line, sizeof line, "%5d  %-3s  %12s %12s %8s %10s %8s  %7d\n", o.stage, op_name(o.op),
                      fmt("%.4f", o.predicted_ms).c_str(), fmt("%.4f", o.measured_ms).c_str(), percent(o.error).c_str(),
                      fmt("%.4f", o.measured_cpu_ms).c_str(), percent(o.cpu_error).c_str(), o.samples);
        std::cout << terminal_safe_text(line);
      }
      // Variable-length runs: each unit's compute over every stage (units differ in tokens and pairs).
      const nlohmann::json* units = rec.plan.is_object() && rec.plan.contains("units") ? &rec.plan["units"] : nullptr;
      if (units && units->is_array() && !units->empty()) {
        std::cout << "\n" << units->size() << " variable-length units, compute summed over stages per iteration:\n";
        std::snprintf(line, sizeof line, "%5s  %12s %12s %8s\n", "unit", "predicted ms", "measured ms", "error");
        std::cout << line;
        for (const auto& m : cmp.microbatches) {
          std::snprintf(line, sizeof line, "%5d  %12s %12s %8s\n", m.mb, fmt("%.4f", m.predicted_ms).c_str(),
                        fmt("%.4f", m.measured_ms).c_str(), percent(m.error).c_str());
          std::cout << line;
        }
      }
    } else {
      std::cout << "\nno iteration was recorded\n";
    }
  }
  // A run that did not complete is reported, but scripts must not mistake it for a good one.
  if (r.status != "complete") {
    std::cerr << "error: run " << r.id << " is " << terminal_safe(r.status)
              << (r.error.empty() ? "" : ": " + terminal_safe_text(r.error)) << "\n";
    return r.status == "running" ? 4 : 3;
  }
  return 0;
}

}  // namespace

void register_runs(CLI::App& app, Runner& run) {
  auto runs = std::make_shared<RunsArgs>();
  CLI::App* list = app.add_subcommand("runs", "List recorded runs (newest first)");
  list->add_option("--db", runs->db, "Run database (default $XDG_DATA_HOME/adaptis/runs.db or ~/.local/share/adaptis/runs.db)");
  list->add_flag("--json", runs->json, "Machine-readable output");
  list->add_option("--limit", runs->limit, "Show only the newest N runs (0 = all)")->check(int_range(0, 1000000000));
  list->callback([runs, &run] { run = [runs] { return runs_command(*runs); }; });

  auto show = std::make_shared<ShowArgs>();
  CLI::App* one = app.add_subcommand(
      "show", "One recorded run: predicted vs measured per device and per operation, with the error "
              "(exit 3 when the run failed or is incomplete, 4 while it is still running)");
  one->add_option("run", show->run, "Run id (see `adaptis runs`) or 'latest'")->required();
  one->add_option("--db", show->db, "Run database (default $XDG_DATA_HOME/adaptis/runs.db or ~/.local/share/adaptis/runs.db)");
  one->add_flag("--json", show->json, "Machine-readable output");
  one->callback([show, &run] { run = [show] { return show_command(*show); }; });
}

}  // namespace adaptis::cli
