// The bottom panel: details of the selection (an action with its dependencies, or a bubble with
// its cause), per-device statistics, the comparison table, and the edit history.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "adaptis/planner/schedules.h"
#include "gui/gui_app.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void GuiApp::draw_bottom_panel(float width, float height) {
  const Theme& t = theme_;
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(t.px(8), t.px(5)));
  ImGui::SetCursorPos(ImVec2(t.px(8), t.px(4)));
  if (ImGui::BeginTabBar("##bottom_tabs")) {
    auto tab = [&](const char* name, BottomTab which) {
      ImGuiTabItemFlags f = 0;
      if (bottom_tab_request_ && *bottom_tab_request_ == which) f |= ImGuiTabItemFlags_SetSelected;
      const bool open = ImGui::BeginTabItem(name, nullptr, f);
      if (open) bottom_tab_ = which;
      return open;
    };
    auto body = [&](void (GuiApp::*draw)()) {
      ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(t.px(10), t.px(6)));
      ImGui::BeginChild("##bottom_body", ImVec2(0, 0), false, ImGuiWindowFlags_AlwaysUseWindowPadding);
      (this->*draw)();
      ImGui::EndChild();
      ImGui::PopStyleVar();
    };
    if (tab("Details", BottomTab::Details)) {
      body(&GuiApp::draw_details_tab);
      ImGui::EndTabItem();
    }
    if (tab("Devices", BottomTab::Devices)) {
      body(&GuiApp::draw_devices_tab);
      ImGui::EndTabItem();
    }
    const std::string opt_name =
        optimizer_.running() ? strf("Optimizer (%.0f%%)###opt", optimizer_.status().progress.fraction * 100) : "Optimizer###opt";
    if (tab(opt_name.c_str(), BottomTab::Optimizer)) {
      body(&GuiApp::draw_optimizer_tab);
      ImGui::EndTabItem();
    }
    if (tab(child_.running() ? "Runs (running)###runs" : "Runs###runs", BottomTab::Runs)) {
      body(&GuiApp::draw_runs_tab);
      ImGui::EndTabItem();
    }
    if (tab(compare_ ? "Compare (A vs B)###cmp" : "Compare###cmp", BottomTab::Compare)) {
      body(&GuiApp::draw_compare_tab);
      ImGui::EndTabItem();
    }
    if (tab("History", BottomTab::History)) {
      body(&GuiApp::draw_history_tab);
      ImGui::EndTabItem();
    }
    bottom_tab_request_.reset();
    ImGui::EndTabBar();
  }
  ImGui::PopStyleVar();
  (void)width;
  (void)height;
}

