// The Data tab: the iteration's sequence-length histogram (--lengths) and the units the plan runs,
// each with what it holds, its tokens, its cost through the whole model (a bar) and its simulated
// time; a click on a unit searches the timeline for its actions. The Re-pack group makes other units
// of the same lengths through the explorer core (one undo step per change); the Iteration group reads
// them again with another context or global batch (typed, halved or doubled).
#include <imgui.h>

#include <algorithm>
#include <optional>
#include <string>

#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void DataPanel::draw(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  const explorer::VarlenView& v = core.varlen();
  if (!v.has_units) {
    ImGui::TextWrapped(
        "This plan runs identical micro-batches. Start with --lengths FILE|DIST (a lengths file, a histogram JSON or a "
        "distribution such as lognormal:median=2048,sigma=1) to plan over variable-length sequences: this tab then "
        "shows their length histogram and the units they were packed or sliced into, and the timeline draws each "
        "unit as wide as it costs.");
    return;
  }
  if (bins_rev != core.revision() || bin_values.size() != v.bins.size()) {
    bin_values.clear();
    for (const explorer::LengthBinRow& b : v.bins) bin_values.push_back(static_cast<float>(b.sequences));
    bins_rev = core.revision();
  }

  // Left: the data and its histogram; right: the units.
  const float left_w = std::min(ImGui::GetContentRegionAvail().x * 0.38f, t.px(520));
  ImGui::BeginChild("##lengths", ImVec2(left_w, 0));
  section(t, "Sequence lengths");
  ImGui::TextWrapped("%s", v.data_line.c_str());
  if (!v.processing.empty()) ImGui::TextDisabled("processing: %s", v.processing.c_str());
  if (v.can_set_lengths) draw_iteration(c);
  else if (!v.settings_line.empty()) ImGui::TextDisabled("%s", v.settings_line.c_str());
  if (v.can_repack) draw_repack(c);
  if (!bin_values.empty()) {
    // One bar per length bin (power-of-two ranges), as tall as its share of the sequences, drawn over
    // an item the size of the plot so hovering tells the bin.
    const float h = std::max(t.px(60), ImGui::GetContentRegionAvail().y - ImGui::GetTextLineHeightWithSpacing() * 2.5f);
    const ImVec2 size(std::max(t.px(80), ImGui::GetContentRegionAvail().x), h);
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("##hist", size);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), ImGui::GetColorU32(ImGuiCol_FrameBg));
    const int n = static_cast<int>(bin_values.size());
    const float slot = size.x / static_cast<float>(n), top = static_cast<float>(std::max<long long>(1, v.max_bin_sequences));
    const int hovered = ImGui::IsItemHovered()
                            ? std::clamp(static_cast<int>((ImGui::GetIO().MousePos.x - p0.x) / slot), 0, n - 1)
                            : -1;
    for (int i = 0; i < n; ++i) {
      const float x0 = p0.x + slot * static_cast<float>(i) + 1, x1 = p0.x + slot * static_cast<float>(i + 1) - 1;
      const float y0 = p0.y + size.y * (1.0f - bin_values[static_cast<size_t>(i)] / top);
      dl->AddRectFilled(ImVec2(x0, y0), ImVec2(x1, p0.y + size.y),
                        i == hovered ? t.selection : t.op[static_cast<int>(Op::F)]);
    }
    if (hovered >= 0) {
      const explorer::LengthBinRow& b = v.bins[static_cast<size_t>(hovered)];
      ImGui::SetTooltip("%lld..%lld tokens: %lld sequences\n%.1f%% of the tokens, %.1f%% of the attention pairs", b.lo,
                        b.hi - 1, b.sequences, 100 * b.token_share, 100 * b.pair_share);
    }
    ImGui::TextDisabled("%lld .. %lld tokens per sequence (bins double in length)", v.bins.front().lo,
                        v.bins.back().hi - 1);
  }
  ImGui::EndChild();

  ImGui::SameLine();
  ImGui::BeginChild("##units", ImVec2(0, 0));
  section(t, "Units (one micro-batch each)");
  ImGui::TextUnformatted(v.units_line.c_str());
  if (!v.cost_note.empty()) ImGui::TextColored(ImColor(t.warn), "%s", v.cost_note.c_str());
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit |
                                ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_Resizable;
  if (ImGui::BeginTable("##unit_table", 7, flags)) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("unit");
    ImGui::TableSetupColumn("docs");
    ImGui::TableSetupColumn("tokens");
    ImGui::TableSetupColumn("cost");
    ImGui::TableSetupColumn("simulated");
    ImGui::TableSetupColumn("what");
    ImGui::TableSetupColumn("cost bar", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    ImGuiListClipper clip;
    clip.Begin(static_cast<int>(v.units.size()));
    while (clip.Step())
      for (int i = clip.DisplayStart; i < clip.DisplayEnd; ++i) {
        const explorer::UnitRow& u = v.units[static_cast<size_t>(i)];
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        if (ImGui::Selectable(strf("%d##unit%d", u.unit, i).c_str(), selected_unit == i,
                              ImGuiSelectableFlags_SpanAllColumns)) {
          selected_unit = i;
          core.set_filter(strf("mb %d", u.unit));  // its actions light up on the timeline
        }
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("Click: search the timeline for unit %d's actions", u.unit);
        ImGui::TableNextColumn();
        mono_text(t, "%d", u.docs);
        ImGui::TableNextColumn();
        mono_text(t, "%lld", u.tokens);
        ImGui::TableNextColumn();
        mono_text(t, "%s", u.cost_ms > 0 ? app::format_ms(u.cost_ms).c_str() : "-");
        ImGui::TableNextColumn();
        mono_text(t, "%s", u.simulated_ms > 0 ? app::format_ms(u.simulated_ms).c_str() : "-");
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(u.what.c_str());
        ImGui::TableNextColumn();
        const double cost = u.cost_ms > 0 ? u.cost_ms : u.simulated_ms;
        const float frac = v.max_cost_ms > 0 ? static_cast<float>(cost / v.max_cost_ms) : 0.0f;
        const ImVec2 p = ImGui::GetCursorScreenPos();
        const float w = ImGui::GetContentRegionAvail().x, h = ImGui::GetTextLineHeight();
        ImGui::GetWindowDrawList()->AddRectFilled(p, ImVec2(p.x + w * frac, p.y + h),
                                                  u.slice ? t.warn : t.op[static_cast<int>(Op::F)]);
        ImGui::Dummy(ImVec2(w, h));
      }
    ImGui::EndTable();
  }
  ImGui::EndChild();
}

