// The private work directory of the TUI and GUI (app/common/private_work_dir.h) and the files created in
// it: a new 0700 directory per session, and files that are never opened through a planted symlink or
// over an existing file. Also the TUI's `r` (launch a run) with symlinks planted where its files go.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "adaptis/model/error.h"
#include "common/child_process.h"
#include "common/private_work_dir.h"

namespace {

namespace fs = std::filesystem;
using adaptis::InputError;
using namespace adaptis::app;

struct TempDir {
  fs::path path;
  TempDir() {
    char templ[] = "/tmp/adaptis-test-workdir-XXXXXX";
    path = ::mkdtemp(templ);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// TMPDIR pointed at a test directory for the scope.
struct ScopedTmpdir {
  std::string old;
  bool had = false;
  explicit ScopedTmpdir(const fs::path& dir) {
    if (const char* v = std::getenv("TMPDIR")) old = v, had = true;
    ::setenv("TMPDIR", dir.c_str(), 1);
  }
  ~ScopedTmpdir() {
    if (had) ::setenv("TMPDIR", old.c_str(), 1);
    else ::unsetenv("TMPDIR");
  }
};

TEST(PrivateWorkDir, IsNewAndOnlyTheOwnersEachTime) {
  TempDir tmp;
  ScopedTmpdir env(tmp.path);
  // What the old code used: a predictable name another user could create first. It is never reused.
  const fs::path predictable = tmp.path / ("adaptis-tui-" + std::to_string(::getpid()));
  fs::create_directories(predictable);
  const std::string a = make_private_dir("adaptis-tui-");
  const std::string b = make_private_dir("adaptis-tui-");
  EXPECT_NE(a, b);
  EXPECT_NE(fs::path(a), predictable);
  EXPECT_EQ(fs::path(a).parent_path(), tmp.path);
  struct stat st {};
  ASSERT_EQ(::lstat(a.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(PrivateWorkDir, UnwritableTmpdirIsAClearError) {
  ScopedTmpdir env("/nonexistent-adaptis-tmpdir");
  try {
    make_private_dir("adaptis-gui-");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-adaptis-tmpdir/adaptis-gui-"), std::string::npos) << e.what();
  }
}

TEST(PrivateWorkDir, NewFilesRefuseSymlinksAndExistingFiles) {
  TempDir tmp;
  const fs::path victim = tmp.path / "victim.txt";
  std::ofstream(victim) << "precious";
  const fs::path link = tmp.path / "run1-plan.json";
  fs::create_symlink(victim, link);
  EXPECT_THROW(write_new_file(link.string(), "plan json"), InputError);
  EXPECT_EQ(slurp(victim), "precious");
  const fs::path dangling = tmp.path / "run1.log";
  fs::create_symlink(tmp.path / "not-there-yet", dangling);
  EXPECT_THROW(open_new_file(dangling.string(), true), InputError);
  EXPECT_FALSE(fs::exists(tmp.path / "not-there-yet"));
  EXPECT_THROW(write_new_file(victim.string(), "overwrite"), InputError);
  EXPECT_EQ(slurp(victim), "precious");

  const fs::path fresh = tmp.path / "fresh.json";
  write_new_file(fresh.string(), "{}\n");
  EXPECT_EQ(slurp(fresh), "{}\n");
  struct stat st {};
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(PrivateWorkDir, ChildLogIsNeverOpenedThroughASymlink) {
  TempDir tmp;
  const fs::path victim = tmp.path / "victim.txt";
  std::ofstream(victim) << "precious";
  const fs::path log = tmp.path / "run1.log";
  fs::create_symlink(victim, log);
  ChildProcess child;
  EXPECT_THROW(child.start({"/bin/echo", "appended"}, log.string()), InputError);
  EXPECT_FALSE(child.started());
  EXPECT_EQ(slurp(victim), "precious");

  const fs::path fresh = tmp.path / "run2.log";
  child.start({"/bin/echo", "hello"}, fresh.string());
  while (child.poll()) ::usleep(10000);
  EXPECT_EQ(child.exit_status(), 0);
  EXPECT_EQ(slurp(fresh), "hello\n");
}

}  // namespace
