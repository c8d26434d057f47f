#pragma once
// GPU profiles in SQLite: one row per profile (device, model, precision, timing method, CUPTI overhead, peak
// memory, the cost table as JSON), one row per cost-table row, and the raw CUPTI records in Nsight Systems'
// table and column names (CUPTI_ACTIVITY_KIND_KERNEL / _MEMCPY / _MEMSET, names interned in StringIds as
// nsys exports them), plus our unit / pass / repeat columns, so nsys-style SQL works on it.
// Schema versioned by PRAGMA user_version, tagged with its own application_id; WAL; one transaction per save.
// A stored profile's costs are every field of its CostTable except LayerCost::parallel (which no profiler
// fills), so they load back as the cost file the profiler writes. Opening a database of an older schema
// upgrades it in place (new columns added; its rows read as "not given" for what they did not record).
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/profiler/gpu_profiler.h"

struct sqlite3;

namespace adaptis::prof {

// 1: first release; 2: the cost-table fields 1 dropped (recompute, kv and score bytes, recurrent, the per-unit
// time split, tokens / pairs / FLOPs per micro-batch).
constexpr int kProfileStoreSchemaVersion = 2;
constexpr int32_t kProfileStoreApplicationId = 0x41445046;  // "ADPF"

// $XDG_DATA_HOME/adaptis/profiles.db, else ~/.local/share/adaptis/profiles.db.
std::string default_profile_db_path();

struct ProfileSummary {
  int64_t id = 0;
  int64_t created_utc_ns = 0;
  std::string host, device, model, precision, timing, fallback_reason, command;
  int repeats = 0, layers = 0;
  double cupti_overhead = 0;
  int64_t peak_memory_bytes = 0;
  int64_t records = 0;
};

class ProfileStore {
 public:
  // Opens or creates, upgrading an older schema; InputError naming the path when it is not a profile
  // database or is newer than this build's schema.
  explicit ProfileStore(const std::string& path);
  ~ProfileStore();
  ProfileStore(const ProfileStore&) = delete;
  ProfileStore& operator=(const ProfileStore&) = delete;

  const std::string& path() const { return path_; }
  // InputError naming the field, and nothing stored, when the costs would not load back (validate_cost_table).
  int64_t save(const GpuProfileResult& profile, const std::string& command);
  std::vector<ProfileSummary> list() const;  // newest first
  CostTable load_costs(int64_t id) const;    // InputError when there is no such profile
  // Everything, records included; InputError naming the database, profile, layer and field for a stored value
  // out of range (what a cost file's reader refuses).
  GpuProfileResult load(int64_t id) const;
  int64_t latest_id() const;                 // 0 when empty

 private:
  void exec(const char* sql) const;
  void upgrade();  // to kProfileStoreSchemaVersion, in one transaction
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace adaptis::prof
