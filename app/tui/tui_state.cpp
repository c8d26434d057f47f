#include "tui/tui_state.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "tui/gantt_cells.h"
#include "tui/keys.h"

namespace adaptis::tui {

const char* view_name(View v) {
  switch (v) {
    case View::Layers: return "Layers";
    case View::Plan: return "Plan";
    case View::Gantt: return "Gantt";
    case View::Devices: return "Devices";
    case View::Compare: return "Compare";
    case View::Runs: return "Runs";
  }
  return "?";
}

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Simulates an already built plan into `e`.
void simulate_into(Evaluation& e, const cli::Inputs& in) {
  e.stages = stage_costs(in.costs, e.plan.partition);
  e.sim = simulate(e.plan, in.costs, in.cluster, in.sim);
  e.built = true;
  if (!e.sim.ok) e.error = e.sim.error;
}

int view_index(View v) { return static_cast<int>(v); }

// The number of rows a list view can select from.
int list_size(const TuiState& s, View v) {
  switch (v) {
    case View::Layers: return s.inputs->costs.num_layers();
    case View::Compare: return s.compare ? static_cast<int>(s.compare->size()) : 0;
    case View::Runs: return static_cast<int>(s.runs.rows.size());
    case View::Plan: return s.eval && s.eval->built ? s.eval->plan.num_stages() : 0;
    case View::Gantt:
    case View::Devices: return s.eval && s.eval->built ? s.eval->plan.num_devices() : 0;
  }
  return 0;
}

std::string compare_key(const TuiState& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s p%d m%d v%d g%d", s.inputs->cluster.name.c_str(), s.request.devices,
                s.request.microbatches, s.request.stages_per_device, s.request.group_size);
  return buf;
}

// Recomputes the schedule comparison when the compare view shows stale rows.
void refresh_compare(TuiState& s) {
  if (s.view != View::Compare) return;
  std::string key = compare_key(s) + (s.optimized ? " +opt" : "");
  if (s.compare && s.compare_for == key) return;
  auto rows = cli::compare_schedules(s.request, *s.inputs);
  if (s.optimized && s.optimized->built && s.optimized->plan.num_devices() == s.request.devices &&
      s.optimized->plan.num_microbatches == s.request.microbatches) {
    cli::CompareRow row;
    row.name = "optimized";
    row.ok = s.optimized->sim.ok;
    row.error = s.optimized->error;
    row.plan = s.optimized->plan;
    row.sim = s.optimized->sim;
    cli::add_compare_row(rows, std::move(row));
  }
  s.compare = std::make_shared<const std::vector<cli::CompareRow>>(std::move(rows));
  s.compare_for = key;
  s.cursor[view_index(View::Compare)] =
      std::clamp(s.cursor[view_index(View::Compare)], 0, std::max(0, static_cast<int>(s.compare->size()) - 1));
}

void clamp_boundary(TuiState& s) {
  int stages = s.eval && s.eval->built ? s.eval->plan.num_stages() : 1;
  s.boundary = stages < 2 ? 1 : std::clamp(s.boundary, 1, stages - 1);
}

std::string summary(const Evaluation& e) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s: %.3f ms/iteration, bubble %.1f%%%s (re-simulated in %.1f ms)",
                e.plan.name.c_str(), e.sim.iteration_ms, 100 * e.sim.bubble_ratio, e.sim.oom ? ", OOM" : "",
                e.eval_ms);
  return buf;
}

// Shows `e` and reports it: `what` names the edit.
void show(TuiState& s, std::shared_ptr<const Evaluation> e, const std::string& what) {
  s.eval = std::move(e);
  clamp_boundary(s);
  if (s.eval->ok()) {
    s.message = what + " -> " + summary(*s.eval);
    s.message_is_error = false;
  } else {
    s.message = what + ": " + first_line(s.eval->error);
    s.message_is_error = true;
  }
  int layers = s.inputs->costs.num_layers();
  int& lc = s.cursor[view_index(View::Layers)];
  lc = std::clamp(lc, 0, std::max(0, layers - 1));
  refresh_compare(s);
}

