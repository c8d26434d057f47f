#pragma once
// The store library: the SQLite access shared by the run store (executor/src/run_store.cpp) and the profile
// store (profiler/src/profile_store.cpp). RAII over the plain sqlite3 API plus error text, nothing more (the
// SQL and the schemas stay with each store). Every error is an InputError that names the database file, the
// kind of database and the step that failed, e.g.
//   "runs.db: run database step failed: database is locked"
#include <cstdint>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace adaptis::store {

// A prepared statement: bind by 1-based index, step, read columns by 0-based index. Finalized on
// destruction. Binds return *this so a row's values chain: s.bind(1, a).bind(2, b).
class SqliteStatement {
 public:
  // `path` and `kind` ("run database", "profile database") name the database in errors; both must outlive
  // the statement (the stores pass their own path member and a string literal).
  SqliteStatement(sqlite3* db, const std::string& path, const char* kind, const char* sql);
  ~SqliteStatement();
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  SqliteStatement& bind(int i, int64_t v);
  SqliteStatement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  SqliteStatement& bind(int i, double v);  // NaN binds NULL (as SQLite itself stores a NaN)
  SqliteStatement& bind(int i, const std::string& v);
  SqliteStatement& bind_null(int i);

  // True while there is a row to read; false once the statement is done.
  bool step();
  // Steps to the end (an INSERT / UPDATE), then resets for the next row's binds.
  void run();
  // Ready to run again, with every parameter unbound.
  void reset();

  int64_t integer(int c) const;
  double real(int c) const;  // NULL reads as NaN
  std::string text(int c) const;

 private:
  SqliteStatement& check_bind(int rc);
  [[noreturn]] void fail(const char* what) const;
  sqlite3* db_;
  const std::string& path_;
  const char* kind_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Runs `sql` (one or more statements, no results) with sqlite3_exec; InputError
// "<path>: <kind> error: <sqlite message>" when it fails.
void sqlite_exec(sqlite3* db, const std::string& path, const char* kind, const char* sql);

// The first column of the first row of `sql` as an integer, 0 when there is no row (PRAGMA values, counts).
int64_t sqlite_query_int(sqlite3* db, const std::string& path, const char* kind, const char* sql);

}  // namespace adaptis::store
