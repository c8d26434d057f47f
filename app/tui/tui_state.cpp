#include "tui/tui_state.h"

#include <algorithm>

#include "adaptis/planner/memory_policy.h"
#include "common/format.h"
#include "tui/keys.h"
#include "tui/render.h"

namespace adaptis::tui {

using explorer::Explorer;

const char* view_name(View v) {
  switch (v) {
    case View::Layers: return "Layers";
    case View::Plan: return "Plan";
    case View::Gantt: return "Gantt";
    case View::Devices: return "Devices";
    case View::Compare: return "Compare";
    case View::Runs: return "Runs";
    case View::Cluster: return "Cluster";
    case View::Data: return "Data";
  }
  return "?";
}

namespace {

int view_index(View v) { return static_cast<int>(v); }

bool has_plan(const TuiState& s) { return s.core.has_plan(); }

// The largest cursor value of a view: the last row of a list, or the last useful first row of a
// scrolled device view at the current terminal size.
int cursor_max(TuiState& s, View v) {
  switch (v) {
    case View::Layers: return s.core.editor().costs().num_layers() - 1;
    // The table is computed only while its view is on screen (it runs every built-in schedule).
    case View::Compare:
      return s.view == View::Compare ? static_cast<int>(s.core.schedule_table()->size()) - 1
                                     : s.cursor[view_index(View::Compare)];
    case View::Runs: return static_cast<int>(s.core.runs().runs.size()) - 1;
    case View::Plan: return 0;  // the plan view scrolls to the selected boundary
    case View::Cluster: return 0;  // the core holds the table's row
    case View::Data: return static_cast<int>(s.core.varlen().units.size()) - 1;
    case View::Gantt:
    case View::Devices: return max_first_device(s, v, s.viewport_width, s.viewport_height);
  }
  return 0;
}

void clamp_cursors(TuiState& s) {
  for (int v = 0; v < kNumViews; ++v) s.cursor[v] = std::clamp(s.cursor[v], 0, std::max(0, cursor_max(s, View(v))));
}

void clamp_boundary(TuiState& s) {
  const int stages = has_plan(s) ? s.core.editor().plan().num_stages() : 1;
  s.boundary = stages < 2 ? 1 : std::clamp(s.boundary, 1, stages - 1);
}

void select_boundary(TuiState& s, int delta, bool wrap) {
  const int stages = has_plan(s) ? s.core.editor().plan().num_stages() : 1;
  if (stages < 2) return s.core.note("one stage only: no partition boundary to select", true);
  int b = s.boundary + delta;
  if (wrap) b = b < 1 ? stages - 1 : (b > stages - 1 ? 1 : b);
  s.boundary = std::clamp(b, 1, stages - 1);
  const int layer = s.core.editor().plan().partition.bounds[static_cast<size_t>(s.boundary)];
  s.core.note(app::strf("boundary %d selected: stage %d | stage %d before layer %d; < > move it", s.boundary,
                        s.boundary - 1, s.boundary, layer));
}

void clamp_stage(TuiState& s) {
  const int stages = has_plan(s) ? s.core.editor().plan().num_stages() : 1;
  s.stage = std::clamp(s.stage, 0, std::max(0, stages - 1));
}

void select_stage(TuiState& s, int delta) {
  const int stages = has_plan(s) ? s.core.editor().plan().num_stages() : 0;
  if (stages < 1) return s.core.note("no plan: no stage to select", true);
  s.stage = ((s.stage + delta) % stages + stages) % stages;
  s.core.note(app::strf("stage %d selected: %s; z/Z change its recompute (a/A every stage, f/F offload)", s.stage,
                        describe(s.core.memory_policy(s.stage)).c_str()));
}

void change_microbatches(TuiState& s, int delta) {
  s.core.set_microbatches(std::min(4096, shown_microbatches(s) + delta));
}

void change_devices(TuiState& s, int delta) { s.core.set_devices(shown_devices(s) + delta); }

void change_chunks(TuiState& s, int delta) {
  s.core.set_stages_per_device(std::clamp(s.core.stages_per_device() + delta, 1, 16));
}

void move_cursor(TuiState& s, int delta) {
  const int v = view_index(s.view);
  s.cursor[v] = std::clamp(s.cursor[v] + delta, 0, std::max(0, cursor_max(s, s.view)));
}

int page_rows(const TuiState& s) { return std::max(1, s.viewport_height - 6); }

// The Gantt's window: zoom around its centre, pan by a fraction of it.
void gantt_zoom(TuiState& s, double factor) {
  if (!has_plan(s)) return s.core.note("no simulated plan to zoom", true);
  const auto& w = s.core.view().window;
  s.core.zoom((w.t0 + w.t1) / 2, factor);
}

void gantt_pan(TuiState& s, double fraction_of_window) {
  if (!has_plan(s)) return;
  s.core.pan(fraction_of_window * s.core.view().window.span());
}

// Keys of the Gantt view: zoom and pan, and with an action selected, moving between actions.
bool handle_gantt_key(TuiState& s, int k) {
  const bool selected = s.core.selected_box() != nullptr;
  switch (k) {
    case '+':
    case '=': gantt_zoom(s, 0.5); return true;
    case '-':
    case '_': gantt_zoom(s, 2); return true;
    case key::Left:
      if (selected) s.core.select_next_on_device(-1);
      else gantt_pan(s, -0.25);
      return true;
    case key::Right:
      if (selected) s.core.select_next_on_device(+1);
      else gantt_pan(s, +0.25);
      return true;
    case 'h': gantt_pan(s, -0.25); return true;
    case 'l': gantt_pan(s, +0.25); return true;
    case 'H': gantt_pan(s, -1); return true;
    case 'L': gantt_pan(s, +1); return true;
    case key::Home:
    case '0': s.core.fit_view(); return true;
    case key::End: gantt_pan(s, 1e9); return true;
    case key::Enter:
      if (selected) s.core.clear_selection();
      else s.core.select_next_on_device(+1);
      return true;
    case 'p': s.core.select_producer(); return true;
    case 'c': s.core.select_consumer(); return true;
    default: break;
  }
  if (selected && (k == key::Up || k == key::Down)) {
    s.core.select_device(k == key::Up ? -1 : +1);
    // Keep the selected device's rows on screen.
    if (const auto& p = s.core.view().selected; p.valid()) {
      int& first = s.cursor[view_index(View::Gantt)];
      const int shown = gantt_devices_shown(s, s.viewport_width, s.viewport_height);
      if (p.device < first) first = p.device;
      else if (p.device >= first + shown) first = p.device - shown + 1;
    }
    return true;
  }
  return false;
}

// GPUs and the global batch of the next search: halved or doubled (within the cluster's GPUs, in
// whole sequences).
void change_cluster_gpus(TuiState& s, bool up) {
  if (const std::string why = s.core.cluster_search_blocker(); !why.empty()) return s.core.note(why, true);
  const int g = s.core.cluster_gpus();
  s.core.set_cluster_gpus(up ? std::min(g * 2, s.core.cluster_max_gpus()) : std::max(1, g / 2));
}

void change_cluster_batch(TuiState& s, bool up) {
  if (const std::string why = s.core.cluster_search_blocker(); !why.empty()) return s.core.note(why, true);
  const long long seq = std::max(1LL, s.core.config().cluster_plans.model ? s.core.config().cluster_plans.model->seq_len : 1);
  const long long seqs = s.core.cluster_batch_tokens() / seq;
  s.core.set_cluster_batch_tokens(seq * (up ? seqs * 2 : std::max(1LL, seqs / 2)));
}

// Keys of the Cluster view: rows, the search's inputs, enter shows a row's pipeline on the Gantt.
bool handle_cluster_key(TuiState& s, int k) {
  const explorer::ClusterPlansState& st = s.core.cluster_plans();
  const int n = st.rows ? static_cast<int>(st.rows->size()) : 0;
  switch (k) {
    case key::Up:
    case 'k': s.core.select_cluster_row(st.selected - 1); return true;
    case key::Down:
    case 'j': s.core.select_cluster_row(st.selected + 1); return true;
    case key::PageUp: s.core.select_cluster_row(st.selected - page_rows(s)); return true;
    case key::PageDown: s.core.select_cluster_row(st.selected + page_rows(s)); return true;
    case key::Home: s.core.select_cluster_row(0); return true;
    case key::End: s.core.select_cluster_row(n - 1); return true;
    case key::Enter:
      if (s.core.use_cluster_row(st.selected).applied) {
        s.view = View::Gantt;
        s.cursor[view_index(View::Gantt)] = 0;
      }
      return true;
    case 'd':
    case 'D': change_cluster_gpus(s, k == 'd'); return true;
    case 'm':
    case 'M': change_cluster_batch(s, k == 'm'); return true;
    default: return false;
  }
}

// Keys of the Data view that re-pack the lengths (each steps one knob of the processing) or read them
// again with the context or the global batch halved or doubled.
bool handle_repack_key(TuiState& s, int k) {
  switch (k) {
    case '(':
    case ')': s.core.step_context(k == ')' ? +1 : -1); return true;
    case '{':
    case '}': s.core.step_global_batch(k == '}' ? +1 : -1); return true;
    case 'p':
    case 'P': s.core.step_packing_mode(k == 'p' ? +1 : -1); return true;
    case 'b':
    case 'B': s.core.step_unit_tokens(k == 'b' ? +1 : -1); return true;
    case 'l':
    case 'L': s.core.step_slices(k == 'l' ? +1 : -1); return true;
    case 'i':
    case 'I': s.core.step_min_units(k == 'i' ? +1 : -1); return true;
    case 'O': s.core.step_unit_order(+1); return true;
    case 'c': s.core.toggle_slicing(); return true;
    default: return false;
  }
}

bool handle_view_key(TuiState& s, int k) {
  if (s.view == View::Cluster && handle_cluster_key(s, k)) return true;
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
  if (s.view == View::Gantt && handle_gantt_key(s, k)) return true;
  switch (k) {
    case key::Up:
    case 'k': move_cursor(s, -1); return true;
    case key::Down:
    case 'j': move_cursor(s, +1); return true;
    case key::PageUp: move_cursor(s, -page_rows(s)); return true;
    case key::PageDown: move_cursor(s, +page_rows(s)); return true;
    default: break;
  }
  if (k == key::Home) {
    s.cursor[view_index(s.view)] = 0;
    return true;
  }
  if (k == key::End) {
    s.cursor[view_index(s.view)] = std::max(0, cursor_max(s, s.view));
    return true;
  }
  // Data: re-packing the lengths into other units (the core rebuilds and re-simulates the plan).
  if (s.view == View::Data && handle_repack_key(s, k)) return true;
  // Data: enter shows the unit's actions on the Gantt (a search for its micro-batch).
  if (s.view == View::Data && k == key::Enter) {
    const int n = static_cast<int>(s.core.varlen().units.size());
    if (n == 0) {
      s.core.note("no units: the plan runs identical micro-batches (start with --lengths)", true);
      return true;
    }
    const int unit = std::clamp(s.cursor[view_index(View::Data)], 0, n - 1);
    // The search selects its first action: the detail line names the unit.
    if (s.core.set_filter(app::strf("mb %d", unit))) s.view = View::Gantt;
    return true;
  }
  if (s.view == View::Compare && k == key::Enter) {
    auto rows = s.core.schedule_table();
    if (rows->empty()) return true;
    s.core.use_schedule_row((*rows)[static_cast<size_t>(s.cursor[view_index(View::Compare)])].name);
    return true;
  }
  return false;
}

// Typing into the search prompt.
TuiState search_key(TuiState s, int k) {
  switch (k) {
    case key::Escape: s.searching = false; return s;
    case key::Enter:
      s.searching = false;
      s.core.set_filter(s.search_input);
      if (s.view != View::Gantt && s.core.view().filter.active()) s.view = View::Gantt;
      return s;
    case key::Backspace:
      if (!s.search_input.empty()) s.search_input.pop_back();
      return s;
    default:
      if (k >= 0x20 && k < 0x7f && s.search_input.size() < 60) s.search_input.push_back(static_cast<char>(k));
      return s;
  }
}

}  // namespace

int shown_microbatches(const TuiState& s) {
  const auto& ed = s.core.editor();
  if (ed.has_plan() && ed.pending_problem().empty()) return ed.plan().num_microbatches;
  return ed.request().microbatches;
}

int shown_devices(const TuiState& s) {
  const auto& ed = s.core.editor();
  if (ed.has_plan() && ed.pending_problem().empty()) return ed.plan().num_devices();
  return ed.request().devices > 0 ? ed.request().devices : ed.cluster().num_devices();
}

TuiState make_state(app::Inputs inputs, PlanRequest request, explorer::ExplorerConfig config,
                    std::optional<Plan> initial, const std::string& initial_label) {
  request.devices = inputs.cluster.num_devices();
  TuiState s{Explorer(std::move(inputs), std::move(config))};
  if (initial) {
    const std::string label = initial_label.empty() ? initial->name : initial_label;
    s.core.start_with_plan(std::move(*initial), "loaded " + label);
  } else {
    s.core.start_with_request(request);
  }
  clamp_boundary(s);
  return s;
}

TuiState make_state(Explorer core) {
  TuiState s{std::move(core)};
  clamp_boundary(s);
  return s;
}

TuiState apply_key(TuiState s, int k) {
  if (s.searching) return search_key(std::move(s), k);
  if (s.show_help) {
    s.show_help = false;
    if (k != 'q' && k != 'Q') return s;  // any key closes the help; q still quits
  }
  const View before = s.view;
  // The Cluster view's own meaning of d/D and m/M (the search's GPUs and batch).
  if (s.view == View::Cluster && (k == 'd' || k == 'D' || k == 'm' || k == 'M')) {
    handle_cluster_key(s, k);
    return s;
  }
  switch (k) {
    case 'q':
    case 'Q': s.quit = true; return s;
    case '?': s.show_help = true; return s;
    case key::Tab: s.view = static_cast<View>((view_index(s.view) + 1) % kNumViews); break;
    case key::BackTab: s.view = static_cast<View>((view_index(s.view) + kNumViews - 1) % kNumViews); break;
    case 's': s.core.cycle_schedule(+1); break;
    case 'S': s.core.cycle_schedule(-1); break;
    case 'm': change_microbatches(s, +1); break;
    case 'M': change_microbatches(s, -1); break;
    case 'd': change_devices(s, +1); break;
    case 'D': change_devices(s, -1); break;
    case 'v': change_chunks(s, +1); break;
    case 'V': change_chunks(s, -1); break;
    case '[': select_boundary(s, -1, true); break;
    case ']': select_boundary(s, +1, true); break;
    case '<':
    case ',': s.core.nudge_boundary(s.boundary, -1); break;
    case '>':
    case '.': s.core.nudge_boundary(s.boundary, +1); break;
    case 'e': s.core.even_partition(); break;
    case 'u': s.core.undo(); break;
    case 'U': s.core.redo(); break;
    case 'o': s.core.start_optimizer(); break;
    case 'x':
      s.core.cancel_optimizer();
      s.core.cancel_cluster_search();
      break;
    case 'C':
      s.view = View::Cluster;
      s.core.start_cluster_search();
      break;
    case key::Escape:
      if (s.core.view().measuring || s.core.view().filter.active() || s.core.view().selected.valid()) s.core.escape();
      else {
        s.core.cancel_optimizer();
        s.core.cancel_cluster_search();
      }
      break;
    case 'r':
      s.view = View::Runs;
      s.core.launch_run();
      break;
    case 'g': s.core.refresh_runs(); break;
    case 'w': s.core.save_plan(); break;
    case 'W': s.core.save_session(); break;
    case '/':
      s.searching = true;
      s.search_input = s.core.view().filter_text;
      return s;
    case 'n': s.core.select_next_match(+1); break;
    case 'N': s.core.select_next_match(-1); break;
    // Memory policies: recompute on every stage or the selected one, offload, auto.
    case 'a': s.core.cycle_recompute(-1, +1); break;
    case 'A': s.core.cycle_recompute(-1, -1); break;
    case 't': select_stage(s, +1); break;
    case 'T': select_stage(s, -1); break;
    case 'z': s.core.cycle_recompute(s.stage, +1); break;
    case 'Z': s.core.cycle_recompute(s.stage, -1); break;
    case 'f': s.core.step_offload(-1, +1); break;
    case 'F': s.core.step_offload(-1, -1); break;
    case 'y': s.core.auto_memory_policy(); break;
    case 'K': s.core.toggle_unit_recompute(); break;
    default:
      if (k >= '1' && k < '1' + kNumViews) {
        s.view = static_cast<View>(k - '1');
      } else if (!handle_view_key(s, k)) {
        s.core.note("key " + key::name(k) + " does nothing in the " + std::string(view_name(s.view)) +
                    " view (? for help)");
      }
      break;
  }
  clamp_boundary(s);
  clamp_stage(s);
  clamp_cursors(s);
  // Entering the runs view re-reads the store.
  if (s.view != before && s.view == View::Runs && !s.core.has_effects()) s.core.refresh_runs();
  return s;
}

TuiState apply_keys(TuiState s, const std::vector<int>& keys) {
  for (int k : keys) {
    s = apply_key(std::move(s), k);
    if (s.quit) break;
  }
  return s;
}

TuiState set_viewport(TuiState s, int width, int height) {
  s.viewport_width = width;
  s.viewport_height = height;
  clamp_cursors(s);
  return s;
}

}  // namespace adaptis::tui
