#include "gui/gantt/memory_view.h"

#include <algorithm>
#include <cmath>

#include "common/format.h"
#include "gui/widgets.h"

namespace adaptis::gui {

using app::format_bytes;

namespace {

// Memory of a device at time t from its step samples.
double memory_at(const std::vector<MemorySample>& m, double t) {
  if (m.empty()) return 0;
  auto it = std::upper_bound(m.begin(), m.end(), t, [](double v, const MemorySample& s) { return v < s.t; });
  if (it == m.begin()) return m.front().bytes;
  return (it - 1)->bytes;
}

const std::vector<std::vector<MemorySample>>* memory_of(const explorer::Side& s) {
  return s.eval ? &s.eval->sim.memory : nullptr;
}

}  // namespace

bool MemoryView::has_memory(const explorer::Side& s) {
  return s.eval && !s.eval->sim.memory.empty() && s.eval->summary.peak_memory_bytes > 0;
}

void MemoryView::draw(UiContext& c, TimeAxis& axis, const explorer::Side* sides, int num_sides, int focus, float width,
                      float height) {
  const Theme& t = c.theme;
  ImGui::PushStyleColor(ImGuiCol_ChildBg, IM_COL32(26, 27, 31, 255));
  ImGui::BeginChild("##memory", ImVec2(width, height), false, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p0 = ImGui::GetWindowPos();
  const float x0 = axis.x0, x1 = axis.x0 + axis.width;
  const float top = p0.y + t.px(8), bottom = p0.y + height - t.px(6);
  const explorer::Side& A = sides[0];
  const bool with_b = num_sides > 1 && has_memory(sides[1]);
  const auto& mem_a = *memory_of(A);
  const int D = static_cast<int>(mem_a.size());

  // Scale to the highest peak (the limit only when it is near, so curves do not flatten).
  double peak = 0, limit = 0;
  int peak_dev = -1;
  for (int s = 0; s < (with_b ? 2 : 1); ++s) {
    const explorer::Evaluation& e = *sides[s].eval;
    for (size_t d = 0; d < e.sim.devices.size(); ++d) {
      if (e.sim.devices[d].peak_memory_bytes > peak) {
        peak = e.sim.devices[d].peak_memory_bytes;
        if (s == 0) peak_dev = static_cast<int>(d);
      }
      if (d < e.memory_limit.size()) limit = std::max(limit, e.memory_limit[d]);
    }
  }
  if (peak_dev < 0 && D > 0) peak_dev = 0;
  double y_max = peak * 1.08;
  const bool limit_visible = limit > 0 && limit <= peak * 1.5;
  if (limit_visible) y_max = std::max(y_max, limit * 1.04);
  if (!(y_max > 0)) y_max = 1;
  auto y_of = [&](double v) { return bottom - static_cast<float>(v / y_max) * (bottom - top); };

  // Gutter.
  dl->AddText(ImVec2(p0.x + t.px(10), p0.y + t.px(6)), t.text, "Memory");
  dl->AddText(ImVec2(p0.x + t.px(10), p0.y + t.px(6) + ImGui::GetTextLineHeight()), t.text_dim,
              D > 8 ? "max of GPUs" : "per GPU");
  // Horizontal grid with byte labels.
  for (int k = 1; k <= 3; ++k) {
    const double v = y_max * k / 4;
    const float y = y_of(v);
    dl->AddLine(ImVec2(x0, y), ImVec2(x1, y), t.grid);
    const std::string label = format_bytes(v);
    dl->AddText(ImVec2(x0 - ImGui::CalcTextSize(label.c_str()).x - t.px(6), y - ImGui::GetTextLineHeight() * 0.5f),
                t.text_dim, label.c_str());
  }
  dl->AddLine(ImVec2(x0, bottom), ImVec2(x1, bottom), t.grid_strong);

  // Decimated curves per device, re-made only when the view or the data change.
  const void* key0 = A.eval.get();
  const void* key1 = with_b ? sides[1].eval.get() : nullptr;
  if (cache_.t0 != axis.t0 || cache_.t1 != axis.t1 || cache_.x0 != axis.x0 || cache_.width != axis.width ||
      cache_.key[0] != key0 || cache_.key[1] != key1) {
    for (int s = 0; s < 2; ++s) {
      cache_.cols[s].clear();
      if (s == 1 && !with_b) continue;
      for (const auto& series : *memory_of(sides[s])) {
        cache_.cols[s].emplace_back();
        decimate_steps(series, axis, cache_.cols[s].back());
      }
    }
    cache_.t0 = axis.t0;
    cache_.t1 = axis.t1;
    cache_.x0 = axis.x0;
    cache_.width = axis.width;
    cache_.key[0] = key0;
    cache_.key[1] = key1;
  }

  dl->PushClipRect(ImVec2(x0, p0.y), ImVec2(x1, p0.y + height), true);
  auto curve = [&](const std::vector<ColumnRange>& cols, ImU32 col, float thick, bool fill) {
    if (cols.empty()) return;
    if (fill)
      for (const ColumnRange& cr : cols)
        dl->AddRectFilled(ImVec2(cr.x, y_of(cr.hi)), ImVec2(cr.x + 1, bottom), with_alpha(col, 0.16f));
    dl->PathClear();
    for (const ColumnRange& cr : cols) {
      if (cr.hi != cr.lo) dl->AddLine(ImVec2(cr.x + 0.5f, y_of(cr.lo)), ImVec2(cr.x + 0.5f, y_of(cr.hi)), col, thick);
      dl->PathLineTo(ImVec2(cr.x, y_of(cr.last)));
    }
    dl->PathStroke(col, 0, thick);
  };
  // Envelope over devices for many GPUs: the per-column max.
  auto envelope = [&](const std::vector<std::vector<ColumnRange>>& per_dev) {
    std::vector<ColumnRange> env;
    for (const auto& cols : per_dev) {
      if (env.empty()) {
        env = cols;
        continue;
      }
      for (size_t i = 0; i < cols.size() && i < env.size(); ++i) {
        env[i].hi = std::max(env[i].hi, cols[i].hi);
        env[i].lo = std::max(env[i].lo, cols[i].lo);
        env[i].last = std::max(env[i].last, cols[i].last);
      }
    }
    return env;
  };
  if (with_b) curve(envelope(cache_.cols[1]), with_alpha(t.op[2], 0.9f), 1.5f, false);
  if (D <= 8) {
    for (int d = 0; d < D && d < static_cast<int>(cache_.cols[0].size()); ++d)
      curve(cache_.cols[0][d], t.device_colour(d, D), d == hovered_device_ ? 2.5f : 1.5f, D <= 2);
  } else {
    curve(envelope(cache_.cols[0]), t.op[0], 1.5f, true);
    const int f = focus >= 0 ? focus : peak_dev;
    if (f >= 0 && f < static_cast<int>(cache_.cols[0].size())) curve(cache_.cols[0][f], t.device_colour(f, D), 1.5f, false);
  }
  if (limit_visible) {
    const float y = y_of(limit);
    for (float x = x0; x < x1; x += t.px(10)) dl->AddLine(ImVec2(x, y), ImVec2(std::min(x + t.px(6), x1), y), t.memory_limit, 1.5f);
    const std::string s = "limit " + format_bytes(limit);
    dl->AddText(ImVec2(x1 - ImGui::CalcTextSize(s.c_str()).x - t.px(8), y - ImGui::GetTextLineHeight() - 1),
                t.memory_limit, s.c_str());
  } else if (limit > 0) {
    // On a dimmed plate: the curves reach the top of the plot, where the label sits.
    const std::string s = "limit " + format_bytes(limit) + " (off scale)";
    const ImVec2 size = ImGui::CalcTextSize(s.c_str());
    const ImVec2 at(x1 - size.x - t.px(8), top);
    dl->AddRectFilled(ImVec2(at.x - t.px(4), at.y), ImVec2(at.x + size.x + t.px(4), at.y + size.y), IM_COL32(20, 21, 24, 210),
                      t.px(3));
    dl->AddText(at, t.text_dim, s.c_str());
  }
  dl->PopClipRect();

  // Hover: values at the mouse time.
  ImGui::SetCursorScreenPos(ImVec2(x0, p0.y));
  ImGui::InvisibleButton("##memory_canvas", ImVec2(std::max(1.0f, x1 - x0), height));
  hovered_device_ = -1;
  if (ImGui::IsItemHovered()) {
    ImGuiIO& io = ImGui::GetIO();
    if (io.MouseWheel != 0) {
      axis.zoom_at(io.MousePos.x, std::pow(0.8, static_cast<double>(io.MouseWheel)));
      c.core.set_window(axis.t0, axis.t1);
    }
    const double tm = axis.t_of(io.MousePos.x);
    dl->AddLine(ImVec2(io.MousePos.x, p0.y), ImVec2(io.MousePos.x, p0.y + height), IM_COL32(255, 255, 255, 60));
    // The device whose curve is nearest the mouse.
    float best = 1e9f;
    for (int d = 0; d < D; ++d) {
      const float dy = std::fabs(y_of(memory_at(mem_a[d], tm)) - io.MousePos.y);
      if (dy < best) {
        best = dy;
        hovered_device_ = d;
      }
    }
    ImGui::BeginTooltip();
    mono_text(t, "%s", app::format_in_unit(tm, app::axis_unit(tick_step_ms(axis, t.px(90))), 1).c_str());
    std::vector<std::pair<double, int>> vals;
    for (int d = 0; d < D; ++d) vals.emplace_back(memory_at(mem_a[d], tm), d);
    std::sort(vals.rbegin(), vals.rend());
    for (size_t i = 0; i < vals.size() && i < 8; ++i) {
      swatch(t.device_colour(vals[i].second, D), t.px(9));
      ImGui::SameLine();
      const int d = vals[i].second;
      const auto& lim = A.eval->memory_limit;
      ImGui::Text("GPU %d  %s%s", d, format_bytes(vals[i].first).c_str(),
                  d < static_cast<int>(lim.size()) && vals[i].first > lim[d] ? "  over the limit" : "");
    }
    if (vals.size() > 8) ImGui::TextDisabled("... %zu more", vals.size() - 8);
    if (with_b) {
      double bmax = 0;
      for (const auto& m : *memory_of(sides[1])) bmax = std::max(bmax, memory_at(m, tm));
      ImGui::TextColored(ImColor(t.op[2]), "B max  %s", format_bytes(bmax).c_str());
    }
    ImGui::EndTooltip();
  }
  ImGui::EndChild();
  ImGui::PopStyleColor();
}

}  // namespace adaptis::gui
