#include "adaptis/store/sqlite_statement.h"

#include <sqlite3.h>

#include <cmath>

#include "adaptis/model/error.h"

namespace adaptis::store {

SqliteStatement::SqliteStatement(sqlite3* db, const std::string& path, const char* kind, const char* sql)
    : db_(db), path_(path), kind_(kind) {
  // A failed prepare leaves stmt_ null: nothing to finalize.
  if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

SqliteStatement& SqliteStatement::bind(int i, int64_t v) { return check_bind(sqlite3_bind_int64(stmt_, i, v)); }

SqliteStatement& SqliteStatement::bind(int i, double v) {
  return check_bind(std::isnan(v) ? sqlite3_bind_null(stmt_, i) : sqlite3_bind_double(stmt_, i, v));
}

SqliteStatement& SqliteStatement::bind(int i, const std::string& v) {
  return check_bind(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
}

SqliteStatement& SqliteStatement::bind_null(int i) { return check_bind(sqlite3_bind_null(stmt_, i)); }

bool SqliteStatement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail("step");
}

void SqliteStatement::run() {
  while (step()) {
  }
  reset();
}

void SqliteStatement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t SqliteStatement::integer(int c) const { return sqlite3_column_int64(stmt_, c); }

double SqliteStatement::real(int c) const {
  return sqlite3_column_type(stmt_, c) == SQLITE_NULL ? std::nan("") : sqlite3_column_double(stmt_, c);
}

std::string SqliteStatement::text(int c) const {
  const unsigned char* t = sqlite3_column_text(stmt_, c);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(stmt_, c)))
           : std::string();
}

SqliteStatement& SqliteStatement::check_bind(int rc) {
  if (rc != SQLITE_OK) fail("bind");
  return *this;
}

void SqliteStatement::fail(const char* what) const {
  throw InputError(path_ + ": " + kind_ + " " + what + " failed: " + sqlite3_errmsg(db_));
}

void sqlite_exec(sqlite3* db, const std::string& path, const char* kind, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    throw InputError(path + ": " + kind + " error: " + msg);
  }
}

int64_t sqlite_query_int(sqlite3* db, const std::string& path, const char* kind, const char* sql) {
  SqliteStatement s(db, path, kind, sql);
  return s.step() ? s.integer(0) : 0;
}

}  // namespace adaptis::store
