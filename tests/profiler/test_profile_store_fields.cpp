// The profile database keeps every field of a cost table: a stored profile loads back as the cost file the
// profiler writes (cost_table_json equal), with "not given" kept as not given; a database of the first schema
// (which dropped those fields) opens, loads and takes new profiles; a bad stored value is an error naming the
// database, the profile, the layer and the field.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "adaptis/model/error.h"
#include "adaptis/profiler/gpu_profiler.h"
#include "adaptis/profiler/profile_store.h"

using namespace adaptis;
using namespace adaptis::prof;

namespace {

std::string temp_db(const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("adaptis_profile_store_fields_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto p = dir / name;
  std::filesystem::remove(p);
  std::filesystem::remove(p.string() + "-wal");
  std::filesystem::remove(p.string() + "-shm");
  return p.string();
}

// Runs raw SQL on the file, outside ProfileStore (what another tool, or damage, could do).
void raw_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg << "\n" << sql;
}

int64_t raw_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  const int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

GpuProfileResult profile_of(const CostTable& costs) {
  GpuProfileResult r;
  r.device = "NVIDIA H100 80GB HBM3";
  r.precision = "bf16";
  r.timing = "cupti";
  r.repeats = 5;
  r.warmup = 1;
  r.costs = costs;
  for (size_t u = 0; u < costs.layers.size(); ++u) {
    GpuUnitStats s;
    s.f_ms = costs.layers[u].f_ms;
    s.b_ms = costs.layers[u].b_ms;
    s.w_ms = costs.layers[u].w_ms;
    s.f_kernel_ms = 0.5 * s.f_ms;
    s.f_kernels = 3 + int(u);
    r.units.push_back(s);
  }
  return r;
}

// Every field given, each value distinct from the others and from its default, the parts within their wholes
// (as a cost file's reader requires).
CostTable every_field_costs() {
  CostTable t;
  t.model = "store-fields-model";
  t.source = "gpu-profile:cupti:H100:bf16";
  t.microbatches = 12;
  t.tokens_per_microbatch = 4096;
  t.pairs_per_microbatch = 8392704;
  t.model_flops_per_microbatch = 7.25e13;
  for (int u = 0; u < 3; ++u) {
    const double k = u + 1;
    LayerCost c;
    c.name = "layers." + std::to_string(u);
    c.kind = u == 1 ? "mamba" : "attention";
    c.f_ms = 1.25 * k;
    c.b_ms = 2.5 * k + 0.03125;
    c.w_ms = 1.75 * k + 0.0625;
    c.param_bytes = 1000.0 * k + 1;
    c.state_bytes = 16000.0 * k + 2;
    c.act_b_bytes = 9000.0 * k + 3;
    c.act_w_bytes = 700.0 * k + 4;
    c.out_bytes = 500.0 * k + 5;
    c.w_grad_bytes = 300.0 * k + 6;
    c.f_pair_ms = 0.5 * k + 0.001;
    c.b_pair_ms = 1.0 * k + 0.002;
    c.w_pair_ms = 0.25 * k + 0.003;
    c.f_fixed_ms = 0.01 * k + 0.0001;
    c.b_fixed_ms = 0.02 * k + 0.0002;
    c.w_fixed_ms = 0.03 * k + 0.0003;
    c.act_score_bytes = 4000.0 * k + 7;
    c.kept_selective_bytes = 6000.0 * k + 8;
    c.kept_selective_score_bytes = 2000.0 * k + 9;
    c.recompute_selective_ms = 0.375 * k + 0.004;
    c.kept_full_bytes = 450.0 * k + 10;
    c.kv_bytes = 1200.0 * k + 11;
    c.recurrent = u == 1;
    t.layers.push_back(c);
  }
  return t;
}

// The same layers with every optional field not given (negative; -3 as well as -1: any negative means it)
// and nothing of the per-unit split or the reference micro-batch known.
CostTable not_given_costs() {
  CostTable t = every_field_costs();
  t.microbatches = 0;
  t.tokens_per_microbatch = 0;
  t.pairs_per_microbatch = 0;
  t.model_flops_per_microbatch = 0;
  for (LayerCost& c : t.layers) {
    c.kept_selective_bytes = -1;
    c.recompute_selective_ms = -3;
    c.kept_full_bytes = -1;
    c.kv_bytes = -1;
    c.kept_selective_score_bytes = -1;
    c.act_score_bytes = 0;
    c.f_pair_ms = c.b_pair_ms = c.w_pair_ms = 0;
    c.f_fixed_ms = c.b_fixed_ms = c.w_fixed_ms = 0;
    c.recurrent = false;
  }
  return t;
}

std::string load_error(const std::string& path, int64_t id) {
  try {
    ProfileStore(path).load_costs(id);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "the damaged profile loaded";
  return {};
}

// The schema of the first profile database release, as it created its tables.
const char* kFirstSchema = R"sql(
CREATE TABLE profiles (
  id INTEGER PRIMARY KEY,
  created_utc_ns INTEGER NOT NULL,
  host TEXT NOT NULL, command TEXT NOT NULL,
  device TEXT NOT NULL, model TEXT NOT NULL, source TEXT NOT NULL, precision TEXT NOT NULL,
  timing TEXT NOT NULL, fallback_reason TEXT NOT NULL,
  repeats INTEGER NOT NULL, warmup INTEGER NOT NULL, microbatches INTEGER NOT NULL,
  dropped_records INTEGER NOT NULL, peak_memory_bytes INTEGER NOT NULL,
  events_total_ms REAL NOT NULL, cupti_total_ms REAL NOT NULL, cupti_overhead REAL NOT NULL
) STRICT;
CREATE TABLE profile_layers (
  profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  unit INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
  f_ms REAL NOT NULL, b_ms REAL NOT NULL, w_ms REAL NOT NULL,
  f_kernel_ms REAL NOT NULL, b_kernel_ms REAL NOT NULL, w_kernel_ms REAL NOT NULL,
  f_kernels INTEGER NOT NULL, b_kernels INTEGER NOT NULL, w_kernels INTEGER NOT NULL,
  param_bytes REAL NOT NULL, state_bytes REAL NOT NULL, act_b_bytes REAL NOT NULL, act_w_bytes REAL NOT NULL,
  out_bytes REAL NOT NULL, w_grad_bytes REAL NOT NULL,
  PRIMARY KEY (profile_id, unit)
) STRICT;
CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE) STRICT;
CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (
  profile_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER NOT NULL, demangledName INTEGER NOT NULL, shortName INTEGER NOT NULL,
  unit INTEGER NOT NULL, pass TEXT NOT NULL, rep INTEGER NOT NULL
) STRICT;
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (
  profile_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER NOT NULL, bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL,
  unit INTEGER NOT NULL, pass TEXT NOT NULL, rep INTEGER NOT NULL
) STRICT;
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (
  profile_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER NOT NULL, bytes INTEGER NOT NULL,
  unit INTEGER NOT NULL, pass TEXT NOT NULL, rep INTEGER NOT NULL
) STRICT;
CREATE INDEX kernel_by_profile ON CUPTI_ACTIVITY_KIND_KERNEL(profile_id, unit, pass);
PRAGMA application_id = 1094996038;
PRAGMA user_version = 1;
)sql";

}  // namespace

