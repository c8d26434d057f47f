#include "targets.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "adaptis/executor/machine_info.h"
#include "adaptis/executor/run_report.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/executor/run_store.h"
#include "adaptis/executor/run_trace.h"
#include "adaptis/model/cost_model.h"
#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/octopipe_plan.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/validator.h"

namespace adaptis::fuzz {

namespace {

namespace fs = std::filesystem;

std::vector<std::string> files_in(const std::string& dir, const std::string& ext) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ext) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());  // directory order is not deterministic
  return out;
}

std::vector<std::string> contents(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) out.push_back(read_text_file(p));
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

CostTable unit_costs(int layers) {
  CostTable t;
  t.model = "fuzz";
  for (int i = 0; i < layers; ++i) {
    LayerCost c;
    c.name = "layers." + std::to_string(i);
    c.kind = "transformer";
    c.f_ms = 1.0;
    c.b_ms = 1.0;
    c.w_ms = 1.0;
    c.state_bytes = c.act_b_bytes = c.act_w_bytes = c.out_bytes = 1 << 20;
    t.layers.push_back(c);
  }
  return t;
}

Plan small_plan(const std::string& schedule, int devices, int microbatches, int layers) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = devices;
  r.microbatches = microbatches;
  return build_plan(r, layers);
}

// The checks after a successful read: the numbers that come out must be finite.
void expect_finite(double v, const std::string& what) {
  if (!std::isfinite(v) || v < 0) throw SilentlyWrong(what + " is " + std::to_string(v));
}

void expect_sane_simulation(const Plan& plan, const CostTable& costs, const Cluster& cluster, const std::string& what) {
  SimResult sim = simulate(plan, costs, cluster);
  if (!sim.ok) return;  // a deadlock is reported, not wrong
  expect_finite(sim.iteration_ms, what + ": simulated iteration (ms)");
}

void expect_valid_costs(const CostTable& t, const std::string& what) {
  try {
    validate_cost_table(t, what);
  } catch (const InputError& e) {
    throw SilentlyWrong(std::string("accepted, yet ") + e.what());
  }
}

// A plan accepted by a reader is valid, simulates to a finite time and survives our own exports.
void expect_usable_plan(const Plan& plan, const std::string& what) {
  ValidationReport r = validate_plan(plan, -1);
  if (!r.ok()) throw SilentlyWrong(what + ": accepted an invalid plan: " + r.errors.front());
  if (plan.num_actions() > 200000 || plan.num_devices() > 256) return;  // keep each input fast
  expect_sane_simulation(plan, unit_costs(plan.partition.num_layers()), make_uniform_cluster(plan.num_devices()), what);
}

// ---- the run database ----

const char* const kRunColumns[] = {"plan_json", "model_json", "costs_json", "machine_json", "microbatch_losses"};

struct RunDb {
  std::string path;
  int64_t id = 0;
  std::vector<std::string> seeds;  // per column, the value the run was recorded with
  sqlite3* db = nullptr;
  RunDb() = default;
  RunDb(const RunDb&) = delete;
  RunDb& operator=(const RunDb&) = delete;
  ~RunDb() { sqlite3_close(db); }  // the connection's memory is the leak the sanitizer would report
};

