#include "cli/lengths_options.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <utility>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/planner/unit_slicing.h"
#include "cli/inputs.h"
#include "cli/report.h"

namespace adaptis::cli {

void add_lengths_options(CLI::App* cmd, LengthsOptions& o, bool positional) {
  const char* what =
      "Sequence lengths of one iteration: a lengths file (one token count per line), a histogram JSON "
      "(adaptis-lengths/1), or a distribution: uniform:min=A,max=B | lognormal:median=N,sigma=S | "
      "long-tail[:tail=F,...] | fixed:length=N (each takes seed=S)";
  if (positional) cmd->add_option("lengths", o.lengths, what)->required();
  else cmd->add_option("--lengths", o.lengths, what);
  cmd->add_option("--context", o.context, "Tokens one unit holds without slicing (default: the file's, or its longest)");
  // A command may have its own --global-batch-tokens (optimize's whole-cluster search); it then feeds this.
  if (!cmd->get_option_no_throw("--global-batch-tokens"))
    cmd->add_option("--global-batch-tokens", o.global_batch_tokens,
                    "Tokens per iteration (distributions draw up to it; a lengths file is cut to it)");
  cmd->add_option("--pack", o.pack, "Sequence processing: pad, pack-tokens, pack, slice, elastic");
  cmd->add_option("--unit-tokens", o.unit_tokens, "Most tokens per unit (default: the context)");
  cmd->add_option("--units", o.units, "Pack / elastic: at least this many units");
  cmd->add_option("--slices", o.slices, "Slice: slices per packed row")->capture_default_str();
  cmd->add_option("--slice-multiple", o.slice_multiple, "Slice lengths rounded down to a multiple of this")
      ->capture_default_str();
  cmd->add_option("--unit-order", o.order, "Order units enter the pipeline: as-built, long-first, short-first, interleaved")
      ->capture_default_str();
  cmd->add_flag("--no-slicing", o.no_slicing, "Refuse sequences longer than a unit instead of slicing them");
  cmd->add_option("--units-out", o.units_file,
                  "Write the units' documents (cu_seqlens per unit, in pipeline order) to FILE (.json or .csv)");
}

SequenceLengths load_lengths(const LengthsOptions& o) {
  LengthOptions lo;
  lo.context = o.context;
  lo.global_batch_tokens = o.global_batch_tokens;
  SequenceLengths data = load_sequence_lengths(o.lengths, lo);
  check_sequence_lengths(data, !o.no_slicing);
  return data;
}

SequenceProcessing processing_from(const LengthsOptions& o, PackingMode default_mode) {
  SequenceProcessing p;
  p.mode = o.pack.empty() ? default_mode : parse_packing_mode(o.pack);
  // Slice and elastic processing cut rows into slices: with --no-slicing the user forbade that, so a mode
  // they chose is refused (as the explorers do) and a default one packs whole sequences instead.
  const bool slices = p.mode == PackingMode::Slice || p.mode == PackingMode::Elastic;
  if (o.no_slicing && slices) {
    if (!o.pack.empty())
      throw InputError("--pack " + o.pack + ": cuts sequences into slices, which --no-slicing forbids; drop one of "
                       "them (or use --pack pad, pack-tokens or pack)");
    p.mode = PackingMode::Pack;
  }
  if (o.unit_tokens < 0) throw InputError("--unit-tokens: must be >= 1 (or 0 for the context)");
  if (o.units < 0) throw InputError("--units: must be >= 0");
  if (o.slices < 1) throw InputError("--slices: must be >= 1");
  if (o.slice_multiple < 1) throw InputError("--slice-multiple: must be >= 1");
  p.unit_tokens = o.unit_tokens;
  p.units = o.units;
  p.slices = o.slices;
  p.slice_multiple = o.slice_multiple;
  p.order = parse_unit_order(o.order);
  p.allow_slicing = !o.no_slicing;
  return p;
}

std::string ensure_cost_reference(CostTable& costs, long long context) {
  if (costs.tokens_per_microbatch > 0) return "";
  costs.tokens_per_microbatch = double(context);
  costs.pairs_per_microbatch = 0.5 * double(context) * double(context);
  return "note: the costs state no tokens per micro-batch; taking the context (" + std::to_string(context) +
         " tokens) as their reference, every time linear in tokens (no attention-pair part)";
}

LoadedLengths apply_lengths(const LengthsOptions& o, Inputs& in, PackingMode default_mode) {
  return apply_lengths(load_lengths(o), o, in, default_mode);
}

LoadedLengths apply_lengths(SequenceLengths data, const LengthsOptions& o, Inputs& in, PackingMode default_mode) {
  LoadedLengths l;
  l.data = std::move(data);
  std::string note = ensure_cost_reference(in.costs, l.data.context);
  if (!note.empty()) l.notes.push_back(note);
  l.cost = unit_cost_model(in.costs);
  l.processing = processing_from(o, default_mode);
  in.units = process_sequences(l.data, l.cost, l.processing);
  try {
    check_slices_runnable(in.units, in.costs);
  } catch (const InputError& e) {  // the library's "processing" field in the CLI's words: --pack and its values
    throw InputError(std::string("--pack ") + describe(l.processing) + ": " + e.problem());
  }
  if (!o.units_file.empty()) write_units_side_file(o.units_file, in.units);
  return l;
}

std::string histogram_table(const SequenceLengths& data) {
  std::ostringstream os;
  const double tokens = double(data.total_tokens());
  double pairs = 0;
  for (long long s : data.lengths) pairs += 0.5 * double(s) * double(s);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%zu sequences, %lld tokens, context %lld, longest %lld (%s)\n", data.lengths.size(),
                data.total_tokens(), data.context, data.longest(), data.origin.c_str());
  os << buf;
  std::snprintf(buf, sizeof buf, "%-17s %9s %8s %8s  %s\n", "length", "sequences", "tokens", "s^2/2", "share of tokens");
  os << buf;
  for (const LengthBin& b : length_histogram(data)) {
    const double share = tokens > 0 ? double(b.tokens) / tokens : 0;
    std::string bar(static_cast<size_t>(share * 40 + 0.5), '#');
    std::snprintf(buf, sizeof buf, "[%6lld, %6lld) %9lld %7.1f%% %7.1f%%  %s\n", b.lo, b.hi, b.sequences, 100 * share,
                  pairs > 0 ? 100 * b.pairs / pairs : 0.0, bar.c_str());
    os << buf;
  }
  return os.str();
}