void GuiApp::draw_details_tab() {
  const Theme& t = theme_;
  const TimelineBox* b = pick_box(selected_);
  if (!b) {
    // Nothing selected: where the time goes and the largest bubbles.
    const TimelineSide& S = sides_[0];
    if (S.stats.empty()) return;
    double warm = 0, mid = 0, cool = 0, busy = 0;
    for (const DeviceStats& d : S.stats) {
      warm += d.warmup_bubble_ms;
      mid += d.inbetween_bubble_ms;
      cool += d.cooldown_bubble_ms;
      busy += d.busy_ms;
    }
    const double total = S.summary.iteration_ms * static_cast<double>(S.stats.size());
    ImGui::TextDisabled("Click an action or a bubble in the timeline for details. Largest bubbles:");
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
    std::vector<size_t> order(S.gaps.size());
    std::iota(order.begin(), order.end(), 0);
    const size_t n = std::min<size_t>(order.size(), 8);
    std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](size_t a, size_t c) {
      return S.gaps[a].end - S.gaps[a].start > S.gaps[c].end - S.gaps[c].start;
    });
    if (ImGui::BeginTable("##gaps", 5, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingFixedFit)) {
      ImGui::TableSetupColumn("GPU");
      ImGui::TableSetupColumn("length");
      ImGui::TableSetupColumn("phase");
      ImGui::TableSetupColumn("cause");
      ImGui::TableSetupColumn("waiting for", ImGuiTableColumnFlags_WidthStretch);
      ImGui::TableHeadersRow();
      for (size_t k = 0; k < n; ++k) {
        const Gap& g = S.gaps[order[k]];
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        if (ImGui::Selectable(strf("GPU %d##gap%zu", g.device, k).c_str(), false, ImGuiSelectableFlags_SpanAllColumns)) {
          // Select that bubble and bring it into view.
          const Lane& idle = S.data.devices[g.device].idle;
          for (size_t i = 0; i < idle.size(); ++i)
            if (idle.boxes[i].ref == order[k]) {
              selected_ = {};
              selected_.side = 0;
              selected_.device = g.device;
              selected_.idle = true;
              selected_.index = static_cast<int>(i);
            }
          zoom_to(std::max(0.0, g.start - (g.end - g.start)), g.end + (g.end - g.start));
        }
        ImGui::TableNextColumn();
        mono_text(t, "%s", format_ms(g.end - g.start).c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(bubble_phase_name(g.phase));
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(gap_cause_name(g.cause));
        ImGui::TableNextColumn();
        if (g.cause == GapCause::Drain) ImGui::TextDisabled("done; others still running");
        else ImGui::Text("%s on GPU %d, to start %s", to_string(g.producer).c_str(), g.producer_device,
                         to_string(g.waiting).c_str());
      }
      ImGui::EndTable();
    }
    return;
  }

  const TimelineSide& S = sides_[selected_.side];
  if (ImGui::SmallButton("Zoom to")) zoom_to(b->start, b->end);
  ImGui::SameLine();
  if (ImGui::SmallButton("Clear selection")) {
    selected_ = {};
    return;
  }
  ImGui::SameLine();
  ImGui::TextDisabled("%s", selected_.side == 0 ? "A (current plan)" : ("B: " + S.label).c_str());
  if (selected_.idle) {
    const Gap* g = b->ref < S.gaps.size() ? &S.gaps[b->ref] : nullptr;
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("Bubble on GPU %d: %s", selected_.device, format_ms(b->end - b->start).c_str());
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
    const PathStep w = S.data.locate(g->producer.op, g->producer.stage, g->producer.mb);
    if (w.device >= 0 && ImGui::Button("Select the action it waits for")) {
      const int side = selected_.side;
      selected_ = {};
      selected_.side = side;
      selected_.device = w.device;
      selected_.index = w.index;
    }
    return;
  }
  if (selected_.lane == LaneKind::Send || selected_.lane == LaneKind::Recv) {
    ImGui::Text("%s of %s s%d mb%d, GPU %d %s GPU %d", selected_.lane == LaneKind::Send ? "Send" : "Receive",
                b->op == Op::F ? "activation" : "gradient", b->stage, b->mb, selected_.device,
                selected_.lane == LaneKind::Send ? "->" : "<-", b->peer);
    mono_text(t, "%s .. %s (%s)", format_ms(b->start).c_str(), format_ms(b->end).c_str(), format_ms(b->end - b->start).c_str());
    return;
  }
  ImGui::PushFont(t.ui_bold);
  ImGui::Text("%s  stage %d  micro-batch %d  on GPU %d", op_name(b->op), b->stage, b->mb, selected_.device);
  ImGui::PopFont();
  const Partition& part = S.plan.partition;
  if (b->stage < part.num_stages())
    ImGui::Text("layers %d–%d  ·  position %u in GPU %d's order%s", part.bounds[b->stage], part.bounds[b->stage + 1] - 1,
                b->ref, selected_.device, b->critical ? "  ·  on the critical path" : "");
  mono_text(t, "start %s  end %s  duration %s", format_ms(b->start).c_str(), format_ms(b->end).c_str(),
            format_ms(b->end - b->start).c_str());
  // Dependencies: what it waited for and who waits for it, with the slack of each edge.
  auto dep_row = [&](const char* role, Op op, int s, int mb, bool incoming) {
    const PathStep w = S.data.locate(op, s, mb);
    if (w.device < 0) return;
    const TimelineBox& o = S.data.devices[w.device].compute.boxes[w.index];
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextDisabled("%s", role);
    ImGui::TableNextColumn();
    if (ImGui::Selectable(strf("%s s%d mb%d##%s%d%d%d", op_name(op), s, mb, role, static_cast<int>(op), s, mb).c_str())) {
      GanttPick p;
      p.side = selected_.side;
      p.device = w.device;
      p.index = w.index;
      selected_ = p;
    }
    ImGui::TableNextColumn();
    ImGui::Text("GPU %d", w.device);
    ImGui::TableNextColumn();
    const double slack = incoming ? b->start - o.end : o.start - b->end;
    mono_text(t, "%s", format_ms(incoming ? o.end : o.start).c_str());
    ImGui::TableNextColumn();
    mono_text(t, "%s", format_ms(slack).c_str());
  };
  if (ImGui::BeginTable("##deps", 5, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingFixedFit)) {
    ImGui::TableSetupColumn("edge");
    ImGui::TableSetupColumn("action");
    ImGui::TableSetupColumn("on");
    ImGui::TableSetupColumn("ends / starts");
    ImGui::TableSetupColumn("slack");
    ImGui::TableHeadersRow();
    const int s = b->stage, mb = b->mb;
    switch (b->op) {
      case Op::F:
        dep_row("needs", Op::F, s - 1, mb, true);
        dep_row("feeds", Op::F, s + 1, mb, false);
        dep_row("feeds", Op::B, s, mb, false);
        dep_row("feeds", Op::BW, s, mb, false);
        break;
      case Op::B:
      case Op::BW:
        dep_row("needs", Op::F, s, mb, true);
        dep_row("needs", Op::B, s + 1, mb, true);
        dep_row("needs", Op::BW, s + 1, mb, true);
        dep_row("feeds", Op::B, s - 1, mb, false);
        dep_row("feeds", Op::BW, s - 1, mb, false);
        if (b->op == Op::B) dep_row("feeds", Op::W, s, mb, false);
        break;
      case Op::W: dep_row("needs", Op::B, s, mb, true); break;
    }
    ImGui::EndTable();
  }
}