void DataPanel::draw_iteration(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  const explorer::VarlenView& v = core.varlen();
  if (v.settings_line != settings_of) {
    input_context = v.context;
    input_batch = v.global_batch_tokens;
    settings_of = v.settings_line;
  }
  section(t, "Iteration");
  ImGui::TextDisabled("%s", v.settings_line.c_str());
  // The lengths are read off the UI thread: the plan above stays until they are in (a new value
  // meanwhile stops this read and reads with that one).
  if (core.reading_lengths()) {
    ImGui::PushTextWrapPos(0);
    ImGui::TextColored(ImColor(t.warn), "loading lengths… %s", core.lengths_loading_text().c_str());
    ImGui::PopTextWrapPos();
  }
  const float field_w = std::clamp(ImGui::GetContentRegionAvail().x * 0.4f, t.px(90), t.px(160));
  bool asked = false;  // the fields are then re-taken from what the core has (a refusal puts them back)
  ImGui::BeginDisabled(core.editing_locked());
  // Each row: the value (enter applies), then halve and double, as the TUI's ( ) and { } keys.
  auto value_row = [&](const std::string& id, long long& value, auto set, auto step, const char* label,
                       const char* help) {
    ImGui::SetNextItemWidth(field_w);
    if (ImGui::InputScalar(("##" + id).c_str(), ImGuiDataType_S64, &value, nullptr, nullptr, "%lld",
                           ImGuiInputTextFlags_EnterReturnsTrue)) {
      set(value);
      asked = true;
    }
    for (int dir : {-1, +1}) {
      ImGui::SameLine();
      if (ImGui::SmallButton(((dir < 0 ? "/2##" : "x2##") + id).c_str())) {
        step(dir);
        asked = true;
      }
    }
    ImGui::SameLine();
    ImGui::TextUnformatted(label);
    ImGui::SameLine();
    help_marker(help);
  };
  value_row(
      "context", input_context, [&](long long n) { core.set_context(n); }, [&](int dir) { core.step_context(dir); },
      "context",
      "Tokens one unit holds without slicing (--context). The lengths are read or drawn again with it "
      "(a distribution's lengths may change too) and packed as before; one undo step.");
  value_row(
      "global_batch", input_batch, [&](long long n) { core.set_global_batch_tokens(n); },
      [&](int dir) { core.step_global_batch(dir); }, "global batch",
      "Tokens per iteration (--global-batch-tokens): a distribution draws up to it, a lengths file is cut "
      "to it. The lengths are read again and packed as before; one undo step.");
  ImGui::EndDisabled();
  if (asked) settings_of.clear();
}