// Re-evaluates the request. A custom partition that no longer fits the stage count (after changing
// schedule, devices or chunks) falls back to the even one rather than refusing the edit.
void rebuild(TuiState& s, const std::string& what) {
  auto e = evaluate_request(s.request, *s.inputs);
  if (!e->built && !s.request.partition.empty()) {
    PlanRequest even = s.request;
    even.partition.clear();
    auto e2 = evaluate_request(even, *s.inputs);
    if (e2->built) {
      s.request = even;
      show(s, e2, what + " (partition reset to even: " + format_partition(e2->plan.partition) + ")");
      return;
    }
  }
  show(s, e, what);
}

void set_error(TuiState& s, std::string msg) {
  s.message = std::move(msg);
  s.message_is_error = true;
}

// Moves the selected boundary one layer: dir < 0 moves it left (the later stage grows).
void move_boundary(TuiState& s, int dir) {
  if (!s.eval || !s.eval->built) return set_error(s, "no valid plan to edit: change schedule, devices or micro-batches");
  const Plan& plan = s.eval->plan;
  if (plan.num_stages() < 2) return set_error(s, "one stage only: no partition boundary to move");
  std::vector<int> sizes = plan.partition.sizes();
  int b = s.boundary;
  int from = dir < 0 ? b - 1 : b, to = dir < 0 ? b : b - 1;
  if (sizes[static_cast<size_t>(from)] <= 1)
    return set_error(s, "stage " + std::to_string(from) + " has one layer left: cannot move boundary " +
                            std::to_string(b) + " further");
  --sizes[static_cast<size_t>(from)];
  ++sizes[static_cast<size_t>(to)];
  std::string what = "boundary " + std::to_string(b) + (dir < 0 ? " left" : " right") + ", partition " +
                     format_partition(Partition::from_sizes(sizes));
  if (s.eval->from_optimizer) {
    // Orders name stages, not layers: the optimizer's schedule stays valid for any partition.
    Plan p = plan;
    p.partition = Partition::from_sizes(sizes);
    show(s, evaluate_plan(p, *s.inputs), what);
    s.optimized = s.eval;
    return;
  }
  s.request.partition = sizes;
  rebuild(s, what);
}

void cycle_schedule(TuiState& s, int dir) {
  const auto& all = all_schedules();
  int n = static_cast<int>(all.size()), cur = 0;
  for (int i = 0; i < n; ++i)
    if (s.request.schedule == all[static_cast<size_t>(i)].name) cur = i;
  cur = ((cur + dir) % n + n) % n;
  s.request.schedule = all[static_cast<size_t>(cur)].name;
  s.request.placement.clear();
  rebuild(s, std::string("schedule ") + all[static_cast<size_t>(cur)].name);
}

void change_devices(TuiState& s, int delta) {
  if (s.config.cluster_from_file)
    return set_error(s, "the device count is fixed by --cluster " + s.inputs->cluster.name +
                            "; start without --cluster to vary it");
  int n = std::clamp(s.request.devices + delta, 1, std::max(1, s.inputs->costs.num_layers()));
  if (n == s.request.devices) return set_error(s, "devices: " + std::to_string(n) + " is the limit for this model");
  auto in = std::make_shared<cli::Inputs>(*s.inputs);
  in->cluster = make_uniform_cluster(n);
  s.inputs = in;
  s.request.devices = n;
  s.request.placement.clear();
  rebuild(s, std::to_string(n) + " devices");
}

void change_microbatches(TuiState& s, int delta) {
  int m = std::clamp(s.request.microbatches + delta, 1, 4096);
  if (m == s.request.microbatches) return set_error(s, "micro-batches: at least 1");
  s.request.microbatches = m;
  rebuild(s, std::to_string(m) + " micro-batches");
}

