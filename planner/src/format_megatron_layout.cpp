#include "adaptis/planner/megatron_layout.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "adaptis/model/error.h"
#include "adaptis/model/limits.h"
#include "adaptis/planner/recompute_exports.h"
#include "adaptis/planner/schedules.h"

namespace adaptis {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Symbol of one kind name (no '+'): 'E', 'L', 'm' or 't'.
char kind_symbol(const std::string& part) {
  // Single-character AdaPtis profile types are case-sensitive ("M" is Mamba/MoE, "E" embedding,
  // "H"/"L" the head); longer names are matched case-insensitively.
  if (part == "E") return 'E';
  if (part == "H" || part == "L") return 'L';
  if (part.size() == 1) return 't';
  std::string k = lower(part);
  if (k == "embedding" || k == "embeddings" || k == "embed" || k == "word_embeddings") return 'E';
  if (k == "lm_head" || k == "loss" || k == "head" || k == "output" || k == "output_layer") return 'L';
  if (k == "mtp") return 'm';
  return 't';
}

// "Et*3" for "Ettt": runs of one symbol as x*n.
std::string compress_stage(const std::string& syms) {
  std::string out;
  for (size_t i = 0; i < syms.size();) {
    size_t j = i;
    while (j < syms.size() && syms[j] == syms[i]) ++j;
    out += syms[i];
    if (j - i > 1) {
      out += '*';
      out += std::to_string(j - i);
    }
    i = j;
  }
  return out;
}

// Stages joined by '|', runs of identical stages (before the last one) as "(x|)*n".
std::string compress_layout(const std::vector<std::string>& stages) {
  std::string out;
  const size_t S = stages.size();
  for (size_t i = 0; i < S;) {
    size_t j = i + 1;
    while (j < S - 1 && stages[j] == stages[i]) ++j;
    size_t run = (i < S - 1) ? j - i : 1;
    std::string body = compress_stage(stages[i]);
    if (run >= 2) {
      out += "(" + body + "|)*" + std::to_string(run);
      if (i + run < S) out += ",";  // cosmetic separator before the next stage
      i += run;
    } else {
      out += body;
      if (i + 1 < S) out += "|";
      i += 1;
    }
  }
  return out;
}

std::string join_ints(const std::vector<int>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  return out;
}

bool needs_quotes(const std::string& v) {
  return v.find_first_of("|()*, ") != std::string::npos;
}

// Recursive-descent expansion: seq := item*, item := ( '(' seq ')' | symbol ) ['*' int].
// Parentheses nest at most kMaxNesting deep (the recursion is bounded) and the expansion holds at
// most kMaxSymbols symbols (a layer is at least one symbol; '|' separates at most kMaxStages stages),
// checked before each repetition is written out, so "((t*999999)*999999)" fails without allocating.
struct Expander {
  static constexpr int kMaxNesting = 32;
  static constexpr size_t kMaxSymbols = static_cast<size_t>(4 * kMaxLayers + kMaxStages);

  const std::string& s;
  size_t i = 0;
  std::string error_prefix;

  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(error_prefix + ": at character " + std::to_string(i + 1) + ": " + why);
  }
  void skip_cosmetic() {
    while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '\t')) ++i;
  }
  int repeat() {
    skip_cosmetic();
    if (i >= s.size() || s[i] != '*') return 1;
    ++i;
    skip_cosmetic();
    size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i) fail("expected a repeat count after '*'");
    if (j - i > 6) fail("repeat count too large");
    int n = std::stoi(s.substr(i, j - i));
    i = j;
    return n;
  }
  std::string seq(int depth) {
    std::string out;
    while (true) {
      skip_cosmetic();
      if (i >= s.size()) {
        if (depth > 0) fail("missing ')'");
        return out;
      }
      char c = s[i];
      std::string item;
      if (c == '(') {
        if (depth >= kMaxNesting) fail("parentheses nested deeper than " + std::to_string(kMaxNesting) + " levels");
        ++i;
        item = seq(depth + 1);
        if (i >= s.size() || s[i] != ')') fail("missing ')'");
        ++i;
      } else if (c == ')') {
        if (depth == 0) fail("unmatched ')'");
        return out;
      } else if (c == 'E' || c == 't' || c == 'm' || c == 'L' || c == '|') {
        item = std::string(1, c);
        ++i;
      } else {
        fail(std::string("unknown layer symbol '") + c + "' (use E, t, m, L, '|', '(...)*n', 'x*n')");
      }
      int n = repeat();
      if (out.size() + item.size() * static_cast<size_t>(n) > kMaxSymbols)
        fail("the layout expands to more than " + std::to_string(kMaxSymbols) + " symbols (at most " +
             std::to_string(kMaxLayers) + " layers)");
      for (int k = 0; k < n; ++k) out += item;
    }
  }
};

