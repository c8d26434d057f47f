// End-to-end: how the commands treat the run database. Only `run` creates one; the readers (`runs`, `show`,
// `export RUN`) open it read-only, never create a file or a directory, say "no run database at PATH" when
// there is none, and leave an existing database byte for byte as it was (also a foreign or corrupt one).
// A run whose training diverges fails (exit 1, the step and device named) and is recorded as failed.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_test_support.h"
#include "scratch_dir_test.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using adaptis::test::CliResult;
using adaptis::test::run_cli;
using adaptis::test::slurp_file;

class CliRunsDb : public adaptis::test::ScratchDirTest {
 protected:
  const std::string tiny = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json";


  void expect_error(const std::string& args, std::initializer_list<std::string> fragments) const {
    SCOPED_TRACE(args);
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    for (const auto& f : fragments) EXPECT_NE(r.err.find(f), std::string::npos) << "missing '" << f << "' in " << r.err;
  }
  // Every file under the test directory with its contents; SQLite's -wal and -shm companions of a WAL
  // database are left out (a reader may need them to exist, they hold no data of their own once the
  // writer has closed).
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      const std::string p = e.path().string();
      if (p.size() > 4 && (p.substr(p.size() - 4) == "-wal" || p.substr(p.size() - 4) == "-shm")) continue;
      files[p] = e.is_regular_file() ? slurp_file(p) : "<dir>";
    }
    return files;
  }
};

TEST_F(CliRunsDb, ReadersNeverCreateADatabaseOrItsDirectories) {
  const std::string nested = at("new/dir/x.db");
  expect_error("runs --db " + nested, {"no run database at " + nested});
  expect_error("runs --json --db " + nested, {"no run database at " + nested});
  expect_error("show 1 --db " + at("typo.db"), {"no run database at " + at("typo.db")});
  expect_error("show latest --json --db " + at("typo.db"), {"no run database at"});
  // A mistyped run reference is named first, whether or not the database exists.
  expect_error("show abc --db " + at("typo.db"), {"expected a run id", "'abc'"});
  expect_error("export 0 --chrome-trace " + at("t.json") + " --db " + at("typo.db"), {"expected a run id", "'0'"});
  expect_error("export 1 --chrome-trace " + at("t.json") + " --db " + at("typo.db"), {"no run database at"});
  EXPECT_FALSE(fs::exists(at("new")));
  EXPECT_FALSE(fs::exists(at("typo.db")));
  EXPECT_FALSE(fs::exists(at("t.json")));
  // The default location too: a fresh data directory stays empty.
  const CliResult r = run_cli("runs", false, "XDG_DATA_HOME=" + at("xdg"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no run database at " + at("xdg") + "/adaptis/runs.db"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(at("xdg")));
}

TEST_F(CliRunsDb, ReadersLeaveDatabasesAsTheyAre) {
  const std::string db = at("runs.db");
  CliResult r = run_cli("run --model " + tiny + " --devices 2 -m 2 --steps 2 --profile-repeats 1 --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  // A foreign and a corrupt file given as --db: refused, untouched.
  const std::string text = at("notes.txt");
  std::ofstream(text) << "plain text, certainly not SQLite, long enough to fill a header page of a database\n";
  const std::string corrupt = at("corrupt.db");
  {
    std::string bytes = slurp_file(db);
    ASSERT_GT(bytes.size(), 200u);
    for (size_t i = 100; i < bytes.size(); i += 7) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
    std::ofstream(corrupt, std::ios::binary) << bytes;
  }
  const auto before = snapshot();
  EXPECT_EQ(run_cli("runs --db " + db).code, 0);
  EXPECT_EQ(run_cli("runs --json --db " + db).code, 0);
  EXPECT_EQ(run_cli("show 1 --db " + db).code, 0);
  EXPECT_EQ(run_cli("show latest --json --db " + db).code, 0);
  expect_error("runs --db " + text, {text, "not an adaptis run database"});
  expect_error("show 1 --db " + text, {text, "not an adaptis run database"});
  r = run_cli("runs --db " + corrupt);
  EXPECT_GE(r.code, 1);
  EXPECT_LE(r.code, 127);
  EXPECT_NE(r.code, 70) << r.err;
  EXPECT_NE(r.err.find(corrupt), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(), before);

  // A database the user may only read is still listed, and shown (root reads and writes anything).
  if (::geteuid() == 0) return;
  fs::permissions(db, fs::perms::owner_read);
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  r = run_cli("runs --json --db " + db);
  EXPECT_EQ(r.code, 0) << r.err;
  if (r.code == 0) {
    EXPECT_EQ(json::parse(r.out)["runs"].size(), 1u);
  }
  EXPECT_EQ(run_cli("show 1 --db " + db).code, 0);
  fs::permissions(dir, fs::perms::owner_all);
  fs::permissions(db, fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(CliRunsDb, LockedDatabaseIsAClearErrorAndLosesNothing) {
  const std::string db = at("runs.db");
  ASSERT_EQ(run_cli("run --model " + tiny + " --devices 2 -m 2 --steps 1 --profile-repeats 1 --db " + db).code, 0);
  // Another process holds the write lock for longer than the store waits (5 s).
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &other, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  const CliResult r = run_cli("run --model " + tiny + " --devices 2 -m 2 --steps 1 --profile-repeats 1 --db " + db);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(db), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("locked"), std::string::npos) << r.err;
  // Readers are not blocked by the writer's lock (WAL).
  EXPECT_EQ(run_cli("runs --db " + db).code, 0);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  const CliResult list = run_cli("runs --json --db " + db);
  ASSERT_EQ(list.code, 0) << list.err;
  const json runs = json::parse(list.out)["runs"];
  ASSERT_EQ(runs.size(), 1u);  // the first run, intact; the refused one recorded nothing
  EXPECT_EQ(runs[0]["status"], "complete");
  EXPECT_EQ(runs[0]["steps_done"], 1);
}

TEST_F(CliRunsDb, RunCreatesItsDatabaseWithItsDirectories) {
  const std::string db = at("made/by/run.db");
  const CliResult r = run_cli("run --model " + tiny + " --devices 2 -m 2 --steps 1 --profile-repeats 1 --db " + db);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(db));
  const CliResult list = run_cli("runs --json --db " + db);
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(json::parse(list.out)["runs"][0]["status"], "complete");
}

TEST_F(CliRunsDb, DivergingTrainingFailsAndIsRecordedAsFailed) {
  const std::string db = at("runs.db");
  const CliResult r =
      run_cli("run --model " + tiny + " --devices 2 -m 2 --steps 20 --profile-repeats 1 --lr 1000 --db " + db);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("training diverged at step "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("recorded as failed"), std::string::npos) << r.err;
  const CliResult list = run_cli("runs --json --db " + db);
  ASSERT_EQ(list.code, 0) << list.err;
  const json run = json::parse(list.out)["runs"][0];
  EXPECT_EQ(run["status"], "failed");
  EXPECT_NE(run["error"].get<std::string>().find("training diverged"), std::string::npos) << run.dump();
  // The steps before the divergence are kept, all with finite losses.
  const CliResult show = run_cli("show 1 --json --db " + db);
  EXPECT_EQ(show.code, 3) << show.err;
  const json shown = json::parse(show.out);  // named: a range-for over a temporary's member dangles
  for (const auto& s : shown["step_records"]) EXPECT_TRUE(s["loss"].is_number()) << s.dump();
}

}  // namespace
