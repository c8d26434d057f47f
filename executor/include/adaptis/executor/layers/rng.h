#pragma once
// A tiny deterministic random source for parameter init and data sampling. It is spelled out (SplitMix64 +
// Box-Muller) rather than std::normal_distribution, whose output is implementation-defined: the same seed
// must give the same model on every compiler, in float and in double.
#include <cmath>
#include <cstdint>

namespace adaptis::exec {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), n > 0.
  uint64_t below(uint64_t n) { return next_u64() % n; }
  // Standard normal (Box-Muller; one draw per call, the pair's second value is discarded for simplicity).
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

// Mixes several integers into one seed, so that (seed, layer) or (seed, step, mb, row) streams are independent.
inline uint64_t mix_seed(uint64_t a, uint64_t b) {
  Rng r(a ^ (b * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull));
  r.next_u64();
  return r.next_u64();
}

}  // namespace adaptis::exec
