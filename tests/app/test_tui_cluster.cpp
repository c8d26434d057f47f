// The TUI's Cluster view over the explorer core: C runs the whole-cluster search in the background,
// the table ranks it, d/D and m/M change the search's GPUs and batch (not the plan's devices or
// micro-batches), enter shows a row's pipeline on the Gantt with its tp and dp rows and the cluster
// line; without a model spec the view says why.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "adaptis/model/cost_model.h"
#include "adaptis/planner.h"
#include "tui/gantt_cells.h"
#include "tui/keys.h"
#include "tui/render.h"
#include "tui/session.h"

using namespace adaptis;
using namespace adaptis::tui;

namespace {

std::string sample(const std::string& rel) { return std::string(ADAPTIS_SOURCE_DIR) + "/" + rel; }

TuiState cluster_state(bool with_model) {
  const ModelSpec model = load_model_spec(sample("samples/models/llama-2-7b.json"));
  const Cluster cluster = load_cluster(sample("samples/clusters/h100x8.json"));
  explorer::ExplorerConfig cfg;
  cfg.db_path = "/nonexistent-adaptis-test/runs.db";
  cfg.optimizer.threads = 1;
  cfg.optimizer.time_limit_s = 30;
  cfg.cluster_path = "h100x8.json";
  if (with_model) {
    cfg.cluster_plans.model = std::make_shared<const ModelSpec>(model);
    cfg.cluster_plans.cluster = cluster;
    // Narrowed so the rows have tensor parallelism (a tp row on the Gantt) and stay quick.
    cfg.cluster_plans.options.tp = {2};
    cfg.cluster_plans.options.pp = {2};
    cfg.cluster_plans.options.cp = {1};
    cfg.cluster_plans.options.optimize_top = 1;
    cfg.cluster_plans.options.evaluations = 300;
  }
  PlanRequest req;
  req.schedule = "1f1b";
  req.microbatches = 8;
  TuiState s = make_state(app::Inputs{analytical_costs(model, cluster.devices.front()), cluster, SimOptions{}}, req, cfg);
  s.color = false;
  return s;
}

void settle(TuiSession& t) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (t.busy() && std::chrono::steady_clock::now() < deadline) {
    t.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  t.poll();
}

std::string screen(const TuiSession& t) { return render(t.state(), 100, 30).text(); }

std::string line_starting(const std::string& text, const std::string& prefix) {
  std::istringstream is(text);
  for (std::string l; std::getline(is, l);)
    if (l.rfind(prefix, 0) == 0) return l;
  return "";
}

}  // namespace

TEST(TuiCluster, SearchRanksRowsAndEnterShowsTheLanes) {
  TuiSession t(cluster_state(true));
  const int devices = t.state().core.editor().plan().num_devices();
  t.key('7');
  EXPECT_NE(screen(t).find("no cluster plans yet"), std::string::npos) << screen(t);
  // The search's inputs, not the plan's.
  t.key('M');
  EXPECT_EQ(t.state().core.cluster_batch_tokens(), 2 * 8 * 4096);
  t.key('D');
  EXPECT_EQ(t.state().core.cluster_gpus(), 4);
  t.key('d');
  EXPECT_EQ(t.state().core.cluster_gpus(), 8);
  EXPECT_EQ(t.state().core.editor().plan().num_devices(), devices);
  EXPECT_EQ(t.state().core.editor().plan().num_microbatches, 8);

  t.key('C');
  EXPECT_EQ(t.state().core.cluster_plans().state, explorer::JobState::Running);
  settle(t);
  ASSERT_EQ(t.state().core.cluster_plans().state, explorer::JobState::Done) << t.state().core.message().text;
  const std::string table = screen(t);
  EXPECT_NE(table.find("    #  pp tp dp cp ep zero sp mbs"), std::string::npos) << table;
  EXPECT_NE(table.find(">   1   2  2  2  1  1"), std::string::npos) << table;  // pp2 tp2 dp2 cp1 ep1
  t.key('j');
  EXPECT_EQ(t.state().core.cluster_plans().selected, 1);
  t.key(key::Enter);
  EXPECT_EQ(t.state().view, View::Gantt);
  EXPECT_EQ(t.state().core.cluster_row_on_screen(), 1);
  const std::string gantt = screen(t);
  const std::string tp_row = line_starting(gantt, "   t ");
  EXPECT_NE(tp_row.find('t', 4), std::string::npos) << gantt;  // tensor-parallel shares
  const std::string dp_row = line_starting(gantt, "   g ");
  EXPECT_NE(dp_row.find_first_of("gzo", 4), std::string::npos) << gantt;
  EXPECT_NE(gantt.find("t/c/e tp/cp/ep"), std::string::npos) << gantt;
  EXPECT_NE(gantt.find("pp2 tp2 dp2"), std::string::npos) << gantt;  // the cluster line
  EXPECT_NE(gantt.find("on 8 GPUs: "), std::string::npos) << gantt;
  // An action's detail line names its tensor-parallel share.
  t.key(key::Enter);
  EXPECT_NE(screen(t).find("tp comm "), std::string::npos) << screen(t);
  t.key('7');
  EXPECT_NE(screen(t).find(">*  2 "), std::string::npos) << screen(t);
  t.shutdown();
}

TEST(TuiCluster, WithoutAModelSpecTheViewSaysWhy) {
  TuiSession t(cluster_state(false));
  t.key('7');
  EXPECT_NE(screen(t).find("start with --model FILE"), std::string::npos) << screen(t);
  t.key('C');
  EXPECT_TRUE(t.state().core.message().error);
  EXPECT_FALSE(t.busy());
  t.key('d');  // the view's own keys still do nothing harmful
  EXPECT_EQ(t.state().core.editor().plan().num_devices(), 8);
}

TEST(TuiCluster, CollectiveCellsShowTheKindCoveringMost) {
  explorer::Lane lane;
  explorer::TimelineBox sync;
  sync.start = 0;
  sync.end = 1.6;
  sync.kind = explorer::BoxKind::GradSync;
  explorer::TimelineBox gather = sync;  // overlaps the sync (another stream)
  gather.start = 1.2;
  gather.end = 2.1;
  gather.kind = explorer::BoxKind::ParamGather;
  explorer::TimelineBox opt = sync;
  opt.start = 3.9;
  opt.end = 4;
  opt.kind = explorer::BoxKind::OptimizerStep;
  lane.boxes = {sync, gather, opt};
  lane.finish();
  const std::vector<char> cells = collective_row(lane, 0, 4, 4);
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells[0], 'g');
  EXPECT_EQ(cells[1], 'z');  // the gather covers 0.8 ms of it, the sync 0.6
  EXPECT_EQ(cells[2], 'z');  // the gather's 0.1 ms tail: any overlap shows
  EXPECT_EQ(cells[3], 'o');  // short, but any overlap shows
  EXPECT_EQ(collective_letter(explorer::BoxKind::TensorComm), 't');
  EXPECT_EQ(collective_letter(explorer::BoxKind::ContextComm), 'c');
  EXPECT_EQ(collective_letter(explorer::BoxKind::ExpertComm), 'e');
  EXPECT_EQ(collective_row(lane, 0, 4, 0).size(), 0u);
}
