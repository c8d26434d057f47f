// The GPU profile database and the profiler's options, without a GPU: a profile saved and loaded back is the
// same (costs, per-unit kernel stats, CUPTI records in nsys-named tables), and bad input is refused clearly.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "adaptis/model/error.h"
#include "adaptis/profiler/gpu_profiler.h"
#include "adaptis/profiler/profile_store.h"

using namespace adaptis;
using namespace adaptis::prof;

namespace {

std::string temp_db(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("adaptis_profile_store_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto p = dir / name;
  std::filesystem::remove(p);
  return p.string();
}

GpuProfileResult sample_profile() {
  GpuProfileResult r;
  r.device = "NVIDIA H100 80GB HBM3";
  r.precision = "bf16";
  r.timing = "cupti";
  r.repeats = 5;
  r.warmup = 1;
  r.peak_memory_bytes = 123456789;
  r.events_total_ms = 10.0;
  r.cupti_total_ms = 10.7;
  r.cupti_overhead = 0.07;
  r.dropped_records = 3;
  r.costs.model = "tiny-llama";
  r.costs.source = "gpu-profile:cupti:H100:bf16";
  for (int u = 0; u < 3; ++u) {
    LayerCost c;
    c.name = "layers." + std::to_string(u);
    c.kind = u == 0 ? "embedding" : "transformer";
    c.f_ms = 0.1 * (u + 1);
    c.b_ms = 0.2 * (u + 1);
    c.w_ms = 0.15 * (u + 1);
    c.param_bytes = 1000.0 * (u + 1);
    c.state_bytes = 4000.0 * (u + 1);
    c.act_b_bytes = 77;
    c.act_w_bytes = 88;
    c.out_bytes = 99;
    r.costs.layers.push_back(c);
    GpuUnitStats s;
    s.f_ms = c.f_ms;
    s.b_ms = c.b_ms;
    s.w_ms = c.w_ms;
    s.f_kernel_ms = 0.09 * (u + 1);
    s.f_kernels = 5 + u;
    r.units.push_back(s);
  }
  r.records.push_back({"kernel", "void adaptis::exec::gpu::(anonymous namespace)::rmsnorm_forward_kernel(float*)", 1,
                       'F', 0, 100, 900, 0, 7, 42});
  r.records.push_back({"memcpy", "DtoD", 1, 'B', 0, 1000, 1200, 4096, 7, 43});
  r.records.push_back({"memset", "memset", 2, 'W', 0, 1300, 1350, 512, 7, 44});
  return r;
}

}  // namespace

TEST(ProfileStore, SaveAndLoadRoundTrip) {
  const std::string path = temp_db("roundtrip.db");
  const GpuProfileResult r = sample_profile();
  int64_t id = 0;
  {
    ProfileStore store(path);
    EXPECT_EQ(store.latest_id(), 0);
    id = store.save(r, "adaptis profile --backend cuda");
    EXPECT_EQ(store.latest_id(), id);
  }
  ProfileStore store(path);  // reopened: the schema is recognised
  const auto list = store.list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].device, r.device);
  EXPECT_EQ(list[0].timing, "cupti");
  EXPECT_EQ(list[0].layers, 3);
  EXPECT_EQ(list[0].records, 3);
  EXPECT_DOUBLE_EQ(list[0].cupti_overhead, 0.07);

  const GpuProfileResult back = store.load(id);
  ASSERT_EQ(back.costs.num_layers(), 3);
  EXPECT_EQ(back.costs.model, "tiny-llama");
  EXPECT_EQ(back.costs.source, r.costs.source);
  for (int u = 0; u < 3; ++u) {
    EXPECT_EQ(back.costs.layers[u].name, r.costs.layers[u].name);
    EXPECT_DOUBLE_EQ(back.costs.layers[u].f_ms, r.costs.layers[u].f_ms);
    EXPECT_DOUBLE_EQ(back.costs.layers[u].w_ms, r.costs.layers[u].w_ms);
    EXPECT_DOUBLE_EQ(back.costs.layers[u].state_bytes, r.costs.layers[u].state_bytes);
    EXPECT_DOUBLE_EQ(back.units[u].f_kernel_ms, r.units[u].f_kernel_ms);
    EXPECT_EQ(back.units[u].f_kernels, r.units[u].f_kernels);
  }
  ASSERT_EQ(back.records.size(), 3u);
  EXPECT_EQ(back.records[0].kind, "kernel");
  EXPECT_EQ(back.records[0].name, r.records[0].name);
  EXPECT_EQ(back.records[0].pass, 'F');
  EXPECT_EQ(back.records[1].name, "DtoD");
  EXPECT_EQ(back.records[1].bytes, 4096u);
  EXPECT_EQ(back.records[2].kind, "memset");
  EXPECT_EQ(back.peak_memory_bytes, r.peak_memory_bytes);
  EXPECT_EQ(store.load_costs(id).num_layers(), 3);
  EXPECT_THROW(store.load(id + 100), InputError);
}

