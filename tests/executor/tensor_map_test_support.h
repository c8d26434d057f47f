#pragma once
// Named copies of a model's tensors (parameters or gradients) and their bitwise comparison: what the
// executor tests compare a pipelined run against the single-device run with.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "adaptis/executor/runtime.h"
#include "adaptis/executor/stage_compute.h"

namespace adaptis::exec::test {

using TensorMap = std::map<std::string, std::vector<float>>;

inline TensorMap by_name(const std::vector<NamedTensor>& ts) {
  TensorMap m;
  for (const auto& t : ts) m[t.name].assign(t.data.begin(), t.data.end());
  return m;
}

// The tensors of one stage, read from `arena` (its parameters or gradients) at their offsets.
inline TensorMap by_name(const StageCompute& s, std::span<const float> arena) {
  TensorMap m;
  for (const auto& t : s.tensors()) m[t.name].assign(arena.begin() + t.offset, arena.begin() + t.offset + t.size);
  return m;
}

// Same names, same sizes, same bits.
inline void expect_bitwise(const TensorMap& got, const TensorMap& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (const auto& [name, v] : want) {
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << what << ": missing " << name;
    ASSERT_EQ(it->second.size(), v.size()) << what << ": " << name;
    EXPECT_EQ(0, std::memcmp(it->second.data(), v.data(), v.size() * sizeof(float))) << what << ": " << name;
  }
}

}  // namespace adaptis::exec::test
