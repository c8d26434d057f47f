// Frame time of the desktop GUI on a large plan: 64 devices x 512 micro-batches (zb-h1: ~98k
// actions, plus send/recv lanes and bubbles), drawn offscreen under Xvfb. For each view (whole
// iteration, zoomed, panning every frame, hovering, comparing two plans) it reports the CPU time
// to build the frame (our UI + ImGui draw lists) and the whole frame including OpenGL rendering
// and glFinish (Mesa llvmpipe renders on the CPU under Xvfb, so that part measures the software
// rasterizer, not a GPU). Also the latency of one edit at this size (re-simulate + rebuild lanes).
//
// Prints one JSON document. Without a display it re-runs itself under `xvfb-run -a`; without
// xvfb-run, or without the GUI built, it prints {"skipped": "..."} and exits 0.
// Usage: bench_gui_frame [devices] [microbatches] [frames]
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#ifdef ADAPTIS_HAVE_GUI
#include <imgui.h>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "gui/gui_app.h"
#include "gui/gui_window.h"
#endif

using Clock = std::chrono::steady_clock;

static void print_skip(const std::string& why) {
  nlohmann::json j;
  j["benchmark"] = "gui_frame";
  j["skipped"] = why;
  std::printf("%s\n", j.dump(2).c_str());
}

#ifdef ADAPTIS_HAVE_GUI
using namespace adaptis;
using namespace adaptis::gui;

namespace {

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

nlohmann::json stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  auto pct = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))]; };
  return {{"mean_ms", sum / v.size()}, {"p50_ms", pct(0.5)}, {"p95_ms", pct(0.95)}, {"max_ms", v.back()}};
}

