// Sequence-length inputs: lengths files, histogram JSON and seeded synthetic distributions.
#include "adaptis/model/sequence_lengths.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <sstream>

#include "adaptis/model/cancellable_read.h"
#include "adaptis/model/error.h"
#include "adaptis/model/limits.h"
#include "adaptis/model/json_file.h"

namespace adaptis {

long long SequenceLengths::total_tokens() const {
  long long t = 0;
  for (long long s : lengths) t += s;
  return t;
}

long long SequenceLengths::longest() const {
  long long m = 0;
  for (long long s : lengths) m = std::max(m, s);
  return m;
}

std::string SequenceLengths::where(size_t i) const {
  if (i < lines.size() && lines[i] > 0) return origin + " line " + std::to_string(lines[i]);
  return origin + " sequence " + std::to_string(i);
}

namespace {

// Draws are made from raw 64-bit words (SplitMix64) and converted by hand: the standard library's
// distributions differ between implementations, and the same seed must give the same batch anywhere.
class Draws {
 public:
  explicit Draws(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }  // (0, 1)
  long long between(long long lo, long long hi) {  // [lo, hi]
    return lo + static_cast<long long>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double normal() {  // Box-Muller, one value per call
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

struct Distribution {
  std::string name;
  std::map<std::string, double> params;  // resolved (defaults filled in)
  std::function<long long(Draws&)> draw;
};

const char* kDistributions[] = {"uniform", "lognormal", "long-tail", "fixed"};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

std::string number_text(double v) {
  char buf[64];
  if (v == std::floor(v) && std::abs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// "NAME:key=value,..." -> name and the given parameters; errors name the distribution text.
std::pair<std::string, std::map<std::string, double>> parse_spec(const std::string& spec) {
  const size_t colon = spec.find(':');
  std::string name = trim(spec.substr(0, colon));
  std::map<std::string, double> given;
  if (colon == std::string::npos) return {name, given};
  std::stringstream ss(spec.substr(colon + 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos)
      throw InputError("length distribution '" + spec + "': parameter '" + item + "' must be key=value");
    const std::string key = trim(item.substr(0, eq)), text = trim(item.substr(eq + 1));
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end == nullptr || *end != '\0' || !std::isfinite(v))
      throw InputError("length distribution '" + spec + "': parameter '" + key + "' must be a number, got '" + text +
                       "'");
    if (given.count(key)) throw InputError("length distribution '" + spec + "': parameter '" + key + "' given twice");
    given[key] = v;
  }
  return {name, given};
}

Distribution make_distribution(const std::string& spec, long long context) {
  auto [name, given] = parse_spec(spec);
  Distribution d;
  d.name = name;
  auto& p = d.params;
  const std::string what = "length distribution '" + spec + "'";
  auto param = [&](const char* key, double fallback) {
    auto it = given.find(key);
    double v = it == given.end() ? fallback : it->second;
    p[key] = v;
    return v;
  };
  auto positive_int = [&](const char* key, double v) {
    if (!(v >= 1) || v != std::floor(v) || v > 1e12)
      throw InputError(what + ": parameter '" + std::string(key) + "' must be a whole number >= 1, got " +
                       number_text(v));
    return static_cast<long long>(v);
  };
  const double seed = param("seed", 1);
  if (seed < 0 || seed != std::floor(seed)) throw InputError(what + ": parameter 'seed' must be a whole number >= 0");
  if (name == "uniform") {
    const long long lo = positive_int("min", param("min", 1));
    const long long hi = positive_int("max", param("max", static_cast<double>(context)));
    if (lo > hi) throw InputError(what + ": min " + std::to_string(lo) + " is above max " + std::to_string(hi));
    d.draw = [lo, hi](Draws& r) { return r.between(lo, hi); };
  } else if (name == "lognormal") {
    if (!given.count("mu") && !given.count("median"))
      throw InputError(what + ": needs mu=M (mean of ln length) or median=N, and sigma=S");
    if (given.count("mu") && given.count("median")) throw InputError(what + ": give mu or median, not both");
    const double mu = given.count("median") ? std::log(static_cast<double>(positive_int("median", given["median"])))
                                            : given["mu"];
    p["mu"] = mu;
    if (given.count("median")) p["median"] = given["median"];
    const double sigma = param("sigma", 1.0);
    if (!(sigma > 0)) throw InputError(what + ": parameter 'sigma' must be > 0");
    const long long lo = positive_int("min", param("min", 1));
    const long long hi = positive_int("max", param("max", static_cast<double>(context)));
    if (lo > hi) throw InputError(what + ": min " + std::to_string(lo) + " is above max " + std::to_string(hi));
    d.draw = [mu, sigma, lo, hi](Draws& r) {
      const double x = std::exp(mu + sigma * r.normal());
      return std::clamp(static_cast<long long>(std::llround(std::min(x, 1e15))), lo, hi);
    };
  } else if (name == "long-tail") {
    const long long median = positive_int("short_median", param("short_median", std::max(1.0, std::floor(context / 16.0))));
    const double sigma = param("short_sigma", 1.0);
    if (!(sigma > 0)) throw InputError(what + ": parameter 'short_sigma' must be > 0");
    const double tail = param("tail", 0.03);
    if (!(tail >= 0 && tail <= 1)) throw InputError(what + ": parameter 'tail' must be a fraction in [0, 1]");
    const long long tail_min = positive_int("tail_min", param("tail_min", std::max(1.0, std::floor(context / 2.0))));
    const long long tail_max = positive_int("tail_max", param("tail_max", static_cast<double>(context)));
    const long long short_max = positive_int("short_max", param("short_max", static_cast<double>(tail_max)));
    if (tail_min > tail_max)
      throw InputError(what + ": tail_min " + std::to_string(tail_min) + " is above tail_max " + std::to_string(tail_max));
    const double mu = std::log(static_cast<double>(median));
    d.draw = [=](Draws& r) {
      if (r.uniform() < tail) return r.between(tail_min, tail_max);
      const double x = std::exp(mu + sigma * r.normal());
      return std::clamp(static_cast<long long>(std::llround(std::min(x, 1e15))), 1LL, short_max);
    };
  } else if (name == "fixed") {
    const long long n = positive_int("length", param("length", static_cast<double>(context)));
    d.draw = [n](Draws&) { return n; };
  } else {
    std::string known;
    for (const char* k : kDistributions) known += std::string(known.empty() ? "" : ", ") + k;
    throw InputError("length distribution '" + spec + "': unknown name '" + name + "' (known: " + known +
                     "; or give a lengths file)");
  }
  for (const auto& [key, v] : given)
    if (!p.count(key))
      throw InputError(what + ": unknown parameter '" + key + "' for '" + name + "'");
  return d;
}

std::string describe(const Distribution& d) {
  std::string s = d.name + ":";
  bool first = true;
  for (const auto& [k, v] : d.params) {
    s += (first ? "" : ",") + k + "=" + number_text(v);
    first = false;
  }
  return s;
}

// Draws sequences until `tokens` are filled; the last one is cut to what is left.
void fill_batch(SequenceLengths& out, long long tokens, Draws& rng, const std::function<long long(Draws&)>& draw) {
  long long total = 0;
  while (total < tokens) {
    if (static_cast<long long>(out.lengths.size()) >= kMaxSequences)
      throw InputError("global_batch_tokens", std::to_string(tokens) + " tokens take more than " +
                                                  std::to_string(kMaxSequences) + " sequences of " + out.origin +
                                                  "; at most that many are supported in one iteration");
    long long s = std::min(draw(rng), tokens - total);
    out.lengths.push_back(s);
    out.lines.push_back(0);
    total += s;
  }
}

SequenceLengths from_distribution(const std::string& spec, const LengthOptions& o) {
  if (o.context < 1) throw InputError("context", "length distribution '" + spec + "' needs the context length in tokens");
  if (o.global_batch_tokens < 1)
    throw InputError("global_batch_tokens", "length distribution '" + spec + "' needs the global batch in tokens");
  Distribution d = make_distribution(spec, o.context);
  SequenceLengths out;
  out.context = o.context;
  out.origin = describe(d);
  Draws rng(static_cast<uint64_t>(d.params["seed"]));
  fill_batch(out, o.global_batch_tokens, rng, d.draw);
  return out;
}

SequenceLengths from_histogram(const std::string& path, const nlohmann::json& j, const LengthOptions& o) {
  const std::string fmt = json_string(j, "format", path);
  if (fmt != "adaptis-lengths/1")
    throw InputError(path + ": field 'format' is '" + fmt + "', expected 'adaptis-lengths/1'");
  reject_unknown_fields(j, {"format", "name", "note", "context", "global_batch_tokens", "seed", "bins"}, path);
  SequenceLengths out;
  out.context = o.context > 0 ? o.context : json_int_or(j, "context", 0, path);
  if (out.context < 1 || out.context > kMaxSequenceTokens)
    throw InputError(path + ": field 'context' must be a whole number in [1, " + std::to_string(kMaxSequenceTokens) +
                     "] (or give the context as an option), got " + std::to_string(out.context));
  const long long tokens = o.global_batch_tokens > 0 ? o.global_batch_tokens : json_int_or(j, "global_batch_tokens", 0, path);
  if (tokens < 1 || tokens > kMaxBatchTokens)
    throw InputError(path + ": field 'global_batch_tokens' must be a whole number in [1, " + std::to_string(kMaxBatchTokens) +
                     "] (or give the global batch as an option), got " + std::to_string(tokens));
  const long long seed = json_int_or(j, "seed", 1, path);
  if (seed < 0) throw InputError(path + ": field 'seed' must be >= 0");
  const auto& bins = json_array(j, "bins", path);
  if (bins.empty()) throw InputError(path + ": field 'bins' is empty: a histogram needs at least one bin");
  struct Bin {
    long long lo, hi;
    double weight;
  };
  std::vector<Bin> bs;
  double total_weight = 0;
  for (size_t i = 0; i < bins.size(); ++i) {
    const std::string where = path + ": bins[" + std::to_string(i) + "]";
    if (!bins[i].is_object())
      throw InputError(where + ": must be an object {\"min\", \"max\", \"weight\"}, got " + describe_json(bins[i]));
    reject_unknown_fields(bins[i], {"min", "max", "weight"}, where);
    const long long lo = json_int(bins[i], "min", where), hi = json_int(bins[i], "max", where);
    const double w = json_number(bins[i], "weight", where);
    if (lo < 1) throw InputError(where + ": field 'min' must be >= 1 token, got " + std::to_string(lo));
    if (hi < lo) throw InputError(where + ": field 'max' (" + std::to_string(hi) + ") is below 'min' (" + std::to_string(lo) + ")");
    if (hi > kMaxSequenceTokens)
      throw InputError(where + ": field 'max' must be at most " + std::to_string(kMaxSequenceTokens) + " tokens, got " +
                       std::to_string(hi));
    if (!(w >= 0) || !std::isfinite(w)) throw InputError(where + ": field 'weight' must be a finite number >= 0");
    bs.push_back({lo, hi, w});
    total_weight += w;
  }
  if (!(total_weight > 0)) throw InputError(path + ": every bin has weight 0");
  out.origin = path;
  Draws rng(static_cast<uint64_t>(seed));
  fill_batch(out, tokens, rng, [&](Draws& r) {
    double x = r.uniform() * total_weight;
    size_t k = 0;
    while (k + 1 < bs.size() && (x -= bs[k].weight) >= 0) ++k;
    while (bs[k].weight <= 0) --k;  // x fell past the last positive bin only through rounding
    return r.between(bs[k].lo, bs[k].hi);
  });
  return out;
}

SequenceLengths from_lengths_file(const std::string& path, const std::string& text, const LengthOptions& o) {
  SequenceLengths out;
  out.origin = path;
  std::stringstream ss(text);
  std::string line;
  int n = 0;
  long long total = 0;
  while (std::getline(ss, line)) {
    ++n;
    std::string t = trim(line.substr(0, line.find('#')));
    if (t.empty()) continue;
    const std::string at = path + " line " + std::to_string(n);
    if (t.find_first_not_of("+-0123456789") != std::string::npos)
      throw InputError(at + ": sequence length must be a whole number of tokens, got '" + t + "'");
    long long v = 0;
    try {
      size_t used = 0;
      v = std::stoll(t, &used);
      if (used != t.size()) throw std::invalid_argument(t);
    } catch (const std::exception&) {
      throw InputError(at + ": sequence length must be a whole number of tokens, got '" + t + "'");
    }
    if (v <= 0) throw InputError(at + ": sequence length must be >= 1 token, got " + std::to_string(v));
    if (v > kMaxSequenceTokens)
      throw InputError(at + ": sequence length must be at most " + std::to_string(kMaxSequenceTokens) + " tokens, got " +
                       std::to_string(v));
    if (static_cast<long long>(out.lengths.size()) >= kMaxSequences)
      throw InputError(at + ": more than " + std::to_string(kMaxSequences) +
                       " sequences; at most that many are supported in one iteration");
    if (o.global_batch_tokens > 0) {
      if (total >= o.global_batch_tokens) break;
      v = std::min(v, o.global_batch_tokens - total);
    }
    out.lengths.push_back(v);
    out.lines.push_back(n);
    total += v;
  }
  if (out.lengths.empty()) throw InputError(path + ": no sequence lengths (the file is empty; expected one token count per line)");
  if (o.global_batch_tokens > 0 && total < o.global_batch_tokens)
    throw InputError(path + ": holds " + std::to_string(total) + " tokens, fewer than the global batch of " +
                     std::to_string(o.global_batch_tokens) + " (the global batch asked for)");
  out.context = o.context > 0 ? o.context : out.longest();
  return out;
}

}  // namespace

bool is_length_distribution(const std::string& spec) {
  const std::string name = trim(spec.substr(0, spec.find(':')));
  for (const char* k : kDistributions)
    if (name == k) return true;
  return false;
}

namespace {

// load_sequence_lengths with the file read by `read` (nullopt: stopped, and so is this).
template <class Read>
std::optional<SequenceLengths> load_with(const std::string& spec, const LengthOptions& o, Read read) {
  if (o.context < 0 || o.context > kMaxSequenceTokens)
    throw InputError("context", "must be in [1, " + std::to_string(kMaxSequenceTokens) + "] tokens, got " +
                                    std::to_string(o.context));
  if (o.global_batch_tokens < 0 || o.global_batch_tokens > kMaxBatchTokens)
    throw InputError("global_batch_tokens", "must be in [1, " + std::to_string(kMaxBatchTokens) + "] tokens, got " +
                                                std::to_string(o.global_batch_tokens));
  if (spec.empty()) throw InputError("sequence lengths: give a lengths file, a histogram JSON or a distribution");
  if (is_length_distribution(spec)) return from_distribution(spec, o);
  const std::optional<std::string> text = read(spec);
  if (!text) return std::nullopt;
  const size_t first = text->find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (*text)[first] == '{') return from_histogram(spec, parse_json_text(*text, spec), o);
  return from_lengths_file(spec, *text, o);
}

}  // namespace

SequenceLengths load_sequence_lengths(const std::string& spec, const LengthOptions& o) {
  return *load_with(spec, o, [](const std::string& path) { return std::optional<std::string>(read_text_file(path)); });
}

std::optional<SequenceLengths> load_sequence_lengths(const std::string& spec, const LengthOptions& o,
                                                     const std::atomic<bool>& cancel) {
  return load_with(spec, o, [&cancel](const std::string& path) { return read_text_file(path, cancel); });
}

void check_sequence_lengths(const SequenceLengths& data, bool allow_slicing) {
  if (data.context < 1) throw InputError(data.origin + ": the context must be >= 1 token");
  if (data.lengths.empty()) throw InputError(data.origin + ": no sequences");
  for (size_t i = 0; i < data.lengths.size(); ++i) {
    if (data.lengths[i] < 1)
      throw InputError(data.where(i) + ": sequence length must be >= 1 token, got " + std::to_string(data.lengths[i]));
    if (!allow_slicing && data.lengths[i] > data.context)
      throw InputError(data.where(i) + ": a sequence of " + std::to_string(data.lengths[i]) +
                       " tokens is longer than the context of " + std::to_string(data.context) +
                       " tokens and slicing is off (allow slicing, or raise the context)");
  }
}

std::vector<LengthBin> length_histogram(const SequenceLengths& data) {
  std::vector<LengthBin> bins;
  for (long long s : data.lengths) {
    int k = 0;
    while ((2LL << k) <= s) ++k;  // s in [2^k, 2^(k+1))
    if (static_cast<int>(bins.size()) <= k) {
      for (int i = static_cast<int>(bins.size()); i <= k; ++i) bins.push_back({i == 0 ? 1 : 1LL << i, 2LL << i, 0, 0, 0});
    }
    bins[k].sequences += 1;
    bins[k].tokens += s;
    bins[k].pairs += 0.5 * static_cast<double>(s) * static_cast<double>(s);
  }
  // Leading empty bins (nothing that short) are dropped.
  size_t first = 0;
  while (first < bins.size() && bins[first].sequences == 0) ++first;
  return std::vector<LengthBin>(bins.begin() + static_cast<long>(first), bins.end());
}

std::string format_lengths_file(const SequenceLengths& data) {
  std::string s = "# sequence lengths (tokens), one per line; " + std::to_string(data.lengths.size()) + " sequences, " +
                  std::to_string(data.total_tokens()) + " tokens, context " + std::to_string(data.context) +
                  "\n# from " + data.origin + "\n";
  for (long long v : data.lengths) s += std::to_string(v) + "\n";
  return s;
}

}  // namespace adaptis