TEST(ProfileStore, NsysStyleSqlWorksOnTheKernelTable) {
  const std::string path = temp_db("nsys.db");
  {
    ProfileStore store(path);
    store.save(sample_profile(), "test");
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT s.value, k.end - k.start FROM CUPTI_ACTIVITY_KIND_KERNEL k "
                               "JOIN StringIds s ON s.id = k.shortName",
                               -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))), "rmsnorm_forward_kernel");
  EXPECT_EQ(sqlite3_column_int64(s, 1), 800);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

// A stored profile is an input like a cost file: its costs go to the planner, so a damaged row is an
// error naming the database, the profile and the field, not a negative or infinite layer time.
TEST(ProfileStore, DamagedCostsAndIntegersAreRefused) {
  const std::string path = temp_db("damaged.db");
  int64_t id = 0;
  {
    ProfileStore store(path);
    id = store.save(sample_profile(), "test");
  }
  auto damage = [&](const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  };
  auto load_error = [&] {
    try {
      ProfileStore(path).load_costs(id);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    ADD_FAILURE() << "the damaged profile loaded";
    return std::string();
  };
  damage("UPDATE profile_layers SET f_ms = -1 WHERE unit = 1");
  std::string msg = load_error();
  EXPECT_NE(msg.find("profile database " + path + ": profile " + std::to_string(id) + ": layers[1]"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("field 'f' (ms): must be in [0, 1e+09], got -1"), std::string::npos) << msg;
  damage("UPDATE profile_layers SET f_ms = 1e308 WHERE unit = 1");
  EXPECT_NE(load_error().find("got 1e+308"), std::string::npos);
  damage("UPDATE profile_layers SET f_ms = 1 WHERE unit = 1");
  damage("UPDATE profiles SET microbatches = 4294967297");
  msg = load_error();
  EXPECT_NE(msg.find("field microbatches: must be in [0, 1000000], got 4294967297"), std::string::npos) << msg;
}

TEST(ProfileStore, RefusesForeignDatabases) {
  const std::string path = temp_db("foreign.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE other (x INTEGER)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    ProfileStore store(path);
    ADD_FAILURE() << "a foreign database was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(ProfileStore, ATextFileIsRefusedNamingTheFileAndWhatFailed) {
  const std::string path = temp_db("text.db");
  std::ofstream(path) << "this is not a database, just some text that is long enough to have a header\n";
  try {
    ProfileStore store(path);
    ADD_FAILURE() << "a text file was opened as a profile database";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(path + ": profile database ", 0), 0u) << what;
    EXPECT_NE(what.find("failed: file is not a database"), std::string::npos) << what;
  }
}

TEST(GpuProfilerOptions, NamesAndValidation) {
  EXPECT_EQ(parse_gpu_timing("CUPTI"), GpuTiming::Cupti);
  EXPECT_EQ(parse_gpu_timing("events"), GpuTiming::CudaEvents);
  EXPECT_EQ(parse_gpu_timing("auto"), GpuTiming::Auto);
  for (GpuTiming t : {GpuTiming::Auto, GpuTiming::Cupti, GpuTiming::CudaEvents})
    EXPECT_EQ(parse_gpu_timing(gpu_timing_name(t)), t);
  EXPECT_THROW(parse_gpu_timing("nvtx"), InputError);
  GpuProfileOptions o;
  o.repeats = 0;
  EXPECT_THROW(validate_gpu_profile_options(o), InputError);
  o = {};
  o.warmup = -1;
  EXPECT_THROW(validate_gpu_profile_options(o), InputError);
}

TEST(GpuProfilerOptions, WithoutAGpuProfilingRefusesWithTheReason) {
  std::string why;
  if (exec::gpu_available(&why)) GTEST_SKIP() << "a GPU is present";
  std::string cupti_why;
  EXPECT_FALSE(cupti_available(&cupti_why));
  EXPECT_EQ(cupti_why, why);
  try {
    profile_gpu(exec::make_net_config({exec::LayerType::Mlp}));
    ADD_FAILURE() << "profiled without a GPU";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(why.substr(0, 20)), std::string::npos) << e.what() << " vs " << why;
  }
}