TEST(ProfileStoreFields, EveryFieldRoundTripsToTheSameCostFile) {
  const CostTable costs = every_field_costs();
  const nlohmann::json expected = cost_table_json(costs);
  // The sample really sets every field a cost file can hold, so an equal JSON means every field came back.
  for (const auto& row : expected["layers"])
    for (const char* key : {"kept_selective_bytes", "recompute_selective_ms", "kept_full_bytes", "kv_bytes",
                            "act_score_bytes", "kept_selective_score_bytes", "f_pair", "b_pair", "w_pair", "f_fixed",
                            "b_fixed", "w_fixed"})
      ASSERT_TRUE(row.contains(key)) << key;
  ASSERT_EQ(expected["layers"][1].value("recurrent", false), true);
  for (const char* key : {"microbatches", "tokens_per_microbatch", "pairs_per_microbatch"})
    ASSERT_TRUE(expected.contains(key)) << key;

  const std::string path = temp_db("every_field.db");
  int64_t id = 0;
  {
    ProfileStore store(path);
    id = store.save(profile_of(costs), "test");
  }
  const GpuProfileResult back = ProfileStore(path).load(id);
  EXPECT_EQ(cost_table_json(back.costs), expected);
  // Not part of a cost file, kept all the same.
  EXPECT_EQ(back.costs.model_flops_per_microbatch, costs.model_flops_per_microbatch);
  EXPECT_FALSE(back.costs.layers[0].recurrent);
  EXPECT_TRUE(back.costs.layers[1].recurrent);
  ASSERT_EQ(back.units.size(), 3u);
  EXPECT_EQ(back.units[2].f_kernels, 5);
}

