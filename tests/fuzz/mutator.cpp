#include "mutator.h"

#include <algorithm>

namespace adaptis::fuzz {

namespace {

// Numbers that have broken parsers: int/uint/double edges, overflow, NaN spellings, sign tricks.
const char* const kHugeNumbers[] = {
    "4294967297", "4294967296",  "2147483648",           "2147483647", "-2147483649",  "9223372036854775807",
    "18446744073709551615",      "99999999999999999999", "1e308",      "1e999",        "-1e308",
    "1e-320",     "-0",          "0",                    "-1",         "1000000",      "1000001",
    "999999999",  "1e6",         "NaN",                  "inf",        "0x10",         "1.5",
    "65536",      "100000",      "100001",               "0.0",        "3e38"};

size_t pos_in(Rng& rng, const std::string& s) { return rng.below(s.size() + 1); }

// The digit run around a random position, as [begin, end); empty when there is none.
std::pair<size_t, size_t> digit_run(Rng& rng, const std::string& s) {
  if (s.empty()) return {0, 0};
  size_t start = rng.below(s.size());
  for (size_t k = 0; k < s.size(); ++k) {
    size_t i = (start + k) % s.size();
    if (s[i] >= '0' && s[i] <= '9') {
      size_t b = i, e = i;
      while (b > 0 && s[b - 1] >= '0' && s[b - 1] <= '9') --b;
      while (e < s.size() && s[e] >= '0' && s[e] <= '9') ++e;
      return {b, e};
    }
  }
  return {0, 0};
}

std::string repeat(const std::string& unit, size_t n) {
  std::string out;
  out.reserve(unit.size() * n);
  for (size_t i = 0; i < n; ++i) out += unit;
  return out;
}

void mutate_once(std::string& s, Rng& rng, const MutationSource& src) {
  switch (rng.below(12)) {
    case 0:  // flip one bit
      if (!s.empty()) s[rng.below(s.size())] ^= static_cast<char>(1u << rng.below(8));
      break;
    case 1: {  // set one byte to something interesting
      static const char kBytes[] = {'\0', '\n', '"', ',', '\\', '{', '}', '[', ']', ':', '-', '9', '\x7f', '\xff', '\x1b'};
      if (!s.empty()) s[rng.below(s.size())] = kBytes[rng.below(sizeof kBytes)];
      break;
    }
    case 2: {  // insert random bytes
      std::string bytes;
      for (size_t n = 1 + rng.below(8); n > 0; --n) bytes += static_cast<char>(rng.below(256));
      s.insert(pos_in(rng, s), bytes);
      break;
    }
    case 3: {  // delete a chunk
      if (s.empty()) break;
      size_t at = rng.below(s.size()), len = 1 + rng.below(std::min<size_t>(64, s.size() - at));
      s.erase(at, len);
      break;
    }
    case 4: {  // duplicate a chunk somewhere else (repeated list items, keys, rows)
      if (s.empty()) break;
      size_t at = rng.below(s.size()), len = 1 + rng.below(std::min<size_t>(256, s.size() - at));
      std::string chunk = s.substr(at, len);
      s.insert(pos_in(rng, s), rng.chance(20) ? repeat(chunk, 2 + rng.below(50)) : chunk);
      break;
    }
    case 5: {  // splice: our prefix, another seed's suffix
      if (!src.seeds || src.seeds->empty()) break;
      const std::string& other = (*src.seeds)[rng.below(src.seeds->size())];
      s = s.substr(0, pos_in(rng, s)) + other.substr(rng.below(other.size() + 1));
      break;
    }
    case 6: {  // deep nesting, balanced or not
      static const size_t kDepths[] = {600, 5000, 100000};
      const size_t d = kDepths[rng.below(3)];
      const bool balanced = rng.chance(60);
      s.insert(pos_in(rng, s), repeat(src.open, d) + (balanced ? repeat(src.close, d) : ""));
      break;
    }
    case 7: {  // replace a number with a huge or odd one
      auto [b, e] = digit_run(rng, s);
      const std::string n = kHugeNumbers[rng.below(sizeof kHugeNumbers / sizeof *kHugeNumbers)];
      if (e > b) s.replace(b, e - b, n);
      else s.insert(pos_in(rng, s), n);
      break;
    }
    case 8:
    case 9: {  // a token of the format, inserted or replacing a chunk
      if (!src.dictionary || src.dictionary->empty()) break;
      const std::string& tok = (*src.dictionary)[rng.below(src.dictionary->size())];
      size_t at = pos_in(rng, s);
      if (rng.chance(50) && at < s.size()) s.erase(at, 1 + rng.below(std::min<size_t>(8, s.size() - at)));
      s.insert(std::min(at, s.size()), tok);
      break;
    }
    case 10: {  // file-level oddities: BOM, NUL, truncation, CRLF
      switch (rng.below(4)) {
        case 0: s.insert(0, "\xEF\xBB\xBF"); break;
        case 1: s.insert(pos_in(rng, s), std::string(1 + rng.below(4), '\0')); break;
        case 2: s.resize(rng.below(s.size() + 1)); break;
        default:
          for (size_t i = 0; i < s.size(); ++i)
            if (s[i] == '\n' && rng.chance(50)) s.insert(i++, "\r");
          break;
      }
      break;
    }
    default: {  // swap two chunks' order (reorders lines, list items, actions)
      if (s.size() < 4) break;
      size_t a = rng.below(s.size() / 2), b = s.size() / 2 + rng.below(s.size() / 2);
      size_t len = 1 + rng.below(std::min<size_t>(32, std::min(b - a, s.size() - b)));
      std::string ca = s.substr(a, len), cb = s.substr(b, len);
      s.replace(b, len, ca);
      s.replace(a, len, cb);
      break;
    }
  }
}

}  // namespace

std::string mutate(const std::string& input, Rng& rng, const MutationSource& src, size_t max_size) {
  std::string s = input;
  // Half the inputs carry one mutation (most of them still parse far enough to test the checks
  // behind the syntax), the rest two to four.
  for (size_t n = rng.chance(50) ? 1 : 2 + rng.below(3); n > 0; --n) {
    mutate_once(s, rng, src);
    if (s.size() > max_size) s.resize(max_size);
  }
  return s;
}

}  // namespace adaptis::fuzz