void GuiApp::draw_devices_tab() {
  const Theme& t = theme_;
  const TimelineSide& S = sides_[0];
  const ImGuiTableFlags tf = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                             ImGuiTableFlags_SizingFixedFit;
  if (!ImGui::BeginTable("##devstats", 9, tf, ImVec2(0, 0))) return;
  ImGui::TableSetupScrollFreeze(1, 1);
  ImGui::TableSetupColumn("GPU");
  ImGui::TableSetupColumn("stages");
  ImGui::TableSetupColumn("busy");
  ImGui::TableSetupColumn("bubble");
  ImGui::TableSetupColumn("warm-up");
  ImGui::TableSetupColumn("in-between");
  ImGui::TableSetupColumn("cool-down");
  ImGui::TableSetupColumn("peak memory", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableSetupColumn("sent");
  ImGui::TableHeadersRow();
  ImGuiListClipper clip;
  clip.Begin(static_cast<int>(S.stats.size()));
  while (clip.Step())
    for (int d = clip.DisplayStart; d < clip.DisplayEnd; ++d) {
      const DeviceStats& ds = S.stats[d];
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      if (ImGui::Selectable(strf("GPU %d", d).c_str(), selected_.device == d && selected_.side == 0,
                            ImGuiSelectableFlags_SpanAllColumns))
        plan_device_ = d;
      ImGui::TableNextColumn();
      std::string st;
      if (d < S.plan.placement.num_devices())
        for (int s : S.plan.placement.device_stages[d]) st += (st.empty() ? "" : ",") + std::to_string(s);
      ImGui::TextUnformatted(st.c_str());
      ImGui::PushFont(t.mono);
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(format_ms(ds.busy_ms).c_str());
      ImGui::TableNextColumn();
      ImGui::Text("%s %4.1f%%", format_ms(ds.bubble_ms).c_str(),
                  S.summary.iteration_ms > 0 ? 100 * ds.bubble_ms / S.summary.iteration_ms : 0.0);
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(format_ms(ds.warmup_bubble_ms).c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(format_ms(ds.inbetween_bubble_ms).c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(format_ms(ds.cooldown_bubble_ms).c_str());
      ImGui::PopFont();
      ImGui::TableNextColumn();
      const double lim = d < static_cast<int>(S.memory_limit.size()) ? S.memory_limit[d] : 0;
      const float f = lim > 0 ? static_cast<float>(ds.peak_memory_bytes / lim) : 0;
      ImGui::PushStyleColor(ImGuiCol_PlotHistogram, ds.oom ? t.bad : f > 0.9f ? t.warn : IM_COL32(84, 140, 220, 255));
      ImGui::ProgressBar(std::min(1.0f, f), ImVec2(-1, 0),
                         strf("%s / %s%s", format_bytes(ds.peak_memory_bytes).c_str(), format_bytes(lim).c_str(),
                              ds.oom ? "  OOM" : "").c_str());
      ImGui::PopStyleColor();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(format_bytes(ds.send_bytes).c_str());
    }
  ImGui::EndTable();
}

void GuiApp::draw_compare_tab() {
  const Theme& t = theme_;
  if (ImGui::Button("Pin current plan as B")) pin_current_for_compare();
  ImGui::SameLine();
  ImGui::SetNextItemWidth(t.px(200));
  if (ImGui::BeginCombo("##cmp_sched", "Compare with a schedule...")) {
    for (const ScheduleInfo& si : all_schedules())
      if (ImGui::Selectable(si.name)) {
        EditResult r = pin_schedule_for_compare(si.name);
        if (!r.applied) note("compare with " + std::string(si.name) + ": " + r.message, true);
      }
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  ImGui::BeginDisabled(!compare_);
  if (ImGui::Button("Clear")) clear_compare();
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::TextDisabled("Runs can be compared from the Runs tab.");
  if (!compare_) {
    ImGui::TextWrapped("Pin the current plan (P) and keep editing, or pick a schedule: both plans then share the "
                       "timeline and this table shows what changed.");
    return;
  }
  const PlanSummary& a = sides_[0].summary;
  const PlanSummary& b = sides_[1].summary;
  if (!(b.iteration_ms > 0)) {
    ImGui::TextColored(ImColor(t.bad), "%s", sides_[1].label.c_str());
    return;
  }
  const SummaryDiff d = diff(b, a);
  if (ImGui::BeginTable("##cmp", 4, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingFixedFit)) {
    ImGui::TableSetupColumn("metric");
    ImGui::TableSetupColumn(("A: " + sides_[0].label).c_str());
    ImGui::TableSetupColumn(("B: " + sides_[1].label).c_str());
    ImGui::TableSetupColumn("A - B", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    comparison_row(t, "iteration", format_ms(a.iteration_ms), format_ms(b.iteration_ms),
        format_signed(d.iteration_ms, 2) + strf(" ms (%+.1f%%)", d.iteration_pct), d.iteration_ms <= 0);
    comparison_row(t, "speed-up of A", "", "", strf("%.3fx", d.speedup), d.speedup >= 1);
    comparison_row(t, "bubble", strf("%.2f%%", a.bubble_ratio * 100), strf("%.2f%%", b.bubble_ratio * 100),
        strf("%+.2f pp", d.bubble_ratio * 100), d.bubble_ratio <= 0);
    comparison_row(t, "bubble time (all GPUs)", format_ms(a.bubble_ms), format_ms(b.bubble_ms), format_signed(d.bubble_ms, 1) + " ms",
        d.bubble_ms <= 0);
    if (a.peak_memory_bytes > 0 && b.peak_memory_bytes > 0)
      comparison_row(t, "peak memory", format_bytes(a.peak_memory_bytes) + strf(" (GPU %d)", a.peak_device),
          format_bytes(b.peak_memory_bytes) + strf(" (GPU %d)", b.peak_device),
          (d.peak_memory_bytes >= 0 ? "+" : "-") + format_bytes(std::fabs(d.peak_memory_bytes)) +
              strf(" (%+.1f%%)", d.peak_memory_pct),
          d.peak_memory_bytes <= 0);
    comparison_row(t, "out of memory", a.oom ? "yes" : "no", b.oom ? "yes" : "no", "", !a.oom);
    comparison_row(t, "GPUs / actions", strf("%d / %zu", a.devices, a.actions), strf("%d / %zu", b.devices, b.actions), "", true);
    ImGui::EndTable();
  }
}

void GuiApp::draw_history_tab() {
  const Theme& t = theme_;
  ImGui::BeginChild("##undo", ImVec2(ImGui::GetContentRegionAvail().x * 0.5f, 0), false);
  ImGui::TextDisabled("Edits (click one to go back to it)");
  const auto& undo = editor_.undo_stack();
  const auto& redo = editor_.redo_stack();
  int go_back = -1, go_forward = -1;
  for (size_t i = 0; i < undo.size(); ++i)
    if (ImGui::Selectable(strf("%zu  %s##u%zu", i + 1, undo[i].label.c_str(), i).c_str())) go_back = static_cast<int>(undo.size() - i);
  ImGui::PushStyleColor(ImGuiCol_Text, t.good);
  ImGui::Selectable(strf("%zu  %s  (current)", undo.size() + 1, editor_.state().label.c_str()).c_str(), true);
  ImGui::PopStyleColor();
  for (size_t k = 0; k < redo.size(); ++k) {
    const size_t i = redo.size() - 1 - k;
    ImGui::PushStyleColor(ImGuiCol_Text, t.text_dim);
    if (ImGui::Selectable(strf("%zu  %s##r%zu", undo.size() + 2 + k, redo[i].label.c_str(), i).c_str()))
      go_forward = static_cast<int>(k + 1);
    ImGui::PopStyleColor();
  }
  ImGui::EndChild();
  const bool locked = optimizer_.running() && opt_live_;
  if (!locked) {
    for (int i = 0; i < go_back; ++i) editor_.undo();
    for (int i = 0; i < go_forward; ++i) editor_.redo();
  }
  ImGui::SameLine();
  ImGui::BeginChild("##log", ImVec2(0, 0), false);
  ImGui::TextDisabled("Messages");
  for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
    ImGui::PushStyleColor(ImGuiCol_Text, it->second ? t.bad : t.text);
    ImGui::PushTextWrapPos(0);
    ImGui::TextUnformatted(it->first.c_str());
    ImGui::PopTextWrapPos();
    ImGui::PopStyleColor();
  }
  ImGui::EndChild();
}

}  // namespace adaptis::gui
