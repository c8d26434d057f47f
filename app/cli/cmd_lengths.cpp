// `adaptis lengths FILE|DIST`: one iteration's sequence lengths as a histogram, and the units the
// sequence processor makes of them (packing, slicing), with their costs under a model.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "adaptis/model/json_file.h"
#include "adaptis/model/model_loader.h"
#include "adaptis/planner/unit_slicing.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "cli/lengths_options.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {

struct LengthsArgs {
  InputOptions in;
  LengthsOptions lengths;
  bool json = false;
  std::string save;
};

// Packing needs a cost model; without --model/--costs the bundled LLaMA-2-7B spec (a dense transformer
// of the usual proportions) is used and named in the output.
std::string default_model_file() {
  std::vector<std::string> dirs = {"samples/models"};
#ifdef ADAPTIS_SAMPLE_DIRS
  std::stringstream ss(ADAPTIS_SAMPLE_DIRS);
  for (std::string d; std::getline(ss, d, ':');) dirs.push_back((std::filesystem::path(d).parent_path() / "models").string());
#endif
  for (const auto& d : dirs) {
    std::string f = d + "/llama-2-7b.json";
    if (std::filesystem::exists(f)) return f;
  }
  throw InputError("give --model FILE or --costs FILE: the unit costs need a model (no bundled samples/models found)");
}

// One line per processing mode, so the effect of packing by cost vs by tokens shows at a glance.
struct ModeRow {
  std::string what;
  std::vector<WorkUnit> units;
  std::string error;
};

int run_lengths(LengthsArgs a) {
  const SequenceLengths data = load_lengths(a.lengths);
  if (!a.save.empty()) {
    write_text_file(a.save, format_lengths_file(data));
    std::cerr << "wrote " << data.lengths.size() << " sequence lengths to " << a.save << "\n";
  }
  if (a.in.model.empty() && a.in.costs.empty()) a.in.model = default_model_file();
  Inputs in = load_inputs(a.in);
  // Elastic by default, which slices; a model whose layers cannot run slices packs whole sequences instead.
  // (The reference micro-batch a cost table without one gets is the context, as for every --lengths.)
  const PackingMode default_mode = slicing_blocker(in.costs).empty() ? PackingMode::Elastic : PackingMode::Pack;
  const LoadedLengths loaded = apply_lengths(data, a.lengths, in, default_mode);
  const std::string note = loaded.notes.empty() ? std::string() : loaded.notes.front();
  const UnitCostModel& cost = loaded.cost;
  const SequenceProcessing& chosen = loaded.processing;
  const std::vector<WorkUnit>& units = in.units;

  std::vector<ModeRow> rows;
  for (PackingMode m : {PackingMode::Pad, PackingMode::PackTokens, PackingMode::Pack, PackingMode::Slice, PackingMode::Elastic}) {
    SequenceProcessing p = chosen;
    p.mode = m;
    ModeRow r;
    r.what = describe(p);
    try {
      r.units = process_sequences(data, cost, p);
      check_slices_runnable(r.units, in.costs);
    } catch (const InputError& e) {
      r.error = e.field() == "processing" ? e.problem() : std::string(e.what());  // the row names its processing
    }
    rows.push_back(std::move(r));
  }
  auto stats = [&](const std::vector<WorkUnit>& us, double* mean, double* max, long long* tokens) {
    double sum = 0;
    *max = 0;
    *tokens = 0;
    for (const auto& u : us) {
      const double c = cost.ms(u);
      sum += c;
      *max = std::max(*max, c);
      *tokens += u.run_tokens();
    }
    *mean = us.empty() ? 0 : sum / double(us.size());
  };

  if (a.json) {
    nlohmann::json modes = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json j = {{"processing", r.what}};
      if (!r.error.empty()) {
        j["error"] = r.error;
      } else {
        double mean, max;
        long long tokens;
        stats(r.units, &mean, &max, &tokens);
        j["units"] = r.units.size();
        j["run_tokens"] = tokens;
        j["mean_unit_ms"] = mean;
        j["max_unit_ms"] = max;
      }
      modes.push_back(std::move(j));
    }
    nlohmann::json out = {{"histogram", histogram_json(data)},
                          {"model", in.costs.model},
                          {"cost_source", in.costs.source},
                          {"unit_cost_model",
                           {{"fixed_ms", cost.fixed_ms}, {"per_token_ms", cost.per_token_ms}, {"per_pair_ms", cost.per_pair_ms}}},
                          {"modes", modes},
                          {"processing", describe(chosen)},
                          {"units", units_json(units, cost)}};
    if (!note.empty()) out["note"] = note;
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << terminal_safe_text(histogram_table(data)) << "\n";
  if (!note.empty()) std::cout << note << "\n";
  std::printf("unit cost through %s (%s): %.4f ms + %.3g ms/token + %.3g ms/pair\n\n",
              in.costs.model.empty() ? "the model" : terminal_safe(in.costs.model).c_str(),
              terminal_safe(in.costs.source).c_str(), cost.fixed_ms,
              cost.per_token_ms, cost.per_pair_ms);
  std::printf("%-52s %6s %12s %10s %10s\n", "processing", "units", "run tokens", "mean ms", "max/mean");
  for (const auto& r : rows) {
    if (!r.error.empty()) {
      std::printf("%-52s %s\n", r.what.c_str(), r.error.c_str());
      continue;
    }
    double mean, max;
    long long tokens;
    stats(r.units, &mean, &max, &tokens);
    std::printf("%-52s %6zu %12lld %10.3f %10.2f\n", r.what.c_str(), r.units.size(), tokens, mean, mean > 0 ? max / mean : 0.0);
  }
  std::cout << "\nunits (" << describe(chosen) << "):\n" << units_table(units, cost);
  return 0;
}

}  // namespace

void register_lengths(CLI::App& app, Runner& run) {
  auto args = std::make_shared<LengthsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "lengths", "Show one iteration's sequence lengths as a histogram and the units packing/slicing makes of them");
  add_lengths_options(cmd, args->lengths, true);
  add_input_options(cmd, args->in);
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_option("--save", args->save, "Write the sequence lengths (e.g. drawn from a distribution) as a lengths file");
  cmd->footer("Unit costs come from --model/--costs (default: samples/models/llama-2-7b.json on H100).");
  cmd->callback([args, &run] { run = [args] { return run_lengths(*args); }; });
}

}  // namespace adaptis::cli