std::string units_table(const std::vector<WorkUnit>& units, const UnitCostModel& cost, size_t max_lines) {
  std::ostringstream os;
  char buf[256];
  double lo = 0, hi = 0, sum = 0;
  long long tok = 0, run_tok = 0;
  int slices = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    const double c = cost.ms(units[i]);
    lo = i == 0 ? c : std::min(lo, c);
    hi = std::max(hi, c);
    sum += c;
    tok += units[i].tokens();
    run_tok += units[i].run_tokens();
    slices += units[i].is_slice();
  }
  const double mean = units.empty() ? 0 : sum / double(units.size());
  std::snprintf(buf, sizeof buf,
                "%zu units (%d slices), %lld tokens%s; unit cost %.3f..%.3f ms (mean %.3f, max/mean %.2f) through the "
                "whole model\n",
                units.size(), slices, tok,
                run_tok > tok ? (" + " + std::to_string(run_tok - tok) + " padding").c_str() : "", lo, hi, mean,
                mean > 0 ? hi / mean : 0.0);
  os << buf;
  std::snprintf(buf, sizeof buf, "%5s %9s %8s %9s  %s\n", "unit", "cost ms", "tokens", "pairs", "what");
  os << buf;
  for (size_t i = 0; i < units.size(); ++i) {
    if (i == max_lines && units.size() > max_lines + 1) {
      os << "  ... " << units.size() - max_lines << " more (--json lists all)\n";
      break;
    }
    const WorkUnit& u = units[i];
    const double c = cost.ms(u);
    std::string bar(static_cast<size_t>(hi > 0 ? c / hi * 24 + 0.5 : 0), '=');
    std::snprintf(buf, sizeof buf, "%5zu %9.3f %8lld %9.3g  %-34s %s\n", i, c, u.run_tokens(), u.pairs(),
                  describe_unit(u).c_str(), bar.c_str());
    os << buf;
  }
  return os.str();
}

nlohmann::json histogram_json(const SequenceLengths& data) {
  nlohmann::json bins = nlohmann::json::array();
  for (const LengthBin& b : length_histogram(data))
    bins.push_back({{"min", b.lo}, {"max_exclusive", b.hi}, {"sequences", b.sequences}, {"tokens", b.tokens}, {"pairs", b.pairs}});
  return {{"origin", data.origin},
          {"sequences", data.lengths.size()},
          {"tokens", data.total_tokens()},
          {"context", data.context},
          {"longest", data.longest()},
          {"bins", std::move(bins)}};
}

nlohmann::json units_json(const std::vector<WorkUnit>& units, const UnitCostModel& cost) {
  nlohmann::json arr = nlohmann::json::array();
  for (size_t i = 0; i < units.size(); ++i) {
    const WorkUnit& u = units[i];
    nlohmann::json j = {{"unit", i},         {"docs", u.docs},      {"tokens", u.tokens()}, {"run_tokens", u.run_tokens()},
                        {"pairs", u.pairs()}, {"cost_ms", cost.ms(u)}};
    if (u.row >= 0) j["row"] = u.row, j["slice"] = u.slice, j["offset"] = u.first_doc_offset;
    if (u.padded_tokens > 0) j["padded_tokens"] = u.padded_tokens;
    arr.push_back(std::move(j));
  }
  return arr;
}

