#pragma once
// Deterministic mutation of text inputs for the fuzz driver (fuzz_inputs.cpp): byte flips, inserted,
// deleted and duplicated chunks, splices with another seed, deep nesting, huge numbers and ids, and
// tokens of the format's own dictionary. The same seed gives the same inputs on every machine: the
// generator is a fixed 64-bit one and no library distribution is used.
#include <cstdint>
#include <string>
#include <vector>

namespace adaptis::fuzz {

// splitmix64: tiny, fast, and fully specified (unlike std::uniform_int_distribution).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (n > 0; the modulo bias is irrelevant here).
  size_t below(size_t n) { return n ? static_cast<size_t>(next() % n) : 0; }
  bool chance(int percent) { return below(100) < static_cast<size_t>(percent); }

 private:
  uint64_t state_;
};

struct MutationSource {
  const std::vector<std::string>* seeds = nullptr;       // for splices
  const std::vector<std::string>* dictionary = nullptr;  // the format's tokens
  std::string open = "[", close = "]";                   // how this format nests ("(" ")" for layouts)
};

// 1 to 4 stacked mutations of `input`; the result is at most `max_size` bytes.
std::string mutate(const std::string& input, Rng& rng, const MutationSource& src, size_t max_size = 4u << 20);

}  // namespace adaptis::fuzz
