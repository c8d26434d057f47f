// The Cluster view: the whole-cluster search's inputs (GPUs, global batch), its progress, and the
// ranked table of configurations; enter puts a row's pipeline on screen. Also the one-line summary
// of a whole-cluster plan the other views show.
#include <algorithm>

#include "common/format.h"
#include "tui/render_views.h"

namespace adaptis::tui {

namespace {

std::string zero_text(const ParallelConfig& p) {
  if (p.distributed_optimizer) return "dopt";
  return std::to_string(p.zero);
}

std::string recompute_text(Recompute r) {
  switch (r) {
    case Recompute::None: return "-";
    case Recompute::Selective: return "sel";
    case Recompute::Full: return "full";
  }
  return "?";
}

}  // namespace

std::string parallel_text(const explorer::Explorer& core) {
  if (!core.has_plan() || !core.editor().plan().parallel) return "";
  const SimResult& sim = core.editor().sim();
  if (!sim.has_parallel) return "";
  const ParallelMetrics& m = sim.parallel;
  return app::strf("%s on %d GPUs: %.0f tokens/s, MFU %.1f%%, exposed comm %s (dp sync %s)",
                   describe(*core.editor().plan().parallel).c_str(), m.gpus, m.tokens_per_s, 100 * m.mfu,
                   app::format_ms(m.exposed_comm_ms).c_str(), app::format_ms(m.exposed_grad_sync_ms).c_str());
}

void draw_cluster_view(const TuiState& s, Screen& scr, Rect r) {
  const explorer::Explorer& core = s.core;
  int y = r.y;
  const int bottom = r.y + r.h;
  if (const std::string why = core.cluster_search_blocker(); !why.empty()) {
    y = draw_wrapped(scr, r, y, "Whole-cluster plans: the fastest parallel configuration (pp, tp, dp, cp, ep, ZeRO, "
                                "micro-batching, recompute) and its pipeline for this model on this cluster.",
                     Style::Normal);
    draw_wrapped(scr, r, y + 1, why, Style::Bad);
    return;
  }
  const explorer::ClusterPlansState& st = core.cluster_plans();
  const ModelSpec& model = *core.config().cluster_plans.model;
  const long long tokens = core.cluster_batch_tokens();
  int x = scr.put(r.x, y, app::strf("%s on %s: ", model.name.c_str(), core.config().cluster_plans.cluster.name.c_str()),
                  Style::Header, r.w);
  x = scr.put(x, y, app::strf("GPUs %d/%d ", core.cluster_gpus(), core.cluster_max_gpus()));
  x = scr.put(x, y, "d/D", Style::Key);
  x = scr.put(x, y, app::strf("  batch %lld tokens = %lld seq ", tokens, model.seq_len > 0 ? tokens / model.seq_len : 0));
  x = scr.put(x, y, "m/M", Style::Key);
  x = scr.put(x, y, "  ");
  x = scr.put(x, y, "C", Style::Key);
  scr.put(x, y, st.state == explorer::JobState::Running ? " running" : " search", Style::Dim);
  if (++y >= bottom) return;

  // The search's state: progress while it runs, its summary or error after.
  if (st.state == explorer::JobState::Running) {
    const double f = std::clamp(st.progress.fraction, 0.0, 1.0);
    int px = scr.put(r.x, y, "searching [", Style::Warn);
    const int bar_w = std::clamp(r.w / 5, 10, 30);
    draw_bar(scr, px, y, bar_w, {{f, '#', Style::Progress}}, '.', Style::BarEmpty);
    px = scr.put(px + bar_w, y, "] ", Style::Normal);
    scr.put(px, y,
            app::strf("%3.0f%% %.1fs %s %lld/%lld  best %s  (x cancels, keeps the best)", 100 * f,
                      st.progress.elapsed_s, st.progress.phase.c_str(), st.progress.done, st.progress.total,
                      st.progress.best.empty() ? "-" : st.progress.best.c_str()),
            Style::Normal, r.w - (px - r.x));
  } else if (st.state == explorer::JobState::Failed) {
    scr.put(r.x, y, "search failed: " + st.message, Style::Bad, r.w);
  } else if (!st.message.empty()) {
    scr.put(r.x, y, (st.state == explorer::JobState::Cancelled ? "cancelled, best so far: " : "") + st.message,
            st.rows_fit ? Style::Dim : Style::Bad, r.w);
  } else {
    scr.put(r.x, y, "C searches every configuration the model and cluster allow; enter on a row shows its pipeline",
            Style::Dim, r.w);
  }
  y += 2;
  if (y >= bottom) return;
  if (!st.rows || st.rows->empty()) {
    if (st.state != explorer::JobState::Running)
      scr.put(r.x, y, "no cluster plans yet", Style::Dim, r.w);
    return;
  }

  scr.put(r.x, y, "    #  pp tp dp cp ep zero sp mbs    m rc       iter  tokens/s   MFU   mem/GPU exp.comm  schedule",
          Style::Header, r.w);
  if (++y >= bottom) return;
  const int n = static_cast<int>(st.rows->size());
  const int rows_room = std::max(1, bottom - y - 1);
  const int first = scroll_first(st.selected, rows_room, n);
  const int on_screen = core.cluster_row_on_screen();
  for (int i = first; i < n && y < bottom - 1; ++i, ++y) {
    const ClusterCandidate& c = (*st.rows)[static_cast<size_t>(i)];
    const ParallelConfig& p = c.config;
    const std::string line = app::strf(
        "%c%c%3d %3d %2d %2d %2d %2d %4s %2s %3d %4d %-4s %9s %9.0f %5.1f%% %9s %8s  %s", i == st.selected ? '>' : ' ',
        i == on_screen ? '*' : ' ', i + 1,
        p.pp, p.tp, p.dp, p.cp, p.ep, zero_text(p).c_str(), p.sequence_parallel ? "sp" : "-", p.micro_batch_size,
        p.microbatches, recompute_text(p.recompute).c_str(), app::format_ms(c.iteration_ms).c_str(), c.tokens_per_s,
        100 * c.mfu, app::format_bytes(c.peak_memory_bytes).c_str(), app::format_ms(c.exposed_comm_ms).c_str(),
        c.schedule.c_str());
    const Style style = i == st.selected ? Style::Selected : !c.fits ? Style::Bad : i == on_screen ? Style::Good
                                                                                                   : Style::Normal;
    scr.put(r.x, y, line, style, r.w);
  }
  if (y < bottom)
    scr.put(r.x, y,
            st.rows_fit ? app::strf("%d ranked (fastest first); j/k select (>), enter shows its pipeline (* on screen)", n)
                        : std::string("nothing fits memory: the closest configuration; try more GPUs or a smaller batch"),
            st.rows_fit ? Style::Dim : Style::Bad, r.w);
}

}  // namespace adaptis::tui