void change_chunks(TuiState& s, int delta) {
  int v = std::clamp(resolved_stages_per_device(s) + delta, 1, 16);
  s.request.stages_per_device = v;
  s.request.placement.clear();
  rebuild(s, std::to_string(v) + " chunk(s) per device");
}

void even_partition_key(TuiState& s) {
  if (s.eval && s.eval->built && s.eval->from_optimizer) {
    Plan p = s.eval->plan;
    p.partition = even_partition(s.inputs->costs.num_layers(), p.num_stages());
    show(s, evaluate_plan(p, *s.inputs), "even partition " + format_partition(p.partition));
    s.optimized = s.eval;
    return;
  }
  s.request.partition.clear();
  rebuild(s, "even partition");
}

void move_cursor(TuiState& s, int delta) {
  int v = view_index(s.view);
  int n = list_size(s, s.view);
  s.cursor[v] = std::clamp(s.cursor[v] + delta, 0, std::max(0, n - 1));
}

int page_rows(const TuiState& s) { return std::max(1, s.viewport_height - 6); }

void gantt_zoom(TuiState& s, double factor) {
  if (!s.eval || !s.eval->ok()) return;
  double total = s.eval->sim.iteration_ms;
  TimeWindow w = gantt_window(total, s.gantt_zoom, s.gantt_left_ms);
  double centre = (w.t0 + w.t1) / 2;
  s.gantt_zoom = std::clamp(s.gantt_zoom * factor, 1.0, 4096.0);
  double span = total / s.gantt_zoom;
  s.gantt_left_ms = gantt_window(total, s.gantt_zoom, centre - span / 2).t0;
}

void gantt_pan(TuiState& s, double fraction_of_window) {
  if (!s.eval || !s.eval->ok()) return;
  double total = s.eval->sim.iteration_ms;
  double span = total / s.gantt_zoom;
  s.gantt_left_ms = gantt_window(total, s.gantt_zoom, s.gantt_left_ms + fraction_of_window * span).t0;
}

bool handle_view_key(TuiState& s, int k) {
  bool list_view = s.view == View::Layers || s.view == View::Compare || s.view == View::Runs;
  switch (k) {
    case key::Up:
    case 'k': move_cursor(s, -1); return true;
    case key::Down:
    case 'j': move_cursor(s, +1); return true;
    case key::PageUp: move_cursor(s, -page_rows(s)); return true;
    case key::PageDown: move_cursor(s, +page_rows(s)); return true;
    default: break;
  }
  if (s.view == View::Gantt) {
    switch (k) {
      case '+':
      case '=': gantt_zoom(s, 2); return true;
      case '-':
      case '_': gantt_zoom(s, 0.5); return true;
      case key::Left:
      case 'h': gantt_pan(s, -0.25); return true;
      case key::Right:
      case 'l': gantt_pan(s, +0.25); return true;
      case key::Home:
      case '0':
        s.gantt_zoom = 1;
        s.gantt_left_ms = 0;
        return true;
      case key::End: gantt_pan(s, 1e9); return true;
      default: return false;
    }
  }
  if (list_view || s.view == View::Plan || s.view == View::Devices) {
    if (k == key::Home) {
      s.cursor[view_index(s.view)] = 0;
      return true;
    }
    if (k == key::End) {
      s.cursor[view_index(s.view)] = std::max(0, list_size(s, s.view) - 1);
      return true;
    }
  }
  if (s.view == View::Compare && k == key::Enter && s.compare && !s.compare->empty()) {
    const cli::CompareRow& row = (*s.compare)[static_cast<size_t>(s.cursor[view_index(View::Compare)])];
    if (row.name == "optimized" && s.optimized) {
      show(s, s.optimized, "optimized plan");
    } else {
      s.request.schedule = row.name;
      s.request.partition.clear();
      s.request.placement.clear();
      rebuild(s, "schedule " + row.name);
    }
    return true;
  }
  return false;
}

}  // namespace