std::string join_flags(const std::vector<std::pair<std::string, std::string>>& flags) {
  std::string out;
  for (const auto& [k, v] : flags) {
    if (!out.empty()) out += " ";
    out += k;
    // --recompute-modules takes several words (nargs): not one quoted string.
    if (!v.empty()) out += " " + (needs_quotes(v) && k != "--recompute-modules" ? "\"" + v + "\"" : v);
  }
  return out;
}

}  // namespace

std::string megatron_layer_symbols(const std::string& kind, const std::string& prev_kind) {
  if (kind.empty()) return "t";
  std::string e, body, l;
  std::string part;
  auto flush = [&] {
    if (part.empty()) return;
    char c = kind_symbol(part);
    if (c == 'E') e += c;
    else if (c == 'L') l += c;
    else body += c;
    part.clear();
  };
  for (size_t i = 0; i <= kind.size(); ++i) {
    // '+' joins fused parts ("M+E"); a lone "+" or "-" is a profile type of its own.
    if (i < kind.size() && !(kind[i] == '+' && i > 0 && i + 1 < kind.size())) {
      part += kind[i];
    } else {
      flush();
    }
  }
  std::string syms = e + body + (l.empty() ? "" : "L");
  // An lm_head followed by a separate loss layer is one Megatron L.
  if (syms == "L" && !prev_kind.empty()) {
    std::string prev = megatron_layer_symbols(prev_kind, "");
    if (!prev.empty() && prev.back() == 'L') return "";
  }
  return syms;
}

std::vector<std::string> layer_kinds(const CostTable& costs) {
  std::vector<std::string> out;
  for (const auto& l : costs.layers) out.push_back(l.kind);
  return out;
}

namespace {

// Per layer symbols for a whole model, plus whether E and L had to be added implicitly.
struct ModelSymbols {
  std::vector<std::string> per_layer;
  bool implicit_e = false, implicit_l = false;
};

ModelSymbols model_symbols(const std::vector<std::string>& kinds, const std::string& origin) {
  ModelSymbols ms;
  std::string all;
  for (size_t i = 0; i < kinds.size(); ++i) {
    ms.per_layer.push_back(megatron_layer_symbols(kinds[i], i ? kinds[i - 1] : ""));
    all += ms.per_layer.back();
  }
  ms.implicit_e = all.find('E') == std::string::npos;
  ms.implicit_l = all.find('L') == std::string::npos;
  auto where_layer = [&](char sym) {
    for (size_t i = 0; i < kinds.size(); ++i)
      if (ms.per_layer[i].find(sym) != std::string::npos) return i;
    return kinds.size();
  };
  if (std::count(all.begin(), all.end(), 'E') > 1)
    throw InputError(origin + ": the model has more than one embedding layer; Megatron has exactly one E");
  if (std::count(all.begin(), all.end(), 'L') > 1)
    throw InputError(origin + ": the model has more than one loss/lm_head layer; Megatron has exactly one L");
  if (!ms.implicit_e && all.front() != 'E') {
    size_t i = where_layer('E');
    throw InputError(origin + ": layer " + std::to_string(i) + " (kind '" + kinds[i] +
                     "') is an embedding but not the first layer; Megatron needs the embedding first");
  }
  if (!ms.implicit_l && all.back() != 'L') {
    size_t i = where_layer('L');
    throw InputError(origin + ": layer " + std::to_string(i) + " (kind '" + kinds[i] +
                     "') is the loss/lm_head but not the last layer; Megatron needs the loss last");
  }
  size_t first_m = all.find('m');
  if (first_m != std::string::npos && all.find('t', first_m) != std::string::npos)
    throw InputError(origin + ": a decoder layer follows an MTP layer; Megatron places every MTP layer after "
                     "the decoder layers");
  return ms;
}

}  // namespace

