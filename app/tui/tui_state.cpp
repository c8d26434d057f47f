#include "tui/tui_state.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "tui/gantt_cells.h"
#include "tui/keys.h"
#include "tui/render.h"

namespace adaptis::tui {

std::string edited_label(const std::string& schedule) { return schedule + " (edited)"; }

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

bool has_plan(const TuiState& s) { return s.eval && s.eval->built; }

// The largest cursor value of a view: the last row of a list, or the last useful first row of a
// scrolled device view at the current terminal size.
int cursor_max(const TuiState& s, View v) {
  switch (v) {
    case View::Layers: return s.inputs->costs.num_layers() - 1;
    case View::Compare: return s.compare ? static_cast<int>(s.compare->size()) - 1 : 0;
    case View::Runs: return static_cast<int>(s.store.rows.size()) - 1;
    case View::Plan: return 0;  // the plan view scrolls to the selected boundary
    case View::Gantt:
    case View::Devices: return max_first_device(s, v, s.viewport_width, s.viewport_height);
  }
  return 0;
}

void clamp_cursors(TuiState& s) {
  for (int v = 0; v < kNumViews; ++v) s.cursor[v] = std::clamp(s.cursor[v], 0, std::max(0, cursor_max(s, View(v))));
}

std::string compare_key(const TuiState& s) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s p%d m%d v%d g%d %p %p", s.inputs->cluster.name.c_str(), s.request.devices,
                s.request.microbatches, s.request.stages_per_device, s.request.group_size,
                static_cast<const void*>(s.custom.get()), static_cast<const void*>(s.eval.get()));
  return buf;
}

// The extra compare row for a plan that is not a built-in schedule as it comes.
void add_row(std::vector<cli::CompareRow>& rows, const Evaluation& e, std::string name) {
  cli::CompareRow row;
  row.name = std::move(name);
  row.ok = e.ok();
  row.error = e.error;
  row.plan = e.plan;
  row.sim = e.sim;
  cli::add_compare_row(rows, std::move(row));
}

// Recomputes the schedule comparison when the compare view shows stale rows. Only while the view
// is on screen: comparing runs every built-in schedule, which is not free on large models.
void refresh_compare(TuiState& s) {
  if (s.view != View::Compare) return;
  std::string key = compare_key(s);
  if (s.compare && s.compare_for == key) return;
  PlanRequest base = s.request;
  base.partition.clear();
  base.placement.clear();
  auto rows = cli::compare_schedules(base, *s.inputs);
  // The built-in schedule with the user's partition or placement, when edited.
  if (s.eval && !s.eval->custom && (!s.request.partition.empty() || !s.request.placement.empty()))
    add_row(rows, *s.eval, edited_label(s.request.schedule));
  // The custom plan joins the table when it is for the same devices and micro-batches.
  if (s.custom && s.custom->built && s.custom->plan.num_devices() == s.request.devices &&
      s.custom->plan.num_microbatches == s.request.microbatches)
    add_row(rows, *s.custom, s.custom->label);
  s.compare = std::make_shared<const std::vector<cli::CompareRow>>(std::move(rows));
  s.compare_for = key;
  clamp_cursors(s);
}

void clamp_boundary(TuiState& s) {
  int stages = has_plan(s) ? s.eval->plan.num_stages() : 1;
  s.boundary = stages < 2 ? 1 : std::clamp(s.boundary, 1, stages - 1);
}

std::string summary(const Evaluation& e) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%.2f ms, bubble %.1f%%%s (simulated in %.1f ms)", e.sim.iteration_ms,
                100 * e.sim.bubble_ratio, e.sim.oom ? ", OOM" : "", e.eval_ms);
  return buf;
}

void set_message(TuiState& s, std::string msg, bool is_error) {
  s.message = std::move(msg);
  s.message_is_error = is_error;
}

void set_error(TuiState& s, std::string msg) { set_message(s, std::move(msg), true); }

