// ProfileStore (profile_store.h): GPU profiles in SQLite.
#include "adaptis/profiler/profile_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>

#include "adaptis/executor/machine_info.h"
#include "adaptis/store/sqlite_statement.h"
#include "adaptis/model/checked.h"
#include "adaptis/model/error.h"
#include "adaptis/model/limits.h"

namespace adaptis::prof {

namespace {

// Schema 1: the tables as first released. Every database starts from it and is brought up to date by the
// additions below, so a new database and an upgraded old one have the same columns in the same order.
const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS profiles (
  id INTEGER PRIMARY KEY,
  created_utc_ns INTEGER NOT NULL,
  host TEXT NOT NULL, command TEXT NOT NULL,
  device TEXT NOT NULL, model TEXT NOT NULL, source TEXT NOT NULL, precision TEXT NOT NULL,
  timing TEXT NOT NULL, fallback_reason TEXT NOT NULL,
  repeats INTEGER NOT NULL, warmup INTEGER NOT NULL, microbatches INTEGER NOT NULL,
  dropped_records INTEGER NOT NULL, peak_memory_bytes INTEGER NOT NULL,
  events_total_ms REAL NOT NULL, cupti_total_ms REAL NOT NULL, cupti_overhead REAL NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS profile_layers (
  profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
  unit INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
  f_ms REAL NOT NULL, b_ms REAL NOT NULL, w_ms REAL NOT NULL,
  f_kernel_ms REAL NOT NULL, b_kernel_ms REAL NOT NULL, w_kernel_ms REAL NOT NULL,
  f_kernels INTEGER NOT NULL, b_kernels INTEGER NOT NULL, w_kernels INTEGER NOT NULL,
  param_bytes REAL NOT NULL, state_bytes REAL NOT NULL, act_b_bytes REAL NOT NULL, act_w_bytes REAL NOT NULL,
  out_bytes REAL NOT NULL, w_grad_bytes REAL NOT NULL,
  PRIMARY KEY (profile_id, unit)
) STRICT;
CREATE TABLE IF NOT EXISTS StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE) STRICT;
CREATE TABLE IF NOT EXISTS CUPTI_ACTIVITY_KIND_KERNEL (
  profile_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER NOT NULL, demangledName INTEGER NOT NULL, shortName INTEGER NOT NULL,
  unit INTEGER NOT NULL, pass TEXT NOT NULL, rep INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS CUPTI_ACTIVITY_KIND_MEMCPY (
  profile_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER NOT NULL, bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL,
  unit INTEGER NOT NULL, pass TEXT NOT NULL, rep INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS CUPTI_ACTIVITY_KIND_MEMSET (
  profile_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER NOT NULL, bytes INTEGER NOT NULL,
  unit INTEGER NOT NULL, pass TEXT NOT NULL, rep INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS kernel_by_profile ON CUPTI_ACTIVITY_KIND_KERNEL(profile_id, unit, pass);
)sql";

// Schema 2: the cost-table fields schema 1 dropped, so that a stored profile loads back as the cost file the
// profiler writes (cost_table_json equal). Added as columns to schema 1's tables, which is also how a schema 1
// database is upgraded on open: its rows then read as a cost file without these fields does (optional fields
// not given, the per-unit split 0, recurrent false). NULL in an optional column = not given (LayerCost keeps
// those negative). LayerCost::parallel is not stored: no profiler fills it and cost files do not carry it; it
// is derived from costs like these for each parallel configuration (parallel_costs.h).
struct AddedColumn {
  const char* table;
  const char* definition;
};
const AddedColumn kSchemaV2Columns[] = {
    {"profiles", "tokens_per_microbatch REAL NOT NULL DEFAULT 0"},
    {"profiles", "pairs_per_microbatch REAL NOT NULL DEFAULT 0"},
    {"profiles", "model_flops_per_microbatch REAL NOT NULL DEFAULT 0"},
    {"profile_layers", "kept_selective_bytes REAL"},
    {"profile_layers", "recompute_selective_ms REAL"},
    {"profile_layers", "kept_full_bytes REAL"},
    {"profile_layers", "kv_bytes REAL"},
    {"profile_layers", "act_score_bytes REAL NOT NULL DEFAULT 0"},
    {"profile_layers", "kept_selective_score_bytes REAL"},
    {"profile_layers", "recurrent INTEGER NOT NULL DEFAULT 0"},
    {"profile_layers", "f_pair_ms REAL NOT NULL DEFAULT 0"},
    {"profile_layers", "b_pair_ms REAL NOT NULL DEFAULT 0"},
    {"profile_layers", "w_pair_ms REAL NOT NULL DEFAULT 0"},
    {"profile_layers", "f_fixed_ms REAL NOT NULL DEFAULT 0"},
    {"profile_layers", "b_fixed_ms REAL NOT NULL DEFAULT 0"},
    {"profile_layers", "w_fixed_ms REAL NOT NULL DEFAULT 0"},
};
static_assert(kProfileStoreSchemaVersion == 2, "a new schema version needs its additions here and in upgrade()");

// Copy kinds we store as integers (CUPTI's CUpti_ActivityMemcpyKind numbering for the common ones).
const std::map<std::string, int> kCopyKinds = {{"HtoD", 1}, {"DtoH", 2}, {"DtoD", 8}, {"HtoH", 9}, {"PtoP", 10}};

std::string copy_kind_name(int k) {
  for (const auto& [name, v] : kCopyKinds)
    if (v == k) return name;
  return "copy" + std::to_string(k);
}

// Names this database in every SQLite error ("<path>: profile database step failed: ...").
constexpr const char* kProfileDatabase = "profile database";

using store::sqlite_query_int;
using store::SqliteStatement;

// Short kernel name, as nsys shows it: the demangled name without its parameter list, trailing template
// arguments, namespaces and return type ("void ns::(anonymous namespace)::k<float>(float*)" -> "k").
std::string short_name(const std::string& name) {
  std::string s = name;
  auto strip_group = [&](char open, char close) {
    if (s.empty() || s.back() != close) return;
    int depth = 0;
    for (size_t i = s.size(); i-- > 0;) {
      if (s[i] == close) ++depth;
      if (s[i] == open && --depth == 0) {
        s.resize(i);
        return;
      }
    }
  };
  strip_group('(', ')');
  strip_group('<', '>');
  const size_t scope = s.rfind("::");
  if (scope != std::string::npos) s = s.substr(scope + 2);
  const size_t space = s.rfind(' ');
  if (space != std::string::npos) s = s.substr(space + 1);
  return s.empty() ? name : s;
}

}  // namespace

std::string default_profile_db_path() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  const std::string base = xdg && *xdg ? std::string(xdg) : std::string(home ? home : ".") + "/.local/share";
  return base + "/adaptis/profiles.db";
}

ProfileStore::ProfileStore(const std::string& path) : path_(path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw InputError(path + ": cannot open the profile database: " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    const int64_t app = sqlite_query_int(db_, path_, kProfileDatabase, "PRAGMA application_id");
    const int64_t version = sqlite_query_int(db_, path_, kProfileDatabase, "PRAGMA user_version");
    const int64_t tables = sqlite_query_int(db_, path_, kProfileDatabase, "SELECT count(*) FROM sqlite_master");
    if (tables > 0 && app != kProfileStoreApplicationId)
      throw InputError(path + ": not an adaptis profile database (application_id " + std::to_string(app) + ")");
    if (version > kProfileStoreSchemaVersion)
      throw InputError(path + ": written by a newer adaptis (profile schema " + std::to_string(version) +
                       ", this build knows " + std::to_string(kProfileStoreSchemaVersion) + ")");
    exec("PRAGMA journal_mode = WAL");
    exec("PRAGMA foreign_keys = ON");
    if (version < kProfileStoreSchemaVersion) upgrade();
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

void ProfileStore::upgrade() {
  exec("BEGIN IMMEDIATE");
  try {
    // Read again under the write lock: another process may have upgraded the file since the check on open.
    const int64_t version = sqlite_query_int(db_, path_, kProfileDatabase, "PRAGMA user_version");
    if (version < 1) {
      exec(kSchemaV1);
      exec(("PRAGMA application_id = " + std::to_string(kProfileStoreApplicationId)).c_str());
    }
    if (version < 2)
      for (const AddedColumn& c : kSchemaV2Columns)
        exec((std::string("ALTER TABLE ") + c.table + " ADD COLUMN " + c.definition).c_str());
    if (version < kProfileStoreSchemaVersion)
      exec(("PRAGMA user_version = " + std::to_string(kProfileStoreSchemaVersion)).c_str());
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

ProfileStore::~ProfileStore() {
  if (db_) sqlite3_close(db_);
}

void ProfileStore::exec(const char* sql) const { store::sqlite_exec(db_, path_, kProfileDatabase, sql); }

int64_t ProfileStore::save(const GpuProfileResult& r, const std::string& command) {
  // Only what load() accepts is stored: a NaN would otherwise be stored as NULL (SQLite has no NaN) and come
  // back as "not given", and an out-of-range value would make the profile unloadable.
  const std::string origin = std::string(kProfileDatabase) + " " + path_ + ": new profile";
  validate_cost_table(r.costs, origin);
  validate_cost_parts(r.costs, origin);
  exec("BEGIN IMMEDIATE");
  try {
    SqliteStatement ins(
        db_, path_, kProfileDatabase,
        "INSERT INTO profiles (created_utc_ns, host, command, device, model, source, precision, timing, "
        "fallback_reason, repeats, warmup, microbatches, dropped_records, peak_memory_bytes, events_total_ms, "
        "cupti_total_ms, cupti_overhead, tokens_per_microbatch, pairs_per_microbatch, model_flops_per_microbatch) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    ins.bind(1, now);
    ins.bind(2, exec::host_name());
    ins.bind(3, command);
    ins.bind(4, r.device);
    ins.bind(5, r.costs.model);
    ins.bind(6, r.costs.source);
    ins.bind(7, r.precision);
    ins.bind(8, r.timing);
    ins.bind(9, r.fallback_reason);
    ins.bind(10, int64_t(r.repeats));
    ins.bind(11, int64_t(r.warmup));
    ins.bind(12, int64_t(r.costs.microbatches));
    ins.bind(13, int64_t(r.dropped_records));
    ins.bind(14, int64_t(r.peak_memory_bytes));
    ins.bind(15, r.events_total_ms);
    ins.bind(16, r.cupti_total_ms);
    ins.bind(17, r.cupti_overhead);
    ins.bind(18, r.costs.tokens_per_microbatch);
    ins.bind(19, r.costs.pairs_per_microbatch);
    ins.bind(20, r.costs.model_flops_per_microbatch);
    ins.run();
    const int64_t id = sqlite3_last_insert_rowid(db_);

    SqliteStatement layer(
        db_, path_, kProfileDatabase,
        "INSERT INTO profile_layers (profile_id, unit, name, kind, f_ms, b_ms, w_ms, f_kernel_ms, b_kernel_ms, "
        "w_kernel_ms, f_kernels, b_kernels, w_kernels, param_bytes, state_bytes, act_b_bytes, act_w_bytes, out_bytes, "
        "w_grad_bytes, kept_selective_bytes, recompute_selective_ms, kept_full_bytes, kv_bytes, act_score_bytes, "
        "kept_selective_score_bytes, recurrent, f_pair_ms, b_pair_ms, w_pair_ms, f_fixed_ms, b_fixed_ms, w_fixed_ms) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    // Optional fields: negative (not given) is stored as NULL.
    auto bind_optional = [&](int i, double v) {
      if (v < 0)
        layer.bind_null(i);
      else
        layer.bind(i, v);
    };
    for (size_t u = 0; u < r.costs.layers.size(); ++u) {
      const LayerCost& c = r.costs.layers[u];
      const GpuUnitStats st = u < r.units.size() ? r.units[u] : GpuUnitStats{};
      layer.bind(1, id);
      layer.bind(2, int64_t(u));
      layer.bind(3, c.name);
      layer.bind(4, c.kind);
      layer.bind(5, c.f_ms);
      layer.bind(6, c.b_ms);
      layer.bind(7, c.w_ms);
      layer.bind(8, st.f_kernel_ms);
      layer.bind(9, st.b_kernel_ms);
      layer.bind(10, st.w_kernel_ms);
      layer.bind(11, int64_t(st.f_kernels));
      layer.bind(12, int64_t(st.b_kernels));
      layer.bind(13, int64_t(st.w_kernels));
      layer.bind(14, c.param_bytes);
      layer.bind(15, c.state_bytes);
      layer.bind(16, c.act_b_bytes);
      layer.bind(17, c.act_w_bytes);
      layer.bind(18, c.out_bytes);
      layer.bind(19, c.w_grad_bytes);
      bind_optional(20, c.kept_selective_bytes);
      bind_optional(21, c.recompute_selective_ms);
      bind_optional(22, c.kept_full_bytes);
      bind_optional(23, c.kv_bytes);
      layer.bind(24, c.act_score_bytes);
      bind_optional(25, c.kept_selective_score_bytes);
      layer.bind(26, int64_t(c.recurrent ? 1 : 0));
      layer.bind(27, c.f_pair_ms);
      layer.bind(28, c.b_pair_ms);
      layer.bind(29, c.w_pair_ms);
      layer.bind(30, c.f_fixed_ms);
      layer.bind(31, c.b_fixed_ms);
      layer.bind(32, c.w_fixed_ms);
      layer.run();
    }

    std::map<std::string, int64_t> ids;
    SqliteStatement find(db_, path_, kProfileDatabase, "SELECT id FROM StringIds WHERE value = ?");
    SqliteStatement add(db_, path_, kProfileDatabase, "INSERT INTO StringIds (value) VALUES (?)");
    auto intern = [&](const std::string& s) {
      auto it = ids.find(s);
      if (it != ids.end()) return it->second;
      find.bind(1, s);
      int64_t v = 0;
      if (find.step()) v = find.integer(0);
      find.reset();
      if (v == 0) {
        add.bind(1, s);
        add.run();
        v = sqlite3_last_insert_rowid(db_);
      }
      ids[s] = v;
      return v;
    };
    SqliteStatement kern(db_, path_, kProfileDatabase,
                         "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (?,?,?,?,?,?,?,?,?,?)");
    SqliteStatement copy(db_, path_, kProfileDatabase,
                         "INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (?,?,?,?,?,?,?,?,?,?)");
    SqliteStatement set(db_, path_, kProfileDatabase,
                        "INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET VALUES (?,?,?,?,?,?,?,?,?)");
    for (const ActivityRecord& a : r.records) {
      SqliteStatement& s = a.kind == "kernel" ? kern : a.kind == "memcpy" ? copy : set;
      int c = 1;
      s.bind(c++, id);
      s.bind(c++, a.start_ns);
      s.bind(c++, a.end_ns);
      s.bind(c++, int64_t(a.stream));
      s.bind(c++, int64_t(a.correlation));
      if (a.kind == "kernel") {
        s.bind(c++, intern(a.name));
        s.bind(c++, intern(short_name(a.name)));
      } else if (a.kind == "memcpy") {
        s.bind(c++, int64_t(a.bytes));
        auto k = kCopyKinds.find(a.name);
        s.bind(c++, int64_t(k == kCopyKinds.end() ? 0 : k->second));
      } else {
        s.bind(c++, int64_t(a.bytes));
      }
      s.bind(c++, int64_t(a.unit));
      s.bind(c++, std::string(1, a.pass));
      s.bind(c++, int64_t(a.repeat));
      s.run();
    }
    exec("COMMIT");
    return id;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::vector<ProfileSummary> ProfileStore::list() const {
  SqliteStatement s(
      db_, path_, kProfileDatabase,
      "SELECT p.id, p.created_utc_ns, p.host, p.device, p.model, p.precision, p.timing, p.fallback_reason, "
      "p.command, p.repeats, p.cupti_overhead, p.peak_memory_bytes, "
      "(SELECT count(*) FROM profile_layers l WHERE l.profile_id = p.id), "
      "(SELECT count(*) FROM CUPTI_ACTIVITY_KIND_KERNEL k WHERE k.profile_id = p.id) + "
      "(SELECT count(*) FROM CUPTI_ACTIVITY_KIND_MEMCPY k WHERE k.profile_id = p.id) + "
      "(SELECT count(*) FROM CUPTI_ACTIVITY_KIND_MEMSET k WHERE k.profile_id = p.id) "
      "FROM profiles p ORDER BY p.id DESC");
  std::vector<ProfileSummary> out;
  while (s.step()) {
    ProfileSummary p;
    p.id = s.integer(0);
    p.created_utc_ns = s.integer(1);
    p.host = s.text(2);
    p.device = s.text(3);
    p.model = s.text(4);
    p.precision = s.text(5);
    p.timing = s.text(6);
    p.fallback_reason = s.text(7);
    p.command = s.text(8);
    p.repeats = static_cast<int>(s.integer(9));
    p.cupti_overhead = s.real(10);
    p.peak_memory_bytes = s.integer(11);
    p.layers = static_cast<int>(s.integer(12));
    p.records = s.integer(13);
    out.push_back(p);
  }
  return out;
}

int64_t ProfileStore::latest_id() const {
  return sqlite_query_int(db_, path_, kProfileDatabase, "SELECT coalesce(max(id), 0) FROM profiles");
}

GpuProfileResult ProfileStore::load(int64_t id) const {
  GpuProfileResult r;
  {
    SqliteStatement s(
        db_, path_, kProfileDatabase,
        "SELECT device, model, source, precision, timing, fallback_reason, repeats, warmup, microbatches, "
        "dropped_records, peak_memory_bytes, events_total_ms, cupti_total_ms, cupti_overhead, tokens_per_microbatch, "
        "pairs_per_microbatch, model_flops_per_microbatch FROM profiles WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) throw InputError(path_ + ": no profile " + std::to_string(id));
    // A database is an input like any file: integers are range-checked before narrowing.
    const std::string where = std::string(kProfileDatabase) + " " + path_ + ": profile " + std::to_string(id);
    auto narrow = [&](int col, long long hi, const char* name) {
      return checked_int(s.integer(col), 0, hi, where + ": field " + name);
    };
    r.device = s.text(0);
    r.costs.model = s.text(1);
    r.costs.source = s.text(2);
    r.precision = s.text(3);
    r.timing = s.text(4);
    r.fallback_reason = s.text(5);
    r.repeats = narrow(6, std::numeric_limits<int>::max(), "repeats");
    r.warmup = narrow(7, std::numeric_limits<int>::max(), "warmup");
    r.costs.microbatches = narrow(8, kMaxMicrobatches, "microbatches");
    r.dropped_records = static_cast<uint64_t>(s.integer(9));
    r.peak_memory_bytes = static_cast<size_t>(s.integer(10));
    r.events_total_ms = s.real(11);
    r.cupti_total_ms = s.real(12);
    r.cupti_overhead = s.real(13);
    r.costs.tokens_per_microbatch = s.real(14);  // range-checked with the layers below
    r.costs.pairs_per_microbatch = s.real(15);
    r.costs.model_flops_per_microbatch = s.real(16);
  }
  {
    SqliteStatement s(
        db_, path_, kProfileDatabase,
        "SELECT name, kind, f_ms, b_ms, w_ms, f_kernel_ms, b_kernel_ms, w_kernel_ms, f_kernels, b_kernels, w_kernels, "
        "param_bytes, state_bytes, act_b_bytes, act_w_bytes, out_bytes, w_grad_bytes, kept_selective_bytes, "
        "recompute_selective_ms, kept_full_bytes, kv_bytes, act_score_bytes, kept_selective_score_bytes, recurrent, "
        "f_pair_ms, b_pair_ms, w_pair_ms, f_fixed_ms, b_fixed_ms, w_fixed_ms FROM profile_layers WHERE profile_id = ? "
        "ORDER BY unit");
    s.bind(1, id);
    while (s.step()) {
      LayerCost c;
      c.name = s.text(0);
      c.kind = s.text(1);
      // Named like validate_cost_table names the layer, for the checks that only the stored form needs.
      const std::string where = std::string(kProfileDatabase) + " " + path_ + ": profile " + std::to_string(id) +
                                ": layers[" + std::to_string(r.costs.layers.size()) + "] ('" + c.name.substr(0, 60) +
                                "'): field '";
      // NULL (read as NaN: SQLite stores no NaN) = not given; anything stored is a value in range.
      auto optional = [&](int col, double hi, const char* name) {
        const double v = s.real(col);
        return std::isnan(v) ? -1.0 : checked_finite(v, 0.0, hi, where + name + "' (NULL = not given)");
      };
      c.f_ms = s.real(2);
      c.b_ms = s.real(3);
      c.w_ms = s.real(4);
      GpuUnitStats st;
      st.f_ms = c.f_ms;
      st.b_ms = c.b_ms;
      st.w_ms = c.w_ms;
      st.f_kernel_ms = s.real(5);
      st.b_kernel_ms = s.real(6);
      st.w_kernel_ms = s.real(7);
      st.f_kernels = static_cast<int>(s.integer(8));
      st.b_kernels = static_cast<int>(s.integer(9));
      st.w_kernels = static_cast<int>(s.integer(10));
      c.param_bytes = s.real(11);
      c.state_bytes = s.real(12);
      c.act_b_bytes = s.real(13);
      c.act_w_bytes = s.real(14);
      c.out_bytes = s.real(15);
      c.w_grad_bytes = s.real(16);
      c.kept_selective_bytes = optional(17, kMaxBytes, "kept_selective_bytes");
      c.recompute_selective_ms = optional(18, kMaxLayerTimeMs, "recompute_selective_ms");
      c.kept_full_bytes = optional(19, kMaxBytes, "kept_full_bytes");
      c.kv_bytes = optional(20, kMaxBytes, "kv_bytes");
      c.act_score_bytes = s.real(21);
      c.kept_selective_score_bytes = optional(22, kMaxBytes, "kept_selective_score_bytes");
      c.recurrent = checked_int(s.integer(23), 0, 1, where + "recurrent' (1 = true, 0 = false)") == 1;
      c.f_pair_ms = s.real(24);
      c.b_pair_ms = s.real(25);
      c.w_pair_ms = s.real(26);
      c.f_fixed_ms = s.real(27);
      c.b_fixed_ms = s.real(28);
      c.w_fixed_ms = s.real(29);
      r.costs.layers.push_back(c);
      r.units.push_back(st);
    }
  }
  // The costs go to the planner like a cost file's: every time and size finite and in range.
  const std::string origin = std::string(kProfileDatabase) + " " + path_ + ": profile " + std::to_string(id);
  validate_cost_table(r.costs, origin);
  validate_cost_parts(r.costs, origin);
  {
    SqliteStatement s(
        db_, path_, kProfileDatabase,
        "SELECT 'kernel', v.value, unit, pass, rep, start, end, 0, streamId, correlationId FROM "
        "CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds v ON v.id = k.demangledName WHERE profile_id = ?1 "
        "UNION ALL SELECT 'memcpy', copyKind, unit, pass, rep, start, end, bytes, streamId, correlationId FROM "
        "CUPTI_ACTIVITY_KIND_MEMCPY WHERE profile_id = ?1 "
        "UNION ALL SELECT 'memset', 'memset', unit, pass, rep, start, end, bytes, streamId, correlationId FROM "
        "CUPTI_ACTIVITY_KIND_MEMSET WHERE profile_id = ?1 ORDER BY 6");
    s.bind(1, id);
    while (s.step()) {
      ActivityRecord a;
      a.kind = s.text(0);
      a.name = a.kind == "memcpy" ? copy_kind_name(static_cast<int>(s.integer(1))) : s.text(1);
      a.unit = static_cast<int>(s.integer(2));
      const std::string pass = s.text(3);
      a.pass = pass.empty() ? '?' : pass[0];
      a.repeat = static_cast<int>(s.integer(4));
      a.start_ns = s.integer(5);
      a.end_ns = s.integer(6);
      a.bytes = static_cast<uint64_t>(s.integer(7));
      a.stream = static_cast<uint32_t>(s.integer(8));
      a.correlation = static_cast<uint32_t>(s.integer(9));
      r.records.push_back(a);
    }
  }
  return r;
}

CostTable ProfileStore::load_costs(int64_t id) const { return load(id).costs; }

}  // namespace adaptis::prof
