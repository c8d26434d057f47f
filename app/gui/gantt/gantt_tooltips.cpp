// Tooltips of the Gantt: a bubble and what it waited for, a transfer, an action (with its
// prediction against its measurement when a run is shown), and a folded block's make-up.
#include <imgui.h>

#include <algorithm>
#include <cmath>

#include "adaptis/executor/run_report.h"
#include "gui/gantt/gantt_side.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

const char* op_long(Op op) {
  switch (op) {
    case Op::F: return "forward";
    case Op::B: return "backward (input gradient)";
    case Op::W: return "backward (weight gradient)";
    case Op::BW: return "backward (fused)";
    case Op::R: return "recompute (re-creates what the stage's memory policy dropped)";
  }
  return "?";
}

double memory_at(const std::vector<MemorySample>& m, double t) {
  if (m.empty()) return 0;
  auto it = std::upper_bound(m.begin(), m.end(), t, [](double v, const MemorySample& s) { return v < s.t; });
  return it == m.begin() ? m.front().bytes : (it - 1)->bytes;
}

}  // namespace

void GanttView::box_tooltip(UiContext& c, const explorer::Pick& pick) {
  const TimelineBox* b = box(pick);
  if (!b) return;
  const Theme& t = c.theme;
  const explorer::Side& S = sides_[pick.side];
  ImGui::BeginTooltip();
  if (pick.lane == LaneKind::Compute && pick.idle) {
    const std::vector<Gap>* gaps = S.gaps();
    const Gap* g = gaps && b->ref < gaps->size() ? &(*gaps)[b->ref] : nullptr;
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("Bubble  %s", app::format_ms(b->end - b->start).c_str());
    ImGui::PopFont();
    if (g) {
      const ImU32 col = g->cause == GapCause::Transfer || g->cause == GapCause::Reload ? t.idle_transfer
                        : g->cause == GapCause::Drain  ? t.idle_drain
                                                       : t.idle_dependency;
      ImGui::TextColored(ImColor(col), "%s  ·  %s", gap_cause_name(g->cause), bubble_phase_name(g->phase));
      ImGui::Separator();
      switch (g->cause) {
        case GapCause::Dependency:
          ImGui::Text("GPU %d waits to start %s,", g->device, to_string(g->waiting).c_str());
          ImGui::Text("which needs %s on GPU %d;", to_string(g->producer).c_str(), g->producer_device);
          ImGui::Text("that finishes at %s.", app::format_ms(g->producer_end).c_str());
          break;
        case GapCause::Transfer:
          ImGui::Text("GPU %d waits to start %s:", g->device, to_string(g->waiting).c_str());
          ImGui::Text("%s finished on GPU %d at %s,", to_string(g->producer).c_str(), g->producer_device,
                      app::format_ms(g->producer_end).c_str());
          ImGui::Text("its output arrives at %s (%s in flight).", app::format_ms(g->arrival).c_str(),
                      app::format_ms(g->arrival - g->producer_end).c_str());
          break;
        case GapCause::Drain: ImGui::Text("GPU %d has finished its work; others are still running.", g->device); break;
        case GapCause::Reload:
          ImGui::Text("GPU %d waits to start %s:", g->device, to_string(g->waiting).c_str());
          ImGui::Text("its offloaded activations are still coming back from host memory");
          ImGui::Text("(the reload ends at %s).", app::format_ms(g->arrival).c_str());
          break;
      }
    }
    mono_text(t, "%s .. %s", app::format_ms(b->start).c_str(), app::format_ms(b->end).c_str());
    ImGui::EndTooltip();
    return;
  }
  if (pick.lane == LaneKind::Send || pick.lane == LaneKind::Recv) {
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("%s %s", pick.lane == LaneKind::Send ? "Send" : "Receive", b->op == Op::F ? "activation" : "gradient");
    ImGui::PopFont();
    ImGui::Text("of %s s%d mb%d, %s GPU %d", op_name(b->op), b->stage, b->mb, pick.lane == LaneKind::Send ? "to" : "from",
                b->peer);
    mono_text(t, "%s .. %s  (%s)", app::format_ms(b->start).c_str(), app::format_ms(b->end).c_str(),
              app::format_ms(b->end - b->start).c_str());
    ImGui::EndTooltip();
    return;
  }
  if (pick.lane == LaneKind::Dp || pick.lane == LaneKind::Tp) {
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("%s", explorer::box_kind_name(b->kind));
    ImGui::PopFont();
    ImGui::TextWrapped("%s on GPU %d", explorer::describe_collective(*b, S.eval ? &S.eval->sim : nullptr).c_str(),
                       pick.device);
    ImGui::TextDisabled("%s", pick.lane == LaneKind::Tp ? "blocks compute: part of the action's time"
                                                        : "its own stream, beside compute");
    mono_text(t, "%s .. %s  (%s)", app::format_ms(b->start).c_str(), app::format_ms(b->end).c_str(),
              app::format_ms(b->end - b->start).c_str());
    ImGui::EndTooltip();
    return;
  }
  if (pick.lane == LaneKind::Host) {
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("%s", b->kind == explorer::BoxKind::Offload ? "Offload to host" : "Reload from host");
    ImGui::PopFont();
    const std::vector<HostTransfer>* copies = S.eval ? &S.eval->sim.host_transfers : nullptr;
    const HostTransfer* h = copies && b->ref < copies->size() ? &(*copies)[b->ref] : nullptr;
    ImGui::Text("kept activations of s%d mb%d, GPU %d's host link", b->stage, b->mb, pick.device);
    if (h) {
      ImGui::Text("%s, issued at %s", app::format_bytes(h->bytes).c_str(), app::format_ms(h->request).c_str());
      if (h->start > h->request) ImGui::TextDisabled("queued %s behind other copies on the link", app::format_ms(h->start - h->request).c_str());
    }
    mono_text(t, "%s .. %s  (%s)", app::format_ms(b->start).c_str(), app::format_ms(b->end).c_str(),
              app::format_ms(b->end - b->start).c_str());
    ImGui::EndTooltip();
    return;
  }
  const bool measured_lane = pick.lane == LaneKind::Measured;
  ImGui::PushFont(t.ui_bold);
  ImGui::Text("%s%s s%d mb%d", measured_lane ? "Measured " : "", op_name(b->op), b->stage, b->mb);
  ImGui::PopFont();
  ImGui::TextDisabled("%s  ·  GPU %d", op_long(b->op), pick.device);
  if (const Plan* plan = S.plan(); plan && b->stage >= 0 && b->stage < plan->partition.num_stages())
    ImGui::Text("layers %d–%d (%d)", plan->partition.bounds[b->stage], plan->partition.bounds[b->stage + 1] - 1,
                plan->partition.stage_size(b->stage));
  // A variable-length unit: what it holds (its width is its cost).
  if (const Plan* plan = S.plan())
    if (const std::string unit = explorer::unit_text(*plan, b->mb); !unit.empty()) ImGui::TextUnformatted(unit.c_str());
  mono_text(t, "%s .. %s  (%s)", app::format_ms(b->start).c_str(), app::format_ms(b->end).c_str(),
            app::format_ms(b->end - b->start).c_str());
  if (!measured_lane && S.eval && pick.device < static_cast<int>(S.eval->sim.memory.size()))
    ImGui::Text("memory after: %s", app::format_bytes(memory_at(S.eval->sim.memory[pick.device], b->end)).c_str());
  if (b->critical && c.ui.toggles.critical) ImGui::TextColored(ImColor(t.critical), "on the critical path");
  // Predicted against measured for the same action (the prediction of the same machine).
  if (const explorer::MeasuredLanes* ml = S.measured(); ml && pick.device < static_cast<int>(ml->devices.size())) {
    const Lane& other = measured_lane ? S.timeline().devices[pick.device].compute : ml->devices[pick.device];
    for (const TimelineBox& o : other.boxes)
      if (o.op == b->op && o.stage == b->stage && o.mb == b->mb) {
        const double pred = measured_lane ? o.end - o.start : b->end - b->start;
        const double meas = measured_lane ? b->end - b->start : o.end - o.start;
        const double err = exec::relative_error(pred, meas);
        ImGui::Separator();
        ImGui::Text("predicted %s, measured %s", app::format_ms(pred).c_str(), app::format_ms(meas).c_str());
        ImGui::TextColored(ImColor(std::isfinite(err) && std::fabs(err) <= 0.1 ? t.good : t.warn),
                           "error %s (measured - predicted) / predicted", app::format_percent(err).c_str());
        break;
      }
  }
  if (pick.side == 0 && !measured_lane && !c.core.editing_locked())
    ImGui::TextDisabled("drag to move it in GPU %d's order; [ ] its producer / consumer", pick.device);
  ImGui::EndTooltip();
}