// Shows `e` and reports it: `what` names the edit.
void show(TuiState& s, std::shared_ptr<const Evaluation> e, const std::string& what) {
  s.eval = std::move(e);
  if (s.eval->custom) s.custom = s.eval;
  clamp_boundary(s);
  if (s.eval->ok()) set_message(s, what + ": " + summary(*s.eval), false);
  else set_error(s, what + ": " + first_line(s.eval->error));
  refresh_compare(s);
  clamp_cursors(s);
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
      show(s, e2, what + " (partition reset to even)");
      return;
    }
  }
  show(s, e, what);
}

// Moves the selected boundary one layer: dir < 0 moves it left (the later stage grows).
void move_boundary(TuiState& s, int dir) {
  if (!has_plan(s)) return set_error(s, "no valid plan to edit: change schedule, devices or micro-batches");
  const Plan& plan = s.eval->plan;
  if (plan.num_stages() < 2) return set_error(s, "one stage only: no partition boundary to move");
  std::vector<int> sizes = plan.partition.sizes();
  const int b = s.boundary;
  const int from = dir < 0 ? b - 1 : b, to = dir < 0 ? b : b - 1;
  if (sizes[static_cast<size_t>(from)] <= 1)
    return set_error(s, "stage " + std::to_string(from) + " has one layer left: boundary " + std::to_string(b) +
                            " cannot move further " + (dir < 0 ? "left" : "right"));
  --sizes[static_cast<size_t>(from)];
  ++sizes[static_cast<size_t>(to)];
  const std::string what = "partition " + format_partition(Partition::from_sizes(sizes));
  if (s.eval->custom) {
    // Orders name stages, not layers: a custom plan's orders stay valid for any partition.
    Plan p = plan;
    p.partition = Partition::from_sizes(sizes);
    show(s, evaluate_plan(p, *s.inputs, s.eval->label), what);
    return;
  }
  s.request.partition = sizes;
  rebuild(s, what);
}

void select_boundary(TuiState& s, int delta, bool wrap) {
  const int stages = has_plan(s) ? s.eval->plan.num_stages() : 1;
  if (stages < 2) return set_error(s, "one stage only: no partition boundary to select");
  int b = s.boundary + delta;
  if (wrap) b = b < 1 ? stages - 1 : (b > stages - 1 ? 1 : b);
  s.boundary = std::clamp(b, 1, stages - 1);
  const int layer = s.eval->plan.partition.bounds[static_cast<size_t>(s.boundary)];
  set_message(s,
              "boundary " + std::to_string(s.boundary) + " selected: stage " + std::to_string(s.boundary - 1) +
                  " | stage " + std::to_string(s.boundary) + " before layer " + std::to_string(layer) +
                  "; < > move it",
              false);
}

void cycle_schedule(TuiState& s, int dir) {
  const auto& all = all_schedules();
  const int n = static_cast<int>(all.size());
  int cur = -1;
  for (int i = 0; i < n; ++i)
    if (s.request.schedule == all[static_cast<size_t>(i)].name) cur = i;
  // Leaving a custom plan: the first key press shows the request's own schedule again.
  if (s.eval && s.eval->custom && cur >= 0) {
    rebuild(s, std::string("schedule ") + s.request.schedule);
    return;
  }
  cur = cur < 0 ? 0 : ((cur + dir) % n + n) % n;
  s.request.schedule = all[static_cast<size_t>(cur)].name;
  // Chunks and placement are the new schedule's own (1F1B allows one chunk, ZB-V exactly two...).
  s.request.stages_per_device = 0;
  s.request.placement.clear();
  rebuild(s, std::string("schedule ") + all[static_cast<size_t>(cur)].name);
}

