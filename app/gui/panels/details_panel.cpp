// The Details tab: the selected action with its dependencies (each with its slack), a selected
// bubble and what it waited for, the measured range per device, or (nothing selected) where the
// time goes and the largest bubbles.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "adaptis/planner/memory_policy.h"
#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

using app::format_ms;

// The measured range: busy and idle per device on A, by cause.
void draw_measured_range(UiContext& c, const explorer::RangeBreakdown& r) {
  const Theme& t = c.theme;
  ImGui::PushFont(t.ui_bold);
  ImGui::Text("Measured range %s .. %s  (%s)", format_ms(r.t0).c_str(), format_ms(r.t1).c_str(),
              format_ms(r.span()).c_str());
  ImGui::PopFont();
  ImGui::SameLine();
  if (ImGui::SmallButton("Clear (Esc)")) c.core.clear_measure();
  const double all = r.span() * static_cast<double>(r.devices.size());
  ImGui::Text("busy %.1f%%  ·  waiting %.1f%%  ·  in flight %.1f%%  ·  drained %.1f%%  ·  %d actions",
              100 * r.utilisation(), all > 0 ? 100 * r.idle_by_cause[0] / all : 0.0,
              all > 0 ? 100 * r.idle_by_cause[1] / all : 0.0, all > 0 ? 100 * r.idle_by_cause[2] / all : 0.0, r.actions);
  if (!ImGui::BeginTable("##range", 6, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_ScrollY))
    return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("GPU");
  ImGui::TableSetupColumn("busy");
  ImGui::TableSetupColumn("waiting");
  ImGui::TableSetupColumn("in flight");
  ImGui::TableSetupColumn("drained");
  ImGui::TableSetupColumn("actions", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  for (size_t d = 0; d < r.devices.size(); ++d) {
    const explorer::RangeDevice& rd = r.devices[d];
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::Text("GPU %zu", d);
    ImGui::PushFont(t.mono);
    ImGui::TableNextColumn();
    ImGui::Text("%s %4.0f%%", format_ms(rd.busy_ms).c_str(), r.span() > 0 ? 100 * rd.busy_ms / r.span() : 0.0);
    for (int k = 0; k < 3; ++k) {
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(format_ms(rd.idle_by_cause[k]).c_str());
    }
    ImGui::TableNextColumn();
    ImGui::Text("%d", rd.actions);
    ImGui::PopFont();
  }
  ImGui::EndTable();
}

// Nothing selected: where the time goes and the largest bubbles.
void draw_overview(UiContext& c) {
  const Theme& t = c.theme;
  if (!c.core.has_plan()) return;
  const explorer::Evaluation& e = c.core.editor().eval();
  double warm = 0, mid = 0, cool = 0, busy = 0;
  for (const DeviceStats& d : e.sim.devices) {
    warm += d.warmup_bubble_ms;
    mid += d.inbetween_bubble_ms;
    cool += d.cooldown_bubble_ms;
    busy += d.busy_ms;
  }
  const double total = e.summary.iteration_ms * static_cast<double>(e.sim.devices.size());
  ImGui::PushStyleColor(ImGuiCol_Text, t.text_dim);
  ImGui::TextWrapped("Click an action or a bubble in the timeline for details (arrows and [ ] move between "
                     "actions); drag on empty space to measure a range. Largest bubbles:");
  ImGui::PopStyleColor();
  if (total > 0) {
    const float w = ImGui::GetContentRegionAvail().x;
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = t.px(14);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    float x = p.x;
    const double parts[4] = {busy, warm, mid, cool};
    const ImU32 cols[4] = {t.op[0], t.idle_drain, t.idle_dependency, t.idle_transfer};
    const char* names[4] = {"busy", "warm-up bubble", "in-between bubble", "cool-down bubble"};
    for (int k = 0; k < 4; ++k) {
      const float pw = static_cast<float>(parts[k] / total) * w;
      dl->AddRectFilled(ImVec2(x, p.y), ImVec2(x + pw, p.y + h), cols[k]);
      const std::string label = strf("%s %.1f%%", names[k], 100 * parts[k] / total);
      if (ImGui::CalcTextSize(label.c_str()).x + t.px(6) < pw)
        dl->AddText(ImVec2(x + t.px(4), p.y + (h - ImGui::GetTextLineHeight()) * 0.5f), t.text_on_box, label.c_str());
      x += pw;
    }
    ImGui::Dummy(ImVec2(w, h + t.px(2)));
    for (int k = 0; k < 4; ++k) {
      if (k) ImGui::SameLine(0, t.px(14));
      swatch(cols[k], t.px(9));
      ImGui::SameLine(0, t.px(4));
      ImGui::TextDisabled("%s %.1f%%", names[k], 100 * parts[k] / total);
    }
  }
  const std::vector<Gap>& gaps = e.sim.gaps;
  std::vector<size_t> order(gaps.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t n = std::min<size_t>(order.size(), 8);
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](size_t a, size_t b) {
    return gaps[a].end - gaps[a].start > gaps[b].end - gaps[b].start;
  });
  if (!ImGui::BeginTable("##gaps", 5, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingFixedFit)) return;
  ImGui::TableSetupColumn("GPU");
  ImGui::TableSetupColumn("length");
  ImGui::TableSetupColumn("phase");
  ImGui::TableSetupColumn("cause");
  ImGui::TableSetupColumn("waiting for", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  for (size_t k = 0; k < n; ++k) {
    const Gap& g = gaps[order[k]];
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    if (ImGui::Selectable(strf("GPU %d##gap%zu", g.device, k).c_str(), false, ImGuiSelectableFlags_SpanAllColumns)) {
      // Select that bubble and bring it into view.
      const explorer::Lane& idle = e.timeline.devices[g.device].idle;
      for (size_t i = 0; i < idle.size(); ++i)
        if (idle.boxes[i].ref == order[k]) {
          explorer::Pick p;
          p.side = 0;
          p.device = g.device;
          p.idle = true;
          p.index = static_cast<int>(i);
          c.core.select(p);
        }
      c.core.set_window(std::max(0.0, g.start - (g.end - g.start)), g.end + (g.end - g.start));
    }
    ImGui::TableNextColumn();
    mono_text(t, "%s", format_ms(g.end - g.start).c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(bubble_phase_name(g.phase));
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(gap_cause_name(g.cause));
    ImGui::TableNextColumn();
    if (g.cause == GapCause::Drain) ImGui::TextDisabled("done; others still running");
    else ImGui::Text("%s on GPU %d, to start %s", to_string(g.producer).c_str(), g.producer_device, to_string(g.waiting).c_str());
  }
  ImGui::EndTable();
}

}  // namespace

void DetailsPanel::draw(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  if (const auto r = core.measured_range(0)) draw_measured_range(c, *r);
  const explorer::Pick sel = core.view().selected;
  const explorer::TimelineBox* b = core.box(sel);
  if (!b) {
    if (!core.view().measuring) draw_overview(c);
    return;
  }
  const explorer::Side S = core.side(sel.side);
  if (ImGui::SmallButton("Zoom to")) core.set_window(b->start - (b->end - b->start) * 0.05, b->end + (b->end - b->start) * 0.05);
  ImGui::SameLine();
  if (ImGui::SmallButton("Clear selection")) {
    core.clear_selection();
    return;
  }
  ImGui::SameLine();
  ImGui::TextDisabled("%s", sel.side == 0 ? "A (current plan)" : ("B: " + S.label).c_str());
  if (sel.idle) {
    const std::vector<Gap>* gaps = S.gaps();
    const Gap* g = gaps && b->ref < gaps->size() ? &(*gaps)[b->ref] : nullptr;
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("Bubble on GPU %d: %s", sel.device, format_ms(b->end - b->start).c_str());
    ImGui::PopFont();
    if (!g) return;
    ImGui::Text("%s bubble, cause: %s", bubble_phase_name(g->phase), gap_cause_name(g->cause));
    if (g->cause == GapCause::Drain) {
      ImGui::TextWrapped("GPU %d has run all its actions; the iteration ends when the last GPU finishes.", g->device);
      return;
    }
    ImGui::TextWrapped("GPU %d cannot start %s before %s (on GPU %d) has finished%s.", g->device,
                       to_string(g->waiting).c_str(), to_string(g->producer).c_str(), g->producer_device,
                       g->cause == GapCause::Transfer ? " and its output has arrived" : "");
    mono_text(t, "producer ends %s  ·  output arrives %s  ·  bubble %s .. %s", format_ms(g->producer_end).c_str(),
              format_ms(g->arrival).c_str(), format_ms(b->start).c_str(), format_ms(b->end).c_str());
    const explorer::PathStep w = S.timeline().locate(g->producer.op, g->producer.stage, g->producer.mb);
    if (w.device >= 0 && ImGui::Button("Select the action it waits for")) {
      core.select(explorer::pick_of(sel.side, w));
      core.reveal_selection();
    }
    return;
  }
  if (sel.lane == LaneKind::Dp || sel.lane == LaneKind::Tp) {
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("%s on GPU %d", explorer::box_kind_name(b->kind), sel.device);
    ImGui::PopFont();
    ImGui::TextWrapped("%s", explorer::describe_collective(*b, S.eval ? &S.eval->sim : nullptr).c_str());
    mono_text(t, "%s .. %s (%s)", format_ms(b->start).c_str(), format_ms(b->end).c_str(), format_ms(b->end - b->start).c_str());
    return;
  }
  if (sel.lane == LaneKind::Host) {
    ImGui::Text("%s of s%d mb%d's kept activations on GPU %d's host link",
                b->kind == explorer::BoxKind::Offload ? "Offload to host" : "Reload from host", b->stage, b->mb, sel.device);
    mono_text(t, "%s .. %s (%s)", format_ms(b->start).c_str(), format_ms(b->end).c_str(), format_ms(b->end - b->start).c_str());
    return;
  }
  if (sel.lane == LaneKind::Send || sel.lane == LaneKind::Recv) {
    ImGui::Text("%s of %s s%d mb%d, GPU %d %s GPU %d", sel.lane == LaneKind::Send ? "Send" : "Receive",
                b->op == Op::F ? "activation" : "gradient", b->stage, b->mb, sel.device,
                sel.lane == LaneKind::Send ? "->" : "<-", b->peer);
    mono_text(t, "%s .. %s (%s)", format_ms(b->start).c_str(), format_ms(b->end).c_str(), format_ms(b->end - b->start).c_str());
    return;
  }
  ImGui::PushFont(t.ui_bold);
  ImGui::Text("%s  stage %d  micro-batch %d  on GPU %d", op_name(b->op), b->stage, b->mb, sel.device);
  ImGui::PopFont();
  if (const Plan* plan = S.plan(); plan && b->stage < plan->partition.num_stages())
    ImGui::Text("layers %d–%d  ·  position %u in GPU %d's order%s", plan->partition.bounds[b->stage],
                plan->partition.bounds[b->stage + 1] - 1, b->ref, sel.device, b->critical ? "  ·  on the critical path" : "");
  if (const Plan* plan = S.plan())
    if (const std::string unit = explorer::unit_text(*plan, b->mb); !unit.empty()) {
      ImGui::TextUnformatted(unit.c_str());
      // Per-unit checkpointing of this unit on this stage (the core refuses what cannot be recomputed).
      if (sel.side == 0 && b->stage < plan->num_stages()) {
        const bool on = recomputes_unit(stage_memory(*plan, b->stage), b->mb);
        if (ImGui::SmallButton(on ? "Keep this unit's activations" : "Checkpoint this unit on this stage"))
          core.toggle_unit_recompute();
      }
    }
  mono_text(t, "start %s  end %s  duration %s", format_ms(b->start).c_str(), format_ms(b->end).c_str(),
            format_ms(b->end - b->start).c_str());
  // Dependencies: what it waited for and who waits for it, with the slack of each edge.
  if (!ImGui::BeginTable("##deps", 5, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingFixedFit)) return;
  ImGui::TableSetupColumn("edge");
  ImGui::TableSetupColumn("action");
  ImGui::TableSetupColumn("on");
  ImGui::TableSetupColumn("ends / starts");
  ImGui::TableSetupColumn("slack");
  ImGui::TableHeadersRow();
  const TimelineData& data = S.timeline();
  for (const explorer::ActionEdge& e : explorer::action_edges(data, b->op, b->stage, b->mb)) {
    const explorer::TimelineBox& o = data.devices[e.where.device].compute.boxes[e.where.index];
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextDisabled("%s", e.incoming ? "needs" : "feeds");
    ImGui::TableNextColumn();
    if (ImGui::Selectable(strf("%s s%d mb%d##dep%d%d%d", op_name(e.op), e.stage, e.mb, static_cast<int>(e.op), e.stage,
                               e.incoming)
                              .c_str())) {
      core.select(explorer::pick_of(sel.side, e.where));
      core.reveal_selection();
    }
    ImGui::TableNextColumn();
    ImGui::Text("GPU %d", e.where.device);
    ImGui::TableNextColumn();
    mono_text(t, "%s", format_ms(e.incoming ? o.end : o.start).c_str());
    ImGui::TableNextColumn();
    mono_text(t, "%s", format_ms(e.incoming ? b->start - o.end : o.start - b->end).c_str());
  }
  ImGui::EndTable();
}

}  // namespace adaptis::gui