TEST(ProfileStoreFields, NotGivenStaysNotGiven) {
  const CostTable costs = not_given_costs();
  const std::string path = temp_db("not_given.db");
  int64_t id = 0;
  {
    ProfileStore store(path);
    id = store.save(profile_of(costs), "test");
  }
  // Stored as NULL, not as some negative number a query over the table would have to know about.
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM profile_layers WHERE kept_selective_bytes IS NULL AND "
                          "recompute_selective_ms IS NULL AND kept_full_bytes IS NULL AND kv_bytes IS NULL AND "
                          "kept_selective_score_bytes IS NULL"),
            3);
  const CostTable back = ProfileStore(path).load_costs(id);
  EXPECT_EQ(cost_table_json(back), cost_table_json(costs));
  for (const LayerCost& c : back.layers) {
    EXPECT_LT(c.kept_selective_bytes, 0);
    EXPECT_LT(c.recompute_selective_ms, 0);
    EXPECT_LT(c.kept_full_bytes, 0);
    EXPECT_LT(c.kv_bytes, 0);
    EXPECT_LT(c.kept_selective_score_bytes, 0);
    EXPECT_FALSE(c.recurrent);
  }
  // Given zeros are values, not "not given".
  CostTable zeros = costs;
  zeros.layers[0].kv_bytes = 0;
  zeros.layers[0].kept_selective_score_bytes = 0;
  const int64_t zid = ProfileStore(path).save(profile_of(zeros), "test");
  const CostTable zback = ProfileStore(path).load_costs(zid);
  EXPECT_EQ(zback.layers[0].kv_bytes, 0);
  EXPECT_EQ(zback.layers[0].kept_selective_score_bytes, 0);
  EXPECT_EQ(cost_table_json(zback), cost_table_json(zeros));
}