void change_devices(TuiState& s, int delta) {
  if (s.config.cluster_from_file)
    return set_error(s, "the device count is fixed by --cluster " + s.inputs->cluster.name +
                            "; start without --cluster to vary it");
  const int limit = std::max(1, s.inputs->costs.num_layers());
  const int n = std::clamp(s.request.devices + delta, 1, limit);
  if (n == s.request.devices)
    return set_error(s, delta < 0 ? "devices: at least 1" : "devices: " + std::to_string(n) +
                                                               " is the limit for a model of " +
                                                               std::to_string(limit) + " layers");
  auto in = std::make_shared<cli::Inputs>(*s.inputs);
  // Same device kind as before: the cluster grows or shrinks uniformly.
  in->cluster = make_uniform_cluster(n);
  s.inputs = in;
  s.request.devices = n;
  s.request.placement.clear();
  rebuild(s, std::to_string(n) + " devices");
}

void change_microbatches(TuiState& s, int delta) {
  const int m = std::clamp(s.request.microbatches + delta, 1, 4096);
  if (m == s.request.microbatches) return set_error(s, "micro-batches: at least 1");
  s.request.microbatches = m;
  rebuild(s, std::to_string(m) + " micro-batches");
}

void change_chunks(TuiState& s, int delta) {
  const int v = std::clamp(resolved_stages_per_device(s) + delta, 1, 16);
  s.request.stages_per_device = v;
  s.request.placement.clear();
  rebuild(s, std::to_string(v) + " chunk(s) per device");
}

void even_partition_key(TuiState& s) {
  if (has_plan(s) && s.eval->custom) {
    Plan p = s.eval->plan;
    p.partition = even_partition(s.inputs->costs.num_layers(), p.num_stages());
    show(s, evaluate_plan(p, *s.inputs, s.eval->label), "even partition " + format_partition(p.partition));
    return;
  }
  s.request.partition.clear();
  rebuild(s, "even partition");
}

void move_cursor(TuiState& s, int delta) {
  const int v = view_index(s.view);
  s.cursor[v] = std::clamp(s.cursor[v] + delta, 0, std::max(0, cursor_max(s, s.view)));
}

int page_rows(const TuiState& s) { return std::max(1, s.viewport_height - 6); }

void gantt_zoom(TuiState& s, double factor) {
  if (!s.eval || !s.eval->ok()) return set_error(s, "no simulated plan to zoom");
  const double total = s.eval->sim.iteration_ms;
  const TimeWindow w = gantt_window(total, s.gantt_zoom, s.gantt_left_ms);
  const double centre = (w.t0 + w.t1) / 2;
  s.gantt_zoom = std::clamp(s.gantt_zoom * factor, 1.0, 4096.0);
  const double span = total / s.gantt_zoom;
  s.gantt_left_ms = gantt_window(total, s.gantt_zoom, centre - span / 2).t0;
}

void gantt_pan(TuiState& s, double fraction_of_window) {
  if (!s.eval || !s.eval->ok()) return;
  const double total = s.eval->sim.iteration_ms;
  const double span = total / s.gantt_zoom;
  s.gantt_left_ms = gantt_window(total, s.gantt_zoom, s.gantt_left_ms + fraction_of_window * span).t0;
}

bool handle_gantt_key(TuiState& s, int k) {
  switch (k) {
    case '+':
    case '=': gantt_zoom(s, 2); return true;
    case '-':
    case '_': gantt_zoom(s, 0.5); return true;
    case key::Left:
    case 'h': gantt_pan(s, -0.25); return true;
    case key::Right:
    case 'l': gantt_pan(s, +0.25); return true;
    case 'H': gantt_pan(s, -1); return true;
    case 'L': gantt_pan(s, +1); return true;
    case key::Home:
    case '0':
      s.gantt_zoom = 1;
      s.gantt_left_ms = 0;
      return true;
    case key::End: gantt_pan(s, 1e9); return true;
    default: return false;
  }
}