void DataPanel::draw_repack(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  const SequenceProcessing now = core.processing_to_edit();
  const std::string key = describe(now);
  if (key != inputs_of) {
    input_budget = now.unit_tokens;
    input_units = now.units;
    input_slices = now.slices;
    inputs_of = key;
  }
  section(t, "Re-pack");
  // Two fields a row, each with its label, when the pane is wide enough; one a row otherwise.
  const float avail = ImGui::GetContentRegionAvail().x;
  const bool two_per_row = avail >= t.px(460);
  const float field_w = two_per_row ? std::clamp(avail * 0.5f - t.px(100), t.px(90), t.px(160))
                                    : std::clamp(avail - t.px(110), t.px(80), t.px(200));
  auto next_field = [&] {
    if (two_per_row) ImGui::SameLine();
  };
  std::optional<SequenceProcessing> next;
  ImGui::BeginDisabled(core.editing_locked());
  ImGui::SetNextItemWidth(field_w);
  if (ImGui::BeginCombo("mode##repack", packing_mode_name(now.mode))) {
    for (PackingMode m : {PackingMode::Pad, PackingMode::PackTokens, PackingMode::Pack, PackingMode::Slice,
                          PackingMode::Elastic})
      if (ImGui::Selectable(packing_mode_name(m), m == now.mode) && m != now.mode) {
        next = now;
        next->mode = m;
      }
    ImGui::EndCombo();
  }
  next_field();
  ImGui::SetNextItemWidth(field_w);
  if (ImGui::BeginCombo("order##repack", unit_order_name(now.order))) {
    for (UnitOrder o : {UnitOrder::AsBuilt, UnitOrder::LongFirst, UnitOrder::ShortFirst, UnitOrder::Interleaved})
      if (ImGui::Selectable(unit_order_name(o), o == now.order) && o != now.order) {
        next = now;
        next->order = o;
      }
    ImGui::EndCombo();
  }
  ImGui::SetNextItemWidth(field_w);
  if (ImGui::InputScalar("tokens/unit##repack", ImGuiDataType_S64, &input_budget, nullptr, nullptr, "%lld",
                         ImGuiInputTextFlags_EnterReturnsTrue)) {
    next = now;
    next->unit_tokens = input_budget;
  }
  ImGui::SameLine();
  help_marker("Most tokens per unit (0 = the context). Sequences longer than it are sliced, or refused with "
              "slicing off. Enter applies.");
  next_field();
  ImGui::SetNextItemWidth(field_w);
  if (ImGui::InputInt("least units##repack", &input_units, 1, 8, ImGuiInputTextFlags_EnterReturnsTrue)) {
    next = now;
    next->units = input_units;
  }
  ImGui::SameLine();
  help_marker("pack, pack-tokens, slice, elastic: at least this many units (0 = as few as the budget allows). "
              "Enter applies.");
  ImGui::BeginDisabled(now.mode != PackingMode::Slice);
  ImGui::SetNextItemWidth(field_w);
  if (ImGui::InputInt("slices/row##repack", &input_slices, 1, 2, ImGuiInputTextFlags_EnterReturnsTrue)) {
    next = now;
    next->slices = input_slices;
  }
  ImGui::EndDisabled();
  next_field();
  bool slicing = now.allow_slicing;
  if (ImGui::Checkbox("slice long sequences##repack", &slicing)) {
    next = now;
    next->allow_slicing = slicing;
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Cut sequences longer than a unit into slices (token-level pipelining). Off: such "
                      "sequences, and the slice and elastic modes, are refused.");
  ImGui::EndDisabled();
  if (next) {
    core.set_processing(*next);
    inputs_of.clear();  // re-take the numbers from what the core now has
  }
  if (const auto& refused = core.refused_processing()) {
    ImGui::PushStyleColor(ImGuiCol_Text, t.bad);
    ImGui::TextWrapped("refused %s: %s", describe(*refused).c_str(), core.refused_processing_reason().c_str());
    ImGui::PopStyleColor();
  }
}

}  // namespace adaptis::gui