std::shared_ptr<const Evaluation> evaluate_request(const PlanRequest& request, const cli::Inputs& inputs) {
  auto e = std::make_shared<Evaluation>();
  e->request = request;
  auto t0 = std::chrono::steady_clock::now();
  try {
    e->plan = build_plan(request, inputs.costs.num_layers());
    simulate_into(*e, inputs);
  } catch (const InputError& err) {
    e->built = false;
    e->error = err.what();
  }
  e->eval_ms = ms_since(t0);
  return e;
}

std::shared_ptr<const Evaluation> evaluate_plan(const Plan& plan, const cli::Inputs& inputs) {
  auto e = std::make_shared<Evaluation>();
  e->from_optimizer = true;
  e->plan = plan;
  e->request.schedule = plan.name;
  e->request.devices = plan.num_devices();
  e->request.microbatches = plan.num_microbatches;
  auto t0 = std::chrono::steady_clock::now();
  try {
    require_valid_plan(plan, inputs.costs.num_layers(), "optimizer plan");
    simulate_into(*e, inputs);
  } catch (const InputError& err) {
    e->built = false;
    e->error = err.what();
  }
  e->eval_ms = ms_since(t0);
  return e;
}

int resolved_stages_per_device(const TuiState& s) {
  if (s.request.stages_per_device > 0) return s.request.stages_per_device;
  if (s.eval && s.eval->built && !s.eval->from_optimizer && s.eval->plan.num_devices() > 0)
    return std::max(1, s.eval->plan.num_stages() / s.eval->plan.num_devices());
  try {
    ScheduleOptions o;
    o.devices = s.request.devices;
    o.microbatches = s.request.microbatches;
    return schedule_stages_per_device(parse_schedule_kind(s.request.schedule), o);
  } catch (const InputError&) {
    return 1;
  }
}

TuiState make_state(cli::Inputs inputs, PlanRequest request, TuiConfig config) {
  TuiState s;
  request.devices = inputs.cluster.num_devices();
  s.inputs = std::make_shared<const cli::Inputs>(std::move(inputs));
  s.config = std::move(config);
  s.request = std::move(request);
  s.runs.db_path = s.config.db_path;
  show(s, evaluate_request(s.request, *s.inputs), "loaded " + s.inputs->costs.model);
  return s;
}