bool handle_view_key(TuiState& s, int k) {
  if (s.view == View::Plan) {
    // The plan view's rows are stages: moving through them selects the boundary to move.
    switch (k) {
      case key::Up:
      case 'k': select_boundary(s, -1, false); return true;
      case key::Down:
      case 'j': select_boundary(s, +1, false); return true;
      default: break;
    }
  }
  switch (k) {
    case key::Up:
    case 'k': move_cursor(s, -1); return true;
    case key::Down:
    case 'j': move_cursor(s, +1); return true;
    case key::PageUp: move_cursor(s, -page_rows(s)); return true;
    case key::PageDown: move_cursor(s, +page_rows(s)); return true;
    default: break;
  }
  if (s.view == View::Gantt && handle_gantt_key(s, k)) return true;
  if (k == key::Home) {
    s.cursor[view_index(s.view)] = 0;
    return true;
  }
  if (k == key::End) {
    s.cursor[view_index(s.view)] = std::max(0, cursor_max(s, s.view));
    return true;
  }
  if (s.view == View::Compare && k == key::Enter && s.compare && !s.compare->empty()) {
    const cli::CompareRow& row = (*s.compare)[static_cast<size_t>(s.cursor[view_index(View::Compare)])];
    if (s.custom && row.name == s.custom->label) {
      show(s, s.custom, row.name);
    } else if (s.eval && row.name == edited_label(s.request.schedule)) {
      set_message(s, row.name + " is on screen", false);
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

void request_optimizer(TuiState& s) {
  if (s.optimizer.state == JobState::Running) return set_error(s, "the optimizer is already running (x cancels it)");
  s.optimizer = OptimizerView{};
  s.optimizer.state = JobState::Running;
  s.optimizer.phase = "starting";
  s.effect = Effect::StartOptimizer;
}

void request_run(TuiState& s) {
  s.view = View::Runs;
  if (!s.config.run_blocker.empty()) return set_error(s, "cannot launch a run: " + s.config.run_blocker);
  if (!s.eval || !s.eval->ok()) return set_error(s, "no valid plan to run: fix the plan first");
  if (s.launched.running)
    return set_error(s, "a run is already in progress (pid " + std::to_string(s.launched.pid) + ")");
  s.effect = Effect::LaunchRun;
}

}  // namespace

std::shared_ptr<const Evaluation> evaluate_request(const PlanRequest& request, const cli::Inputs& inputs) {
  auto e = std::make_shared<Evaluation>();
  e->request = request;
  e->label = request.schedule;
  const auto t0 = std::chrono::steady_clock::now();
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

std::shared_ptr<const Evaluation> evaluate_plan(const Plan& plan, const cli::Inputs& inputs, std::string label) {
  auto e = std::make_shared<Evaluation>();
  e->custom = true;
  e->label = std::move(label);
  e->plan = plan;
  e->request.schedule = plan.name;
  e->request.devices = plan.num_devices();
  e->request.microbatches = plan.num_microbatches;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    require_valid_plan(plan, inputs.costs.num_layers(), e->label);
    simulate_into(*e, inputs);
  } catch (const InputError& err) {
    e->built = false;
    e->error = err.what();
  }
  e->eval_ms = ms_since(t0);
  return e;
}

int resolved_stages_per_device(const TuiState& s) {
  if (has_plan(s) && s.eval->custom) {
    const int d = std::max(1, s.eval->plan.num_devices());
    return (s.eval->plan.num_stages() + d - 1) / d;
  }
  if (s.request.stages_per_device > 0) return s.request.stages_per_device;
  if (has_plan(s) && s.eval->plan.num_devices() > 0)
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

int shown_microbatches(const TuiState& s) {
  return has_plan(s) && s.eval->custom ? s.eval->plan.num_microbatches : s.request.microbatches;
}

const RunRow* launched_run_row(const TuiState& s) {
  if (s.launched.pid <= 0) return nullptr;
  for (const RunRow& r : s.store.rows)  // newest first: a reused pid matches its latest run
    if (r.pid == s.launched.pid) return &r;
  return nullptr;
}

TuiState make_state(cli::Inputs inputs, PlanRequest request, TuiConfig config, std::optional<Plan> initial,
                    const std::string& initial_label) {
  TuiState s;
  request.devices = inputs.cluster.num_devices();
  s.inputs = std::make_shared<const cli::Inputs>(std::move(inputs));
  s.config = std::move(config);
  s.request = std::move(request);
  s.store.db_path = s.config.db_path;
  if (initial) {
    s.request.microbatches = initial->num_microbatches;
    const std::string label = initial_label.empty() ? initial->name : initial_label;
    show(s, evaluate_plan(*initial, *s.inputs, label), "loaded " + label);
  } else {
    show(s, evaluate_request(s.request, *s.inputs), "loaded " + s.inputs->costs.model + ", " + s.request.schedule);
  }
  return s;
}

TuiState apply_key(TuiState s, int k) {
  s.effect = Effect::None;
  if (s.show_help) {
    s.show_help = false;
    if (k != 'q' && k != 'Q') return s;  // any key closes the help; q still quits
  }
  const View before = s.view;
  switch (k) {
    case 'q':
    case 'Q': s.effect = Effect::Quit; return s;
    case '?': s.show_help = true; return s;
    case key::Tab: s.view = static_cast<View>((view_index(s.view) + 1) % kNumViews); break;
    case key::BackTab: s.view = static_cast<View>((view_index(s.view) + kNumViews - 1) % kNumViews); break;
    case 's': cycle_schedule(s, +1); break;
    case 'S': cycle_schedule(s, -1); break;
    case 'm': change_microbatches(s, +1); break;
    case 'M': change_microbatches(s, -1); break;
    case 'd': change_devices(s, +1); break;
    case 'D': change_devices(s, -1); break;
    case 'v': change_chunks(s, +1); break;
    case 'V': change_chunks(s, -1); break;
    case '[': select_boundary(s, -1, true); break;
    case ']': select_boundary(s, +1, true); break;
    case '<':
    case ',': move_boundary(s, -1); break;
    case '>':
    case '.': move_boundary(s, +1); break;
    case 'e': even_partition_key(s); break;
    case 'o': request_optimizer(s); break;
    case 'x':
    case key::Escape:
      if (s.optimizer.state == JobState::Running) {
        s.effect = Effect::CancelOptimizer;
        set_message(s, "cancelling the optimizer...", false);
      }
      break;
    case 'r': request_run(s); break;
    case 'g': s.effect = Effect::RefreshRuns; break;
    case 'w':
      if (!has_plan(s)) set_error(s, "no valid plan to save");
      else s.effect = Effect::SavePlan;
      break;
    default:
      if (k >= '1' && k < '1' + kNumViews) {
        s.view = static_cast<View>(k - '1');
      } else if (!handle_view_key(s, k)) {
        set_message(s, "key " + key::name(k) + " does nothing in the " + std::string(view_name(s.view)) +
                           " view (? for help)",
                    false);
      }
      break;
  }
  if (s.view != before) {
    refresh_compare(s);
    clamp_cursors(s);
    // Entering the runs view re-reads the store (unless the key already asked for other work).
    if (s.view == View::Runs && s.effect == Effect::None) s.effect = Effect::RefreshRuns;
  }
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
  clamp_cursors(s);
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
    if (how == JobState::Cancelled) set_message(s, "optimizer cancelled before it found a plan", false);
    else set_error(s, "optimizer found no plan" + (error.empty() ? std::string() : ": " + first_line(error)));
    return s;
  }
  const double before = s.eval && s.eval->ok() ? s.eval->sim.iteration_ms : 0;
  auto e = evaluate_plan(*best, *s.inputs, "optimized");
  std::string what = how == JobState::Cancelled ? "optimizer cancelled, best so far" : "optimizer done";
  if (before > 0 && e->ok()) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " (%.2fx the previous plan)", before / e->sim.iteration_ms);
    what += buf;
  }
  show(s, e, what);
  return s;
}

TuiState on_run_store(TuiState s, RunStoreView store) {
  s.store = std::move(store);
  clamp_cursors(s);
  return s;
}

TuiState on_launched_run(TuiState s, LaunchedRun run) {
  s.launched = std::move(run);
  return s;
}

TuiState with_message(TuiState s, std::string message, bool is_error) {
  set_message(s, std::move(message), is_error);
  return s;
}

}  // namespace adaptis::tui
