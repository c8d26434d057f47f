#pragma once
// A GoogleTest fixture with a scratch directory of its own per test: <tmp>/adaptis-<suite>-<pid>-<test>,
// created before the test and removed after it (made writable first, so a test may take permissions
// away). End-to-end tests write their input files there and point the binary at them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace adaptis::test {

class ScratchDirTest : public ::testing::Test {
 protected:
  std::filesystem::path dir;

  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = std::filesystem::temp_directory_path() / ("adaptis-" + std::string(info->test_suite_name()) + "-" +
                                                    std::to_string(::getpid()) + "-" + info->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(dir, ec);
  }

  // The path of `name` in the scratch directory.
  std::string at(const std::string& name) const { return (dir / name).string(); }
  // Writes `text` (bytes as given) to `name` in the scratch directory; returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(at(name), std::ios::binary) << text;
    return at(name);
  }
};

}  // namespace adaptis::test