TuiState apply_key(TuiState s, int k) {
  s.effect = Effect::None;
  if (s.show_help) {
    s.show_help = false;
    if (k != 'q' && k != 'Q') return s;  // any key closes the help; q still quits
  }
  switch (k) {
    case 'q':
    case 'Q': s.effect = Effect::Quit; return s;
    case '?': s.show_help = true; return s;
    case key::Tab:
      s.view = static_cast<View>((view_index(s.view) + 1) % kNumViews);
      break;
    case key::BackTab:
      s.view = static_cast<View>((view_index(s.view) + kNumViews - 1) % kNumViews);
      break;
    case 's': cycle_schedule(s, +1); return s;
    case 'S': cycle_schedule(s, -1); return s;
    case 'm': change_microbatches(s, +1); return s;
    case 'M': change_microbatches(s, -1); return s;
    case 'd': change_devices(s, +1); return s;
    case 'D': change_devices(s, -1); return s;
    case 'v': change_chunks(s, +1); return s;
    case 'V': change_chunks(s, -1); return s;
    case '[':
    case ']': {
      int stages = s.eval && s.eval->built ? s.eval->plan.num_stages() : 1;
      if (stages < 2) {
        set_error(s, "one stage only: no partition boundary to select");
        return s;
      }
      s.boundary += k == '[' ? -1 : +1;
      if (s.boundary < 1) s.boundary = stages - 1;
      if (s.boundary > stages - 1) s.boundary = 1;
      s.message = "boundary " + std::to_string(s.boundary) + " selected (between stage " +
                  std::to_string(s.boundary - 1) + " and " + std::to_string(s.boundary) + "); < > move it";
      s.message_is_error = false;
      return s;
    }
    case '<':
    case ',': move_boundary(s, -1); return s;
    case '>':
    case '.': move_boundary(s, +1); return s;
    case 'e': even_partition_key(s); return s;
    case 'o':
      if (!s.config.optimizer_available) {
        set_error(s, "the optimizer is not built into this binary");
      } else if (s.optimizer.state == JobState::Running) {
        set_error(s, "the optimizer is already running (x cancels it)");
      } else {
        s.optimizer = OptimizerView{};
        s.optimizer.state = JobState::Running;
        s.optimizer.phase = "starting";
        s.effect = Effect::StartOptimizer;
      }
      return s;
    case 'x':
    case key::Escape:
      if (s.optimizer.state == JobState::Running) {
        s.effect = Effect::CancelOptimizer;
        s.message = "cancelling the optimizer...";
        s.message_is_error = false;
      }
      return s;
    case 'r':
      s.view = View::Runs;
      if (!s.config.runs_available) set_error(s, "cannot launch a run: " + (s.runs.note.empty() ? std::string("the executor is not built") : s.runs.note));
      else if (!s.eval || !s.eval->ok()) set_error(s, "no valid plan to run");
      else if (s.runs.child_running) set_error(s, "a run is already in progress (pid " + std::to_string(s.runs.child_pid) + ")");
      else s.effect = Effect::LaunchRun;
      return s;
    case 'g': s.effect = Effect::RefreshRuns; return s;
    case 'w':
      if (!s.eval || !s.eval->built) set_error(s, "no valid plan to save");
      else s.effect = Effect::SavePlan;
      return s;
    default:
      if (k >= '1' && k < '1' + kNumViews) {
        s.view = static_cast<View>(k - '1');
        break;
      }
      if (!handle_view_key(s, k)) {
        s.message = "key " + key::name(k) + " does nothing in the " + std::string(view_name(s.view)) +
                    " view (? for help)";
        s.message_is_error = false;
      }
      return s;
  }
  // View changed.
  refresh_compare(s);
  if (s.view == View::Runs) s.effect = Effect::RefreshRuns;
  return s;
}

TuiState apply_keys(TuiState s, const std::vector<int>& keys) {
  for (int k : keys) {
    s = apply_key(std::move(s), k);
    if (s.effect == Effect::Quit) break;
  }
  return s;
}

TuiState set_viewport(TuiState s, int width, int height) {
  s.viewport_width = width;
  s.viewport_height = height;
  return s;
}

TuiState on_optimizer_progress(TuiState s, const OptimizerView& progress) {
  s.optimizer = progress;
  s.optimizer.state = JobState::Running;
  return s;
}

TuiState on_optimizer_finished(TuiState s, std::optional<Plan> best, JobState how, const std::string& error) {
  s.optimizer.state = how;
  s.optimizer.error = error;
  if (how == JobState::Failed) {
    set_error(s, "optimizer failed: " + first_line(error));
    return s;
  }
  if (!best) {
    s.message = how == JobState::Cancelled ? "optimizer cancelled before it found a plan" : "optimizer found no plan";
    s.message_is_error = how != JobState::Cancelled;
    return s;
  }
  double before = s.eval && s.eval->ok() ? s.eval->sim.iteration_ms : 0;
  best->name = best->name.empty() ? "optimized" : best->name;
  auto e = evaluate_plan(*best, *s.inputs);
  s.optimized = e;
  std::string what = how == JobState::Cancelled ? "optimizer cancelled, best so far" : "optimizer done";
  if (before > 0 && e->ok()) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " (%.2fx vs the previous plan)", before / e->sim.iteration_ms);
    what += buf;
  }
  show(s, e, what);
  return s;
}

TuiState on_runs(TuiState s, RunsView runs) {
  s.runs = std::move(runs);
  int& c = s.cursor[view_index(View::Runs)];
  c = std::clamp(c, 0, std::max(0, static_cast<int>(s.runs.rows.size()) - 1));
  return s;
}

TuiState with_message(TuiState s, std::string message, bool is_error) {
  s.message = std::move(message);
  s.message_is_error = is_error;
  return s;
}

}  // namespace adaptis::tui