void GanttView::fold_tooltip(UiContext& c) {
  const Theme& t = c.theme;
  const DrawItem& it = fold_hover_.item;
  ImGui::BeginTooltip();
  ImGui::Text("%u %s too small to display", it.count,
              fold_hover_.lane == LaneKind::Compute ? (it.mixed ? "actions" : explorer::box_kind_name(it.kind))
                                                    : lane_kind_name(fold_hover_.lane));
  ImGui::TextDisabled("GPU %d  ·  %s .. %s", fold_hover_.device, app::format_ms(it.start).c_str(),
                      app::format_ms(it.end).c_str());
  ImGui::TextDisabled("busy %s of %s (%.0f%%)", app::format_ms(it.busy_ms).c_str(), app::format_ms(it.end - it.start).c_str(),
                      it.end > it.start ? 100.0 * it.busy_ms / (it.end - it.start) : 0.0);
  if (fold_hover_.lane == LaneKind::Compute && it.busy_ms > 0)
    for (int k = 0; k < kNumOps; ++k)
      if (it.kind_ms[k] > 0) {
        swatch(t.op[k], t.px(9));
        ImGui::SameLine();
        ImGui::Text("%s  %s (%.0f%%)", op_name(static_cast<Op>(k)), app::format_ms(it.kind_ms[k]).c_str(),
                    100.0 * it.kind_ms[k] / it.busy_ms);
      }
  ImGui::TextDisabled("double-click or scroll to zoom in");
  ImGui::EndTooltip();
}

}  // namespace adaptis::gui