nlohmann::json varlen_json(const LoadedLengths& l, const std::vector<WorkUnit>& units, const SimResult& sim) {
  const double tokens = double(l.data.total_tokens());
  nlohmann::json j = {{"lengths", histogram_json(l.data)},
                      {"processing", describe(l.processing)},
                      {"tokens", l.data.total_tokens()},
                      {"units", units_json(units, l.cost)}};
  if (sim.ok && sim.iteration_ms > 0) j["tokens_per_s"] = tokens / (sim.iteration_ms * 1e-3);
  if (sim.unit_work_ms.size() == units.size())
    for (size_t i = 0; i < units.size(); ++i) j["units"][i]["simulated_work_ms"] = sim.unit_work_ms[i];
  if (!l.notes.empty()) j["notes"] = l.notes;
  return j;
}

std::string varlen_summary(const LoadedLengths& l, const std::vector<WorkUnit>& units, const SimResult& sim) {
  std::ostringstream os;
  for (const auto& n : l.notes) os << n << "\n";
  long long run = 0;
  int slices = 0;
  double lo = 0, hi = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    run += units[i].run_tokens();
    slices += units[i].is_slice();
    const double c = l.cost.ms(units[i]);
    lo = i == 0 ? c : std::min(lo, c);
    hi = std::max(hi, c);
  }
  char buf[400];
  std::snprintf(buf, sizeof buf, "data %s: %zu sequences, %lld tokens; %s -> %zu units (%d slices, %lld tokens run), unit cost %.2f..%.2f ms",
                l.data.origin.c_str(), l.data.lengths.size(), l.data.total_tokens(), describe(l.processing).c_str(),
                units.size(), slices, run, lo, hi);
  os << buf;
  if (sim.ok && sim.iteration_ms > 0) {
    std::snprintf(buf, sizeof buf, "; %.0f tokens/s", double(l.data.total_tokens()) / (sim.iteration_ms * 1e-3));
    os << buf;
  }
  os << "\n";
  return os.str();
}

nlohmann::json units_side_file(const std::vector<WorkUnit>& units) {
  nlohmann::json arr = nlohmann::json::array();
  for (size_t i = 0; i < units.size(); ++i) {
    const WorkUnit& u = units[i];
    std::vector<long long> cu = {0};
    for (long long d : u.docs) cu.push_back(cu.back() + d);
    nlohmann::json j = {{"unit", i}, {"tokens", u.tokens()}, {"cu_seqlens", cu}, {"max_seqlen", *std::max_element(u.docs.begin(), u.docs.end())}};
    if (u.padded_tokens > 0) j["padded_tokens"] = u.padded_tokens;
    if (u.row >= 0) {
      j["row"] = u.row;
      j["slice"] = u.slice;
      j["first_doc_offset"] = u.first_doc_offset;
    }
    arr.push_back(std::move(j));
  }
  return {{"format", "adaptis-units/1"},
          {"note",
           "Micro-batch i of the plan is unit i. cu_seqlens are cumulative document offsets within the unit (what "
           "flash-attention's varlen kernels and Megatron/torchtitan packed-sequence loaders take as "
           "cu_seqlens_q/k); position ids restart at 0 for every document. A slice (row, slice) continues the "
           "documents of the earlier slices of its row: its first document starts first_doc_offset tokens in and "
           "attends to the keys/values the earlier slices of the row produced (needs a KV-carrying runtime such as "
           "Seq1F1B/TeraPipe; stock PyTorch pipelining and Megatron cannot run slices)."},
          {"units", std::move(arr)}};
}

void write_units_side_file(const std::string& path, const std::vector<WorkUnit>& units) {
  if (std::filesystem::path(path).extension() == ".csv") {
    std::ostringstream os;
    os << "unit,tokens,padded_tokens,row,slice,first_doc_offset,cu_seqlens\n";
    for (size_t i = 0; i < units.size(); ++i) {
      const WorkUnit& u = units[i];
      os << i << "," << u.tokens() << "," << u.padded_tokens << "," << u.row << "," << u.slice << "," << u.first_doc_offset
         << ",";
      long long c = 0;
      os << 0;
      for (long long d : u.docs) os << ";" << (c += d);
      os << "\n";
    }
    write_text_file(path, os.str());
    return;
  }
  write_json_file(path, units_side_file(units));
}

}  // namespace adaptis::cli