// Records one small run (2 devices, 1f1b, 4 micro-batches) with predicted and measured intervals.
std::shared_ptr<RunDb> make_run_db(const std::string& scratch) {
  auto r = std::make_shared<RunDb>();
  r->path = scratch + "/runs.db";
  const int D = 2, m = 4, L = 4;
  const Plan plan = small_plan("1f1b", D, m, L);
  const CostTable costs = unit_costs(L);
  const SimResult sim = simulate(plan, costs, make_uniform_cluster(D));
  exec::RunInfo info;
  info.command = "fuzz";
  info.schedule = plan.name;
  info.model_name = "fuzz";
  info.model = {{"name", "fuzz"}, {"micro_batch", 1}, {"seq", 16}, {"hidden", 32}};
  info.plan = plan_to_json(plan);
  info.costs = cost_table_json(costs);
  info.machine = {{"cpu", "fuzz cpu"}, {"logical_cores", 2}};
  info.num_devices = D;
  info.num_stages = plan.num_stages();
  info.num_microbatches = m;
  info.steps = 1;
  info.predicted_iteration_ms = sim.iteration_ms;
  exec::StepRecord step;
  step.loss = 1.5;
  step.microbatch_losses = {1.0, 2.0, 1.5, 1.5};
  step.grad_checksum = "0";
  for (int d = 0; d < D; ++d) {
    exec::DeviceInfo di;
    di.device = d;
    di.name = "cpu-thread-" + std::to_string(d);
    di.stages = std::to_string(d);
    info.devices.push_back(di);
    for (size_t i = 0; i < sim.timeline[d].size(); ++i) {
      const TimedAction& ta = sim.timeline[d][i];
      const auto ns = [](double ms) { return static_cast<int64_t>(ms * 1e6); };
      info.predicted.push_back({d, ta.action.op, ta.action.stage, ta.action.mb, ns(ta.start), ns(ta.end)});
      exec::MeasuredInterval mi;
      mi.device = d;
      mi.seq = static_cast<int>(i);
      mi.kind = exec::MeasuredKind::Compute;
      mi.op = ta.action.op;
      mi.stage = ta.action.stage;
      mi.mb = ta.action.mb;
      mi.start_ns = ns(ta.start);
      mi.end_ns = ns(ta.end);
      step.intervals.push_back(mi);
    }
  }
  step.end_ns = step.pipeline_end_ns = static_cast<int64_t>(sim.iteration_ms * 1e6);
  {
    exec::RunStore store(r->path);
    r->id = store.begin_run(info);
    store.record_step(r->id, step);
    store.finish_run(r->id, exec::RunStatus::Complete);
  }
  r->seeds = {info.plan.dump(), info.model.dump(), info.costs.dump(), info.machine.dump(),
              nlohmann::json(step.microbatch_losses).dump()};
  if (sqlite3_open(r->path.c_str(), &r->db) != SQLITE_OK) throw std::runtime_error("fuzz: cannot open " + r->path);
  sqlite3_busy_timeout(r->db, 5000);
  return r;
}

void sql(sqlite3* db, const std::string& statement, const std::vector<std::string>& texts, int64_t id) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, statement.c_str(), -1, &st, nullptr) != SQLITE_OK)
    throw std::runtime_error("fuzz: " + std::string(sqlite3_errmsg(db)));
  int i = 1;
  for (const auto& t : texts) sqlite3_bind_text(st, i++, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, i, id);
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) throw std::runtime_error("fuzz: " + std::string(sqlite3_errmsg(db)));
}

// What `adaptis show N --json`, `show N` and `export N --chrome-trace` do with a record.
void use_run(const exec::RunRecord& rec) {
  nlohmann::json j;
  j["machine"] = rec.machine;
  j["plan"] = rec.plan;
  j["model_config"] = rec.model;
  j["cost_source"] = rec.costs.value("source", "");
  j["cpu"] = rec.machine.value("cpu", "?");
  j["cores"] = rec.machine.value("logical_cores", 0);
  (void)j.dump(2);
  if (!rec.steps.empty()) {
    (void)exec::compare_run(rec);
    (void)exec::run_chrome_trace(rec).dump();
  }
}

}  // namespace