CostTable bench_costs(int layers) {
  CostTable t;
  t.model = "bench";
  t.source = "synthetic";
  for (int l = 0; l < layers; ++l) {
    LayerCost c;
    c.name = "layers." + std::to_string(l);
    c.f_ms = 1.0 + 0.1 * (l % 3);
    c.b_ms = 1.1 * c.f_ms;
    c.w_ms = 0.9 * c.f_ms;
    c.state_bytes = 2e8;
    c.act_b_bytes = 2e7;
    c.act_w_bytes = 1e7;
    c.out_bytes = 4e6;
    t.layers.push_back(c);
  }
  t.layers.back().f_ms = 6;  // a heavy head, as real models have
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 64, mbs = 512, frames = 40;
  CLI::App app("bench_gui_frame: CPU time to build GUI frames of a large plan (under Xvfb when there is no display)");
  app.add_option("devices", devices, "Pipeline devices")->check(CLI::Range(1, 1024));
  app.add_option("microbatches", mbs, "Micro-batches")->check(CLI::Range(1, 16384));
  app.add_option("frames", frames, "Frames per measured view")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);
  const char* display = std::getenv("DISPLAY");
  if (!display || !*display) {
    if (std::getenv("ADAPTIS_BENCH_UNDER_XVFB")) {
      print_skip("no display even under xvfb-run");
      return 0;
    }
    if (std::system("command -v xvfb-run > /dev/null 2>&1") != 0) {
      print_skip("no display and no xvfb-run");
      return 0;
    }
    // Re-run under a virtual X server sized like a 1080p desktop.
    std::string cmd = "ADAPTIS_BENCH_UNDER_XVFB=1 xvfb-run -a -s '-screen 0 1920x1080x24' '" +
                      std::string(argv[0]) + "'";
    for (int i = 1; i < argc; ++i) cmd += std::string(" '") + argv[i] + "'";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
  }

  nlohmann::json out;
  out["benchmark"] = "gui_frame";
  out["devices"] = devices;
  out["microbatches"] = mbs;
  out["frames_per_view"] = frames;
  try {
    const int layers = std::max(2 * devices, 8);
    GuiWindow window(1920, 1080, 1.0f, "adaptis bench", false);
    out["renderer"] = window.renderer();
    out["window"] = {window.framebuffer_width(), window.framebuffer_height()};
    GuiConfig cfg;
    cfg.inputs_label = "bench";
    cfg.runs_db = "/tmp/adaptis-bench-gui-runs.db";
    GuiApp app(bench_costs(layers), make_uniform_cluster(devices), SimOptions{}, cfg, window.theme());
    PlanRequest req;
    req.schedule = "zb-h1";
    req.devices = devices;
    req.microbatches = mbs;
    auto t0 = Clock::now();
    explorer::EditResult r = app.start_with_request(req);
    if (!r.applied) throw std::runtime_error(r.message);
    out["schedule"] = req.schedule;
    out["actions"] = app.core().editor().plan().num_actions();
    out["load_ms"] = ms_since(t0);

    // One frame: CPU time to build it (our UI + ImGui's draw lists), then the whole frame with the
    // OpenGL draw and glFinish.
    auto frame = [&](const ImVec2* mouse, double& cpu_ms, double& total_ms, size_t& vertices) {
      const auto a = Clock::now();
      window.poll(false, 0);
      window.begin_frame(mouse == nullptr, mouse);
      app.frame();
      const double ui = ms_since(a);
      window.render();
      cpu_ms = ui;
      vertices = static_cast<size_t>(ImGui::GetDrawData()->TotalVtxCount);
      window.finish();
      window.swap();
      total_ms = ms_since(a);
    };

    double t_end = 0;
    nlohmann::json views = nlohmann::json::array();
    auto measure = [&](const std::string& name, const std::function<void(int)>& before, bool hover) {
      std::vector<double> cpu, total;
      size_t vtx = 0;
      for (int i = 0; i < frames + 5; ++i) {
        before(i);
        double c = 0, tt = 0;
        size_t v = 0;
        ImVec2 m;
        if (hover) {
          const float y = app.gantt().row_y(0, (i * 7) % devices);
          const TimeAxis& ax = app.gantt().axis();
          m = ImVec2(ax.x0 + ax.width * (0.1f + 0.8f * (i % 17) / 17.0f), y);
        }
        frame(hover ? &m : nullptr, c, tt, v);
        if (i >= 5) {
          cpu.push_back(c);
          total.push_back(tt);
          vtx = std::max(vtx, v);
        }
      }
      nlohmann::json j;
      j["view"] = name;
      j["ui_cpu"] = stats(cpu);
      j["frame_with_render"] = stats(total);
      j["max_vertices"] = vtx;
      views.push_back(j);
    };

    // Settle the layout and learn the iteration length.
    for (int i = 0; i < 3; ++i) {
      double c, tt;
      size_t v;
      frame(nullptr, c, tt, v);
    }
    t_end = app.core().side(0).timeline().t_end;
    out["iteration_ms"] = t_end;
    // Where the vertices of the whole-iteration view go, per ImGui window (draw list).
    {
      app.core().fit_view();
      double c, tt;
      size_t v;
      frame(nullptr, c, tt, v);
      nlohmann::json by_window = nlohmann::json::object();
      const ImDrawData* dd = ImGui::GetDrawData();
      for (int i = 0; i < dd->CmdListsCount; ++i) {
        const ImDrawList* dl = dd->CmdLists[i];
        const std::string name = dl->_OwnerName ? dl->_OwnerName : "?";
        by_window[name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1)] = dl->VtxBuffer.Size;
      }
      out["fit_vertices_by_window"] = by_window;
      // The rows' vertices with each overlay turned off in turn: what each layer of the Gantt costs.
      auto rows_vertices = [&] {
        double c2, t2;
        size_t v2;
        frame(nullptr, c2, t2, v2);
        const ImDrawData* d2 = ImGui::GetDrawData();
        for (int i = 0; i < d2->CmdListsCount; ++i)
          if (d2->CmdLists[i]->_OwnerName && std::string(d2->CmdLists[i]->_OwnerName).find("##rows") != std::string::npos)
            return d2->CmdLists[i]->VtxBuffer.Size;
        return 0;
      };
      nlohmann::json by_toggle = nlohmann::json::object();
      by_toggle["all"] = rows_vertices();
      GanttToggles& tg = app.ui().toggles;
      tg.transfers = false;
      by_toggle["without send/recv lanes"] = rows_vertices();
      tg.bubbles = false;
      by_toggle["also without bubbles"] = rows_vertices();
      tg.critical = false;
      by_toggle["also without critical path"] = rows_vertices();
      tg = GanttToggles{};
      out["fit_rows_vertices"] = by_toggle;
    }
    measure("fit whole iteration", [&](int) { app.core().fit_view(); }, false);
    measure("zoom 10%", [&](int) { app.core().set_window(t_end * 0.45, t_end * 0.55); }, false);
    measure("zoom 1% (labels)", [&](int) { app.core().set_window(t_end * 0.495, t_end * 0.505); }, false);
    measure("pan every frame at 10%", [&](int i) {
      app.core().set_window(t_end * (0.05 + 0.01 * i), t_end * (0.15 + 0.01 * i));
    }, false);
    measure("hover (tooltips) at fit", [&](int) { app.core().fit_view(); }, true);
    explorer::EditResult cmp = app.core().compare_with_schedule("1f1b");
    if (cmp.applied) measure("compare zb-h1 vs 1f1b, fit", [&](int) { app.core().fit_view(); }, false);
    app.core().clear_compare();
    out["views"] = views;

    // Edit latency at this size: move a stage boundary (validate + simulate), then the frame that
    // rebuilds the lanes and draws them.
    std::vector<double> edit, edit_frame;
    for (int k = 0; k < 5; ++k) {
      // Boundary 1 one layer right, then back: both always valid (every stage has >= 2 layers).
      const Partition& p = app.core().editor().plan().partition;
      const int b = 1;
      const int layer = p.bounds[b] + ((k % 2) ? -1 : 1);
      auto a = Clock::now();
      explorer::EditResult er = app.core().move_boundary(b, layer);
      edit.push_back(ms_since(a));
      double c, tt;
      size_t v;
      frame(nullptr, c, tt, v);
      edit_frame.push_back(c);
      if (!er.applied) throw std::runtime_error("bench edit refused: " + er.message);
    }
    out["edit_resimulate"] = stats(edit);
    out["edit_next_frame_ui_cpu"] = stats(edit_frame);
  } catch (const std::exception& e) {
    print_skip(std::string("cannot run: ") + e.what());
    return 0;
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
#else
int main() {
  print_skip("built without the desktop GUI (-DADAPTIS_GUI=ON needs ImGui, GLFW and OpenGL)");
  return 0;
}
#endif