TEST(ProfileStoreFields, AFirstSchemaDatabaseOpensLoadsAndTakesNewProfiles) {
  const std::string path = temp_db("first_schema.db");
  raw_sql(path, kFirstSchema);
  raw_sql(path,
          "INSERT INTO profiles VALUES (7, 1700000000000000000, 'host-a', 'adaptis profile --backend cuda', "
          "'NVIDIA A100', 'old-model', 'gpu-profile:events:A100:fp32', 'fp32', 'events', 'no CUPTI', 10, 2, 6, 0, "
          "555, 12.5, 0, 0);"
          "INSERT INTO profile_layers VALUES (7, 0, 'layers.0', 'embedding', 0.5, 0.75, 0.25, 0.4, 0.6, 0.2, 3, 4, 2, "
          "2048, 8192, 100, 50, 64, 32);"
          "INSERT INTO profile_layers VALUES (7, 1, 'layers.1', 'transformer', 1.5, 2.75, 1.25, 1.4, 2.6, 1.2, 30, 40, "
          "20, 4096, 16384, 1000, 500, 640, 320);"
          "INSERT INTO StringIds VALUES (1, 'void k(float*)'), (2, 'k');"
          "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (7, 100, 900, 7, 42, 1, 2, 1, 'F', 0);");
  // What the old row means: a cost file with none of the later fields.
  CostTable old_costs;
  old_costs.model = "old-model";
  old_costs.source = "gpu-profile:events:A100:fp32";
  old_costs.microbatches = 6;
  for (int u = 0; u < 2; ++u) {
    LayerCost c;
    c.name = "layers." + std::to_string(u);
    c.kind = u == 0 ? "embedding" : "transformer";
    c.f_ms = u == 0 ? 0.5 : 1.5;
    c.b_ms = u == 0 ? 0.75 : 2.75;
    c.w_ms = u == 0 ? 0.25 : 1.25;
    c.param_bytes = u == 0 ? 2048 : 4096;
    c.state_bytes = u == 0 ? 8192 : 16384;
    c.act_b_bytes = u == 0 ? 100 : 1000;
    c.act_w_bytes = u == 0 ? 50 : 500;
    c.out_bytes = u == 0 ? 64 : 640;
    c.w_grad_bytes = u == 0 ? 32 : 320;
    old_costs.layers.push_back(c);
  }

  int64_t new_id = 0;
  {
    ProfileStore store(path);
    EXPECT_EQ(raw_int(path, "PRAGMA user_version"), kProfileStoreSchemaVersion);
    const GpuProfileResult old = store.load(7);
    EXPECT_EQ(cost_table_json(old.costs), cost_table_json(old_costs));
    for (const LayerCost& c : old.costs.layers) {
      EXPECT_LT(c.kept_selective_bytes, 0);
      EXPECT_LT(c.recompute_selective_ms, 0);
      EXPECT_LT(c.kept_full_bytes, 0);
      EXPECT_LT(c.kv_bytes, 0);
      EXPECT_LT(c.kept_selective_score_bytes, 0);
      EXPECT_EQ(c.act_score_bytes, 0);
      EXPECT_EQ(c.f_pair_ms + c.b_pair_ms + c.w_pair_ms + c.f_fixed_ms + c.b_fixed_ms + c.w_fixed_ms, 0);
      EXPECT_FALSE(c.recurrent);
    }
    EXPECT_EQ(old.costs.tokens_per_microbatch, 0);
    EXPECT_EQ(old.costs.model_flops_per_microbatch, 0);
    // Nothing else of the old row is lost.
    EXPECT_EQ(old.device, "NVIDIA A100");
    EXPECT_EQ(old.fallback_reason, "no CUPTI");
    EXPECT_EQ(old.repeats, 10);
    EXPECT_EQ(old.peak_memory_bytes, 555u);
    ASSERT_EQ(old.units.size(), 2u);
    EXPECT_EQ(old.units[1].f_kernel_ms, 1.4);
    EXPECT_EQ(old.units[1].b_kernels, 40);
    ASSERT_EQ(old.records.size(), 1u);
    EXPECT_EQ(old.records[0].name, "void k(float*)");

    new_id = store.save(profile_of(every_field_costs()), "test");
    EXPECT_GT(new_id, 7);
  }
  // Reopened: already upgraded, both profiles load as they were saved.
  ProfileStore store(path);
  ASSERT_EQ(store.list().size(), 2u);
  EXPECT_EQ(cost_table_json(store.load_costs(new_id)), cost_table_json(every_field_costs()));
  EXPECT_EQ(cost_table_json(store.load_costs(7)), cost_table_json(old_costs));
}

TEST(ProfileStoreFields, ANewerSchemaIsRefusedNamingTheFile) {
  const std::string path = temp_db("newer.db");
  { ProfileStore store(path); }
  raw_sql(path, "PRAGMA user_version = " + std::to_string(kProfileStoreSchemaVersion + 1));
  try {
    ProfileStore store(path);
    ADD_FAILURE() << "a newer schema was opened";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(path + ": written by a newer adaptis", 0), 0u) << what;
  }
}

