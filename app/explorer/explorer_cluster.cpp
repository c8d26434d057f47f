// The explorer's whole-cluster plans: the search's inputs (GPUs, global batch), starting and
// cancelling it (the driver runs it), its ranked table, and putting a row's plan on screen with its
// per-GPU costs and pipeline replica.
#include <algorithm>

#include "adaptis/model/error.h"
#include "adaptis/model/parallel_costs.h"
#include "common/format.h"
#include "explorer/explorer.h"

namespace adaptis::explorer {

using app::strf;

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

std::string Explorer::cluster_search_blocker() const {
  if (!config_.cluster_plans.model)
    return "the cluster-plan search derives per-GPU costs from a model spec: start with --model FILE "
           "(these costs came from " + (config_.costs_label.empty() ? std::string("a cost file") : config_.costs_label) + ")";
  return "";
}

int Explorer::cluster_max_gpus() const {
  const Cluster& c = config_.cluster_plans.cluster;
  return std::max(c.topology.num_gpus(), c.num_devices());
}

int Explorer::cluster_gpus() const {
  const int g = config_.cluster_plans.options.gpus;
  return g > 0 ? g : cluster_max_gpus();
}

long long Explorer::cluster_batch_tokens() const {
  const long long t = config_.cluster_plans.options.global_batch_tokens;
  if (t > 0) return t;
  const long long seq = config_.cluster_plans.model ? config_.cluster_plans.model->seq_len : 0;
  return kDefaultSequencesPerGpu * cluster_gpus() * std::max(1LL, seq);
}

bool Explorer::set_cluster_gpus(int gpus) {
  const int most = cluster_max_gpus();
  if (gpus < 1 || gpus > most) {
    note(strf("cluster plans: GPUs must be 1..%d (the cluster's), got %d", most, gpus), true);
    return false;
  }
  const long long tokens = cluster_batch_tokens();  // the batch stays as it was (its default followed the GPUs)
  config_.cluster_plans.options.gpus = gpus;
  config_.cluster_plans.options.global_batch_tokens = tokens;
  note(strf("cluster plans: %d GPUs, global batch %lld tokens (C searches)", gpus, tokens));
  return true;
}

bool Explorer::set_cluster_batch_tokens(long long tokens) {
  const long long seq = config_.cluster_plans.model ? config_.cluster_plans.model->seq_len : 0;
  if (tokens < 1) {
    note(strf("cluster plans: the global batch must be at least one sequence, got %lld tokens", tokens), true);
    return false;
  }
  if (seq > 0 && tokens % seq != 0) {
    note(strf("cluster plans: the global batch must be whole sequences of %lld tokens, got %lld tokens", seq, tokens),
         true);
    return false;
  }
  config_.cluster_plans.options.global_batch_tokens = tokens;
  note(strf("cluster plans: %d GPUs, global batch %lld tokens (C searches)", cluster_gpus(), tokens));
  return true;
}

void Explorer::start_cluster_search(bool show_best) {
  if (cluster_.state == JobState::Running) return note("the cluster-plan search is already running (cancel it first)", true);
  if (const std::string why = cluster_search_blocker(); !why.empty()) return note(why, true);
  ClusterPlansState next;
  next.options = config_.cluster_plans.options;
  next.options.gpus = cluster_gpus();
  next.options.global_batch_tokens = cluster_batch_tokens();
  next.options.sim = editor_.sim_options();
  next.options.sim.record_memory_timeline = false;
  next.options.sim.record_collectives = false;  // rows are re-simulated with them when chosen
  if (next.options.threads <= 0) next.options.threads = config_.optimizer.threads;
  if (next.options.time_limit_s <= 0) next.options.time_limit_s = config_.optimizer.time_limit_s;
  next.state = JobState::Running;
  next.progress.phase = "starting";
  next.show_best = show_best;
  // The table of the last search stays until this one ends.
  next.result = cluster_.result;
  next.rows = cluster_.rows;
  next.rows_fit = cluster_.rows_fit;
  next.selected = cluster_.selected;
  next.loaded = cluster_.loaded;
  next.loaded_revision = cluster_.loaded_revision;
  cluster_ = std::move(next);
  request(Effect(EffectKind::StartClusterSearch));
  note(strf("cluster-plan search started: %d GPUs, global batch %lld tokens, limit %g s", cluster_.options.gpus,
            cluster_.options.global_batch_tokens, cluster_.options.time_limit_s));
}

void Explorer::cancel_cluster_search() {
  if (cluster_.state != JobState::Running) return;
  request(Effect(EffectKind::CancelClusterSearch));
  note("cancelling the cluster-plan search (it keeps its best so far)...");
}

void Explorer::on_cluster_search_progress(const ClusterSearchProgress& p) {
  if (cluster_.state != JobState::Running) return;
  cluster_.progress = p;
}

void Explorer::on_cluster_search_finished(const ClusterSearchJob::Outcome& out) {
  if (out.how == JobState::Failed || !out.result) {
    cluster_.state = JobState::Failed;
    cluster_.message = out.error;
    return note("cluster-plan search failed: " + first_line(out.error), true);
  }
  const ClusterSearchResult& r = *out.result;
  cluster_.state = out.how;
  cluster_.result = out.result;
  auto rows = std::make_shared<std::vector<ClusterCandidate>>(r.ranked);
  cluster_.rows_fit = !rows->empty();
  if (rows->empty() && r.best.evaluated) rows->push_back(r.best);  // the closest to fitting
  cluster_.rows = std::move(rows);
  cluster_.selected = 0;
  cluster_.loaded = -1;
  cluster_.message = r.message;
  std::string what = out.how == JobState::Cancelled ? "cluster-plan search cancelled, best so far" : "cluster-plan search done";
  if (cluster_.rows->empty()) return note(what + ": no configuration evaluated; " + first_line(r.message), true);
  const ClusterCandidate& best = cluster_.rows->front();
  what += strf(": %s, %.0f tokens/s, MFU %.1f%%", describe(best.config).c_str(), best.tokens_per_s, 100 * best.mfu);
  what += cluster_.rows_fit ? strf(" (%zu configurations ranked; enter shows one)", cluster_.rows->size())
                            : std::string(" - nothing fits memory, this is the closest");
  note(what, !cluster_.rows_fit);
  if (cluster_.show_best && cluster_.rows_fit && !editing_locked()) use_cluster_row(0);
}

void Explorer::select_cluster_row(int row) {
  const int n = cluster_.rows ? static_cast<int>(cluster_.rows->size()) : 0;
  cluster_.selected = n > 0 ? std::clamp(row, 0, n - 1) : 0;
}

int Explorer::cluster_row_on_screen() const {
  if (cluster_.loaded < 0 || !has_plan() || editor_.revision() != cluster_.loaded_revision) return -1;
  return cluster_.loaded;
}

EditResult Explorer::use_cluster_row(int row) {
  const int n = cluster_.rows ? static_cast<int>(cluster_.rows->size()) : 0;
  if (row < 0 || row >= n)
    return after_edit({false, n == 0 ? std::string("no cluster plans yet: C runs the search")
                                     : strf("cluster plans: rows are 1..%d, got %d", n, row + 1)});
  if (editing_locked()) return after_edit({false, "the optimizer is driving the plan: cancel it first"});
  const ClusterCandidate& c = (*cluster_.rows)[static_cast<size_t>(row)];
  const std::string label = strf("cluster plan #%d", row + 1);
  if (!c.evaluated || c.plan.num_devices() == 0) return after_edit({false, label + ": the search has no plan for it"});
  CostTable costs;
  Cluster replica;
  try {
    costs = parallel_costs(*config_.cluster_plans.model, config_.cluster_plans.cluster, c.config);
    replica = replica_cluster(config_.cluster_plans.cluster, c.config);
  } catch (const InputError& e) {
    return after_edit({false, label + ": " + e.what()});
  }
  Plan plan = c.plan;
  plan.parallel = c.config;
  EditResult r = editor_.load_plan_with(std::move(costs), std::move(replica), std::move(plan), label);
  if (!r.applied) return after_edit(r);
  // A comparison and an overlay were of the old costs and devices.
  compare_ = Comparison{};
  overlay_.reset();
  view_.selected = {};
  last_custom_ = editor_.eval_ptr();
  last_custom_label_ = label;
  cluster_.selected = row;
  cluster_.loaded = row;
  cluster_.loaded_revision = editor_.revision();
  const SimResult& sim = editor_.sim();
  note(strf("%s: %s, %s pipeline: %s per iteration, %.0f tokens/s, MFU %.1f%%, exposed comm %s; undo history starts here",
            label.c_str(), describe(c.config).c_str(), c.schedule.c_str(), app::format_ms(sim.iteration_ms).c_str(), sim.parallel.tokens_per_s,
            100 * sim.parallel.mfu, app::format_ms(sim.parallel.exposed_comm_ms).c_str()));
  plan_changed();
  fit_view();
  return r;
}

}  // namespace adaptis::explorer