std::vector<Target> make_targets(const std::string& samples, const std::string& scratch) {
  std::vector<Target> t;
  const std::vector<std::string> json_words = {
      "null", "true", "false", "{}", "[]", "\"\"", ",", ":", "\"a\":", "{\"a\":1}", "[[[", "]]]", "\\u0000", "\\ud800",
      "\"\\u001b[2J\"", "1e999", "-1e999"};
  auto with = [&](std::vector<std::string> words) {
    words.insert(words.end(), json_words.begin(), json_words.end());
    return words;
  };

  // Cost files: the authors' profiles and our own format.
  {
    Target x;
    x.name = "costs";
    x.seeds = contents(files_in(samples + "/costs/peer-profiles", ".json"));
    const std::string ours = scratch + "/seed-costs.json";
    save_cost_table(analytical_costs(load_model_spec(samples + "/models/tiny-llama.json"), Device{}), ours);
    x.seeds.push_back(read_text_file(ours));
    x.dictionary = with({"\"layers\":", "\"f\":", "\"b\":", "\"w\":", "\"time_unit_ms\":", "\"microbatches\":",
                         "\"format\":", "\"type\":", "\"kind\":", "\"out_bytes\":", "\"state_bytes\":", "1e308"});
    const std::string path = scratch + "/costs.json";
    x.run = [path](const std::string& in) {
      write_file(path, in);
      CostTable c = load_cost_table(path);
      expect_valid_costs(c, "cost file");
      if (c.num_layers() >= 2)
        expect_sane_simulation(small_plan("1f1b", 2, 4, c.num_layers()), c, make_uniform_cluster(2), "cost file");
    };
    t.push_back(std::move(x));
  }

  // Model specs, through the analytical cost model.
  {
    Target x;
    x.name = "model";
    x.seeds = contents(files_in(samples + "/models", ".json"));
    x.dictionary = with({"\"layers\":", "\"repeat\":", "\"layer\":", "\"pattern\":", "\"legend\":", "\"kind\":",
                         "\"hidden\":", "\"heads\":", "\"vocab\":", "\"experts\":", "\"defaults\":", "\"efficiency\":",
                         "\"gemm\": 1e-300", "\"seq_len\":", "\"mamba\"", "\"block\"", "\"parts\":", "\"transformer\""});
    x.run = [](const std::string& in) {
      ModelSpec spec = parse_model_spec(parse_json_text(in, "model.json"), "model.json");
      CostTable c = analytical_costs(spec, Device{});
      expect_valid_costs(c, "model.json");
    };
    t.push_back(std::move(x));
  }

  // Cluster files, then a simulation on the cluster's devices.
  {
    Target x;
    x.name = "cluster";
    x.seeds = contents(files_in(samples + "/clusters", ".json"));
    x.dictionary = with({"\"devices\":", "\"count\":", "\"node\":", "\"type\":", "\"intra_node\":", "\"inter_node\":",
                         "\"latency_us\":", "\"bandwidth_gbs\":", "\"hbm_bandwidth_tbs\":", "\"peak_tflops\":",
                         "\"hbm_gib\":", "\"speed\":", "\"memory_fraction\":", "\"H200\"", "\"fast\""});
    const std::string path = scratch + "/cluster.json";
    x.run = [path](const std::string& in) {
      write_file(path, in);
      Cluster c = load_cluster(path);
      for (const Device& d : c.devices) {
        expect_finite(d.peak_tflops * d.hbm_bytes * d.hbm_bandwidth * d.speed, "device numbers");
        if (!(d.speed > 0) || !(d.hbm_bandwidth > 0)) throw SilentlyWrong("a device with zero speed or bandwidth");
      }
      expect_finite(c.intra_node.transfer_ms(1e6) + c.inter_node.transfer_ms(1e6), "link times");
      if (c.num_devices() <= 64)
        expect_sane_simulation(small_plan("1f1b", c.num_devices(), 4, 2 * c.num_devices()),
                               unit_costs(2 * c.num_devices()), c, "cluster");
    };
    t.push_back(std::move(x));
  }

  // Plan JSON.
  {
    Target x;
    x.name = "plan_json";
    x.seeds = contents(files_in(samples + "/plans", ".json"));
    for (const char* s : {"1f1b", "zb-v", "dualpipev", "interleaved-1f1b"})
      x.seeds.push_back(plan_to_json(small_plan(s, 2, 4, 8)).dump(1));
    x.dictionary = with({"\"partition\":", "\"placement\":", "\"schedule\":", "\"microbatches\":", "\"F0.0\"",
                         "\"BW1.3\"", "\"&B0.1\"", "\"W2147483647.0\"", "4294967303", "4294967296", "\"format\":"});
    x.run = [](const std::string& in) {
      Plan p = plan_from_json(parse_json_text(in, "plan.json"), "plan.json");
      ValidationReport r = validate_plan(p, -1);
      if (r.ok()) expect_usable_plan(p, "plan.json");
    };
    t.push_back(std::move(x));
  }

  // PyTorch pipelining CSV, both formats; an accepted plan is exported back and re-read.
  {
    Target x;
    x.name = "pytorch_csv";
    for (const char* s : {"1f1b", "zb-h1", "zb-v", "dualpipev", "interleaved-1f1b-torch"})
      for (auto f : {PytorchCsvFormat::ComputeOnly, PytorchCsvFormat::ComputeComms})
        x.seeds.push_back(format_pytorch_csv(small_plan(s, 2, 4, 8), f));
    x.dictionary = {"0F0",  "1I1",         "0W0",   "1B3",     "SEND_F", "RECV_F", "SEND_B", "RECV_B", "OVERLAP_F_B",
                    "(",    ")",           ";",     ",",       "\n",     "\"",     "UNSHARD", "0F1000000",
                    "99999F0", "4294967297", "\r\n", ",,,,"};
    x.run = [](const std::string& in) {
      PytorchCsvImport opt;
      opt.num_layers = 64;
      Plan p = parse_pytorch_csv(in, opt, "schedule.csv");
      expect_usable_plan(p, "schedule.csv");
      if (p.num_actions() <= 20000) parse_pytorch_csv(format_pytorch_csv(p, PytorchCsvFormat::ComputeComms), opt, "re-export");
    };
    t.push_back(std::move(x));
  }

  // OctoPipe YAML and result.txt.
  {
    Target yaml, result;
    yaml.name = "octopipe_yaml";
    result.name = "octopipe_result";
    for (const char* s : {"1f1b", "zb-h1", "zb-v", "interleaved-1f1b"}) {
      Plan p = small_plan(s, 2, 4, 8);
      SimResult sim = simulate(p, unit_costs(8), make_uniform_cluster(2));
      yaml.seeds.push_back(format_octopipe_yaml(p, sim));
      result.seeds.push_back(format_octopipe_result_txt(p, sim));
    }
    yaml.dictionary = {"schedule: octopipe\n", "partition: [", "placement: [[", "scheduling:\n", "- (f, 0, 0, 0, 0, 1)\n",
                       "- (b, 9, 1, 1, 5, 6)\n", "(w, ", "#", "'", "\"", "[", "]", ",", "999999999", "\n  "};
    result.dictionary = {"f_0_0,0,1\n", "b_3_1,4,5\n", "w_1_0_0,2,3\n", "_", ",", "\n", "#", "999999999", "1e308", "nan"};
    yaml.run = [](const std::string& in) {
      OctopipeImport opt;  // the file carries its partition: no layer count to check it against
      expect_usable_plan(parse_octopipe_yaml(in, opt, "plan.yaml"), "plan.yaml");
    };
    result.run = [](const std::string& in) {
      OctopipeImport opt;
      opt.num_layers = 64;
      opt.devices = 2;
      expect_usable_plan(parse_octopipe_result_txt(in, opt, "result.txt"), "result.txt");
    };
    t.push_back(std::move(yaml));
    t.push_back(std::move(result));
  }

  // Megatron layout strings, with and without a model to check them against.
  {
    Target x;
    x.name = "megatron_layout";
    x.seeds = {"Et*3|(tt|)*29,m|L", "Ettt|tttt|tttt|tttL", "E|(t|)*6,L", "Et*13|t*14|t*14|t*14L", "(Et|tt|tt|ttL)"};
    const CostTable profile = load_cost_table(samples + "/costs/peer-profiles/nemotron-nano-v2-9B.json");
    Plan p = small_plan("1f1b", 4, 8, profile.num_layers());
    x.seeds.push_back(export_megatron(p, profile).layout);
    x.dictionary = {"E", "t", "m", "L", "|", "(", ")", "*", "*999999", ",", " ", "(t|)*", "*0"};
    x.open = "(";
    x.close = ")";
    const std::vector<std::string> kinds = layer_kinds(profile);
    x.run = [kinds](const std::string& in) {
      const int p = 1 + static_cast<int>(in.size() % 4);
      MegatronLayout ml = parse_megatron_layout(in, p, in.size() % 2 ? kinds : std::vector<std::string>{});
      if (ml.partition.num_stages() != ml.placement.num_stages())
        throw SilentlyWrong("layout: partition and placement disagree on the stage count");
    };
    t.push_back(std::move(x));
  }

  // The run database's stored JSON: one column replaced per input ("<column>\n<text>").
  {
    Target x;
    x.name = "run_db";
    auto db = make_run_db(scratch);
    for (size_t c = 0; c < 5; ++c) x.seeds.push_back(std::string(kRunColumns[c]) + "\n" + db->seeds[c]);
    x.dictionary = with({"\"partition\":", "\"placement\":", "\"schedule\":", "\"source\":", "\"cpu\":",
                         "\"logical_cores\":", "\"hidden\":", "\"seq\":", "\"micro_batch\":", "\"F0.0\""});
    x.run = [db](const std::string& in) {
      size_t nl = in.find('\n');
      size_t column = 0;
      std::string text = in;
      for (size_t c = 0; c < 5 && nl != std::string::npos; ++c)
        if (in.compare(0, nl, kRunColumns[c]) == 0) {
          column = c;
          text = in.substr(nl + 1);
        }
      std::vector<std::string> v(db->seeds.begin(), db->seeds.end());
      v[column] = text;
      sql(db->db, "UPDATE runs SET plan_json = ?1, model_json = ?2, costs_json = ?3, machine_json = ?4 WHERE id = ?5",
          {v[0], v[1], v[2], v[3]}, db->id);
      sql(db->db, "UPDATE steps SET microbatch_losses = ?1 WHERE run_id = ?2", {v[4]}, db->id);
      exec::RunStore store(db->path);
      use_run(store.load_run(db->id));
    };
    t.push_back(std::move(x));
  }
  return t;
}

}  // namespace adaptis::fuzz