MegatronExport export_megatron(const Plan& plan, const CostTable& costs, const MegatronRunOptions& run) {
  const std::string origin = "megatron export";
  const int p = plan.num_devices(), S = plan.num_stages();
  if (p < 1 || S < 1) throw InputError(origin + ": the plan has no devices or stages");
  if (plan.partition.num_layers() != costs.num_layers())
    throw InputError(origin + ": the plan's partition covers " + std::to_string(plan.partition.num_layers()) +
                     " layers but the cost table has " + std::to_string(costs.num_layers()));
  // Megatron's stage order is vpp-major over ranks: only the looped placement fits.
  if (S % p != 0)
    throw InputError(origin + ": the plan has " + std::to_string(S) + " stages on " + std::to_string(p) +
                     " devices; Megatron needs the same number of stages on every pipeline rank");
  const int v = S / p;
  Placement looped = looped_placement(p, v);
  for (int d = 0; d < p; ++d)
    if (plan.placement.device_stages[d] != looped.device_stages[d]) {
      std::string got = join_ints(plan.placement.device_stages[d]), want = join_ints(looped.device_stages[d]);
      throw InputError(origin + ": Megatron can only express sequential or looped (interleaved) placements, "
                       "where stage s runs on rank s mod " + std::to_string(p) + "; this plan ('" + plan.name +
                       "') puts stages [" + got + "] on device " + std::to_string(d) + " instead of [" + want +
                       "]. Export it as a PyTorch CSV or OctoPipe plan instead");
    }

  MegatronExport e;
  e.pipeline_size = p;
  e.virtual_stages = v;
  e.microbatches = plan.num_microbatches;
  ModelSymbols ms = model_symbols(layer_kinds(costs), origin);
  std::vector<std::string> stages(S);
  for (int s = 0; s < S; ++s)
    for (int l = plan.partition.bounds[s]; l < plan.partition.bounds[s + 1]; ++l) stages[s] += ms.per_layer[l];
  if (ms.implicit_e) {
    stages.front().insert(stages.front().begin(), 'E');
    e.notes.push_back("the cost table has no embedding layer; E is placed in the first stage");
  }
  if (ms.implicit_l) {
    stages.back() += 'L';
    e.notes.push_back("the cost table has no loss/lm_head layer; L is placed in the last stage");
  }
  // Megatron keeps MTP layers in the last virtual stage of a rank.
  for (int s = 0; s < S; ++s)
    if (stages[s].find('m') != std::string::npos && s / p != v - 1)
      throw InputError(origin + ": stage " + std::to_string(s) + " holds MTP layers but is virtual stage " +
                       std::to_string(s / p) + " of rank " + std::to_string(s % p) +
                       "; Megatron keeps MTP layers in the last virtual stage of a rank");
  e.layout = compress_layout(stages);
  std::vector<int> t_count(S, 0);
  for (int s = 0; s < S; ++s) {
    t_count[s] = static_cast<int>(std::count(stages[s].begin(), stages[s].end(), 't'));
    e.num_layers += t_count[s];
    e.mtp_layers += static_cast<int>(std::count(stages[s].begin(), stages[s].end(), 'm'));
  }

  // Which Megatron order does the plan's schedule match?
  ScheduleOptions so;
  so.devices = p;
  so.microbatches = plan.num_microbatches;
  so.stages_per_device = v;
  if (v == 1) {
    try {
      e.order_matches = generate_schedule(ScheduleKind::OneFOneB, so).schedule == plan.schedule;
    } catch (const InputError&) {
    }
    if (!e.order_matches)
      e.notes.push_back("Megatron runs its own 1F1B order; the plan's per-device order ('" + plan.name +
                        "') differs and will not be reproduced (use the OctoPipe export to run it as planned)");
  } else {
    for (int g = p; g <= plan.num_microbatches && !e.order_matches; ++g) {
      so.group_size = g;
      try {
        if (generate_schedule(ScheduleKind::Interleaved1F1B, so).schedule == plan.schedule) {
          e.order_matches = true;
          e.group_size = g;
        }
      } catch (const InputError&) {
      }
    }
    if (!e.order_matches)
      e.notes.push_back("Megatron runs its own interleaved 1F1B order; the plan's per-device order ('" + plan.name +
                        "') matches no micro-batch group size and will not be reproduced");
  }
  if (run.micro_batch_size < 1 || run.data_parallel < 1)
    throw InputError(origin + ": micro-batch size and data-parallel size must be >= 1, got " +
                     std::to_string(run.micro_batch_size) + " and " + std::to_string(run.data_parallel));
  // Megatron derives the micro-batches per pipeline from the batch sizes.
  const long long global = 1LL * plan.num_microbatches * run.micro_batch_size * run.data_parallel;
  std::vector<std::pair<std::string, std::string>> batch = {
      {"--micro-batch-size", std::to_string(run.micro_batch_size)}, {"--global-batch-size", std::to_string(global)}};
  if (run.seq_length > 0) batch.push_back({"--seq-length", std::to_string(run.seq_length)});
  e.notes.push_back("--global-batch-size " + std::to_string(global) + " = " + std::to_string(plan.num_microbatches) +
                    " micro-batches x --micro-batch-size " + std::to_string(run.micro_batch_size) +
                    " x data-parallel size " + std::to_string(run.data_parallel) +
                    (run.data_parallel == 1 ? " (multiply by your data-parallel size)" : ""));
  if (!plan.units.empty()) {  // variable-length units (Plan::units)
    bool slices = false, padded = false;
    for (const auto& u : plan.units) slices = slices || u.row >= 0, padded = padded || u.padded_tokens > 0;
    e.notes.push_back(
        "variable-length units: feed micro-batch i with unit i's documents in the THD (packed) format, cu_seqlens from "
        "the units side file (`--units-out`) in PackedSeqParams(qkv_format='thd', cu_seqlens_q/kv, max_seqlen_q/kv), "
        "position ids restarting per document; units of different token counts need variable_seq_lengths=True "
        "(a shape exchange before every pipeline send)");
    if (slices)
      e.notes.push_back("this plan slices sequences across units (a later slice attends to the keys/values of the "
                        "earlier ones): Megatron-LM's stock schedules cannot run slices; use the packed units only, or a "
                        "Seq1F1B-style runtime");
    if (padded) e.notes.push_back("padded units: pad every sample to its unit's padded_tokens (--seq-length)");
  }

  const std::string P = std::to_string(p), T = std::to_string(e.num_layers);
  e.layout_flags = {{"--pipeline-model-parallel-size", P}, {"--num-layers", T}};
  if (e.mtp_layers > 0) e.layout_flags.push_back({"--mtp-num-layers", std::to_string(e.mtp_layers)});
  e.layout_flags.push_back({"--pipeline-model-parallel-layout", e.layout});
  if (v > 1 && e.group_size > 0)
    e.layout_flags.push_back({"--microbatch-group-size-per-virtual-pipeline-stage", std::to_string(e.group_size)});

  // Without a layout Megatron puts E first and L last on their own and splits the decoder
  // layers: evenly, or with explicit first/last stage counts (no virtual stages).
  bool standard = e.mtp_layers == 0 && stages.front().front() == 'E' && stages.back().back() == 'L';
  for (int s = 0; s < S && standard; ++s) {
    std::string body = stages[s];
    if (s == 0) body.erase(0, 1);
    if (s == S - 1) body.pop_back();
    standard = !body.empty() && body.find_first_not_of('t') == std::string::npos;
  }
  bool even = standard && std::all_of(t_count.begin(), t_count.end(), [&](int c) { return c == t_count[0]; });
  e.flags = {{"--pipeline-model-parallel-size", P}, {"--num-layers", T}};
  if (e.mtp_layers > 0) e.flags.push_back({"--mtp-num-layers", std::to_string(e.mtp_layers)});
  if (even) {
    if (v > 1) {
      e.flags.push_back({"--num-layers-per-virtual-pipeline-stage", std::to_string(t_count[0])});
      e.notes.push_back("--num-layers-per-virtual-pipeline-stage " + std::to_string(t_count[0]) +
                        " is --num-virtual-stages-per-pipeline-rank " + std::to_string(v) + " in newer Megatron-LM");
    }
  } else if (standard && v == 1 && p >= 2) {
    int mid = p >= 3 ? t_count[1] : -1;
    bool middle_equal = true;
    for (int s = 1; s + 1 < p; ++s) middle_equal = middle_equal && t_count[s] == mid;
    if (middle_equal) {
      if (p == 2) {
        e.flags.push_back({"--decoder-first-pipeline-num-layers", std::to_string(t_count[0])});
      } else {
        if (t_count[0] != mid) e.flags.push_back({"--decoder-first-pipeline-num-layers", std::to_string(t_count[0])});
        if (t_count[p - 1] != mid)
          e.flags.push_back({"--decoder-last-pipeline-num-layers", std::to_string(t_count[p - 1])});
      }
    } else {
      e.flags = e.layout_flags;
    }
  } else {
    e.flags = e.layout_flags;
  }
  if (v > 1 && e.group_size > 0 && e.flags != e.layout_flags)
    e.flags.push_back({"--microbatch-group-size-per-virtual-pipeline-stage", std::to_string(e.group_size)});
  for (const auto& f : batch) {
    e.flags.push_back(f);
    e.layout_flags.push_back(f);
  }
  // Memory policies: Megatron's recompute flags (recompute_exports.h) in both flag sets.
  const RecomputeExport rc = megatron_recompute_flags(plan, costs);
  for (const auto& f : rc.settings) e.flags.push_back(f), e.layout_flags.push_back(f);
  for (const auto& n : rc.notes) e.notes.push_back(n);
  return e;
}