// A stored value is an input like a cost file's: out of range, it is refused naming where it is.
TEST(ProfileStoreFields, BadStoredValuesAreRefusedNamingTheField) {
  struct Damage {
    const char* sql;
    const char* field;  // what the error names
    const char* got;
  };
  const Damage damages[] = {
      {"UPDATE profile_layers SET kv_bytes = -5 WHERE unit = 1", "layers[1] ('layers.1'): field 'kv_bytes'", "got -5"},
      {"UPDATE profile_layers SET kept_selective_bytes = -1 WHERE unit = 1",
       "layers[1] ('layers.1'): field 'kept_selective_bytes'", "got -1"},
      {"UPDATE profile_layers SET recompute_selective_ms = 1e999 WHERE unit = 2",
       "layers[2] ('layers.2'): field 'recompute_selective_ms'", "must be a finite number"},
      {"UPDATE profile_layers SET f_pair_ms = -0.5 WHERE unit = 0", "layers[0] ('layers.0'): field 'f_pair' (ms)",
       "got -0.5"},
      {"UPDATE profile_layers SET w_fixed_ms = 2e9 WHERE unit = 0", "layers[0] ('layers.0'): field 'w_fixed' (ms)",
       "got 2e+09"},
      {"UPDATE profile_layers SET act_score_bytes = -7 WHERE unit = 2",
       "layers[2] ('layers.2'): field 'act_score_bytes'", "got -7"},
      {"UPDATE profile_layers SET recurrent = 2 WHERE unit = 0", "layers[0] ('layers.0'): field 'recurrent'",
       "got 2"},
      {"UPDATE profiles SET tokens_per_microbatch = -4096", "field 'tokens_per_microbatch'", "got -4096"},
      {"UPDATE profiles SET pairs_per_microbatch = -1e999", "field 'pairs_per_microbatch'", "finite"},
      {"UPDATE profiles SET model_flops_per_microbatch = -1", "field 'model_flops_per_microbatch'", "got -1"},
      // In range on their own, but more than what they are part of: a cost file with them is refused too.
      {"UPDATE profile_layers SET act_score_bytes = act_b_bytes * 2 WHERE unit = 1",
       "layers[1] ('layers.1'): field 'act_score_bytes'", "exceeds 'act_b_bytes'"},
      {"UPDATE profile_layers SET b_pair_ms = b_ms WHERE unit = 2", "layers[2] ('layers.2'): fields 'b_pair' + 'b_fixed'",
       "exceed 'b'"},
      {"UPDATE profile_layers SET kept_selective_score_bytes = act_score_bytes * 1.5 WHERE unit = 0",
       "layers[0] ('layers.0'): field 'kept_selective_score_bytes'", "exceeds 'act_score_bytes'"},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.sql);
    const std::string path = temp_db("damaged.db");
    int64_t id = 0;
    {
      ProfileStore store(path);
      id = store.save(profile_of(every_field_costs()), "test");
    }
    raw_sql(path, d.sql);
    const std::string msg = load_error(path, id);
    EXPECT_EQ(msg.rfind("profile database " + path + ": profile " + std::to_string(id) + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(d.field), std::string::npos) << msg;
    EXPECT_NE(msg.find(d.got), std::string::npos) << msg;
  }
}

// SQLite stores no NaN (it becomes NULL, which for an optional field means "not given"), so a NaN is refused
// when saving, naming the field, and nothing is stored.
TEST(ProfileStoreFields, ANaNIsRefusedOnSaveNotStoredAsNotGiven) {
  const std::string path = temp_db("nan.db");
  ProfileStore store(path);
  const int64_t good = store.save(profile_of(every_field_costs()), "test");
  struct Case {
    void (*set)(CostTable&);
    const char* field;
  };
  const Case cases[] = {
      {[](CostTable& t) { t.layers[1].kv_bytes = std::nan(""); }, "layers[1] ('layers.1'): field 'kv_bytes'"},
      {[](CostTable& t) { t.layers[0].f_pair_ms = std::nan(""); }, "layers[0] ('layers.0'): field 'f_pair' (ms)"},
      {[](CostTable& t) { t.layers[2].recompute_selective_ms = -INFINITY; },
       "layers[2] ('layers.2'): field 'recompute_selective_ms'"},
      {[](CostTable& t) { t.pairs_per_microbatch = std::nan(""); }, "field 'pairs_per_microbatch'"},
  };
  for (const Case& c : cases) {
    CostTable t = every_field_costs();
    c.set(t);
    try {
      store.save(profile_of(t), "test");
      ADD_FAILURE() << "saved a profile with " << c.field << " not a number";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("profile database " + path + ": new profile: ", 0), 0u) << what;
      EXPECT_NE(what.find(c.field), std::string::npos) << what;
      EXPECT_NE(what.find("must be a finite number"), std::string::npos) << what;
    }
  }
  EXPECT_EQ(store.latest_id(), good);
  EXPECT_EQ(store.list().size(), 1u);
}