std::string format_megatron_export(const MegatronExport& e) {
  std::ostringstream os;
  os << "# Megatron-LM flags: " << e.pipeline_size << " pipeline ranks, " << e.virtual_stages
     << " virtual stage(s) per rank, " << e.num_layers << " decoder layers";
  if (e.mtp_layers) os << ", " << e.mtp_layers << " MTP layers";
  os << ", " << e.microbatches << " micro-batches\n";
  os << join_flags(e.flags) << "\n";
  if (e.flags != e.layout_flags) os << "# the same split as an explicit layout:\n" << join_flags(e.layout_flags) << "\n";
  for (const auto& n : e.notes) os << "# note: " << n << "\n";
  return os.str();
}

std::vector<std::string> expand_megatron_layout(const std::string& layout) {
  Expander x{layout, 0, "Megatron layout " + quoted_excerpt(layout)};
  std::string flat = x.seq(0);
  std::vector<std::string> stages(1);
  for (char c : flat) {
    if (c == '|') stages.emplace_back();
    else stages.back() += c;
  }
  return stages;
}

MegatronLayout parse_megatron_layout(const std::string& layout, int p, const std::vector<std::string>& kinds) {
  const std::string origin = "Megatron layout " + quoted_excerpt(layout);
  if (p < 1) throw InputError(origin + ": the pipeline size must be >= 1, got " + std::to_string(p));
  std::vector<std::string> stages = expand_megatron_layout(layout);
  const int S = static_cast<int>(stages.size());
  if (S % p != 0)
    throw InputError(origin + ": has " + std::to_string(S) + " stages, not a multiple of the pipeline size " +
                     std::to_string(p) + " (stages are listed vpp-major: rank k mod p, virtual stage k div p)");
  std::string flat;
  for (const auto& s : stages) flat += s;
  if (std::count(flat.begin(), flat.end(), 'E') != 1 || flat.front() != 'E')
    throw InputError(origin + ": needs exactly one E (embedding), as the first symbol");
  if (std::count(flat.begin(), flat.end(), 'L') != 1 || flat.back() != 'L')
    throw InputError(origin + ": needs exactly one L (loss), as the last symbol");
  size_t first_m = flat.find('m');
  if (first_m != std::string::npos && flat.find('t', first_m) != std::string::npos)
    throw InputError(origin + ": a decoder layer (t) follows an MTP layer (m); Megatron places MTP last");

  std::vector<int> sizes(S, 0);
  if (kinds.empty()) {
    for (int s = 0; s < S; ++s)
      sizes[s] = static_cast<int>(std::count_if(stages[s].begin(), stages[s].end(),
                                                [](char c) { return c == 't' || c == 'm'; }));
  } else {
    ModelSymbols ms = model_symbols(kinds, origin);
    // Cover check by symbol counts first: the clearest message for the common mistake.
    std::string model_flat = ms.implicit_e ? "E" : "";
    for (const auto& syms : ms.per_layer) model_flat += syms;
    if (ms.implicit_l) model_flat += "L";
    for (char c : std::string("tm")) {
      long have = std::count(flat.begin(), flat.end(), c), want = std::count(model_flat.begin(), model_flat.end(), c);
      if (have != want)
        throw InputError(origin + ": does not cover the model: it has " + std::to_string(have) + " " +
                         (c == 't' ? "decoder (t)" : "MTP (m)") + " layers but the model has " + std::to_string(want));
    }
    if (flat != model_flat) {
      // Show where they part: both can be 100000 symbols long.
      size_t k = 0;
      while (k < flat.size() && k < model_flat.size() && flat[k] == model_flat[k]) ++k;
      const size_t from = k > 20 ? k - 20 : 0;
      throw InputError(origin + ": its symbols in order differ from the model's layers at symbol " +
                       std::to_string(k + 1) + ": the layout has " + quoted_excerpt(flat.substr(from), 40) +
                       ", the model " + quoted_excerpt(model_flat.substr(from), 40) +
                       (from > 0 ? " (from symbol " + std::to_string(from + 1) + ")" : ""));
    }
    // Walk the flat symbol stream stage by stage, assigning whole layers.
    std::vector<int> stage_of_pos;
    for (int s = 0; s < S; ++s)
      for (size_t k = 0; k < stages[s].size(); ++k) stage_of_pos.push_back(s);
    size_t pos = ms.implicit_e ? 1 : 0;
    int prev_stage = 0;
    for (size_t l = 0; l < ms.per_layer.size(); ++l) {
      const std::string& syms = ms.per_layer[l];
      if (syms.empty()) {  // a loss merged into the previous layer's L
        ++sizes[prev_stage];
        continue;
      }
      int s0 = stage_of_pos[pos], s1 = stage_of_pos[pos + syms.size() - 1];
      if (s0 != s1)
        throw InputError(origin + ": splits layer " + std::to_string(l) + " (kind '" + kinds[l] + "', symbols " + syms +
                         ") across stages " + std::to_string(s0) + " and " + std::to_string(s1) +
                         "; a fused layer must stay in one stage");
      ++sizes[s0];
      prev_stage = s0;
      pos += syms.size();
    }
  }
  for (int s = 0; s < S; ++s)
    if (sizes[s] < 1)
      throw InputError(origin + ": stage " + std::to_string(s) + " ('" + stages[s] +
                       "') holds no layer of the model; adaptis needs at least one layer per stage");
  MegatronLayout out;
  out.partition = Partition::from_sizes(sizes);
  out.pipeline_size = p;
  out.virtual_stages = S / p;
  out.placement = looped_placement(p, S / p);
  return out;
}

}  // namespace adaptis
