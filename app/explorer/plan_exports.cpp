#include "explorer/plan_exports.h"

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/planner/chrome_trace.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/pytorch_csv.h"
#include "common/terminal_text.h"

namespace adaptis::explorer {

const char* plan_export_name(PlanExport e) {
  switch (e) {
    case PlanExport::ChromeTrace: return "Chrome trace";
    case PlanExport::PytorchCsv: return "PyTorch CSV";
    case PlanExport::PytorchCsvComms: return "PyTorch CSV with comms";
    case PlanExport::Megatron: return "Megatron layout";
    case PlanExport::PlanJson: return "adaptis plan JSON";
  }
  return "?";
}

std::string file_name_stem(const std::string& name) {
  std::string out;
  bool replaced = false;  // one '_' for a run of other characters
  // Control characters first become their visible escapes ("\x1b"), as the CLI and TUI print them, so
  // the file name still shows that the plan name held one.
  for (const char c : app::terminal_safe(name)) {
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
    if (keep) out += c;
    else if (!replaced) out += '_';
    replaced = !keep;
    if (out.size() >= kMaxFileNameStem) break;
  }
  const size_t first = out.find_first_not_of(".-_");
  out = first == std::string::npos ? std::string() : out.substr(first);
  while (!out.empty() && (out.back() == '_' || out.back() == '.')) out.pop_back();
  return out.empty() ? "plan" : out;
}

std::string default_export_path(PlanExport e, const Plan& plan) {
  const std::string base = "adaptis-" + file_name_stem(plan.name);
  switch (e) {
    case PlanExport::ChromeTrace: return base + ".trace.json";
    case PlanExport::PytorchCsv: return base + ".csv";
    case PlanExport::PytorchCsvComms: return base + ".comms.csv";
    case PlanExport::Megatron: return base + ".megatron.txt";
    case PlanExport::PlanJson: return base + ".plan.json";
  }
  return base;
}

std::string megatron_text(const Plan& plan, const CostTable& costs) {
  try {
    return format_megatron_export(export_megatron(plan, costs));
  } catch (const InputError& e) {
    return std::string("# Megatron cannot express this plan:\n# ") + e.what() + "\n";
  }
}

std::string export_plan(PlanExport e, const std::string& path, const Plan& plan, const SimResult& sim,
                        const CostTable& costs, const Cluster& cluster, const SimOptions& opt) {
  if (path.empty()) throw InputError("export: choose a file name");
  switch (e) {
    case PlanExport::ChromeTrace: {
      nlohmann::json trace = chrome_trace_json(plan, sim, costs, cluster, opt);
      write_chrome_trace(path, trace);
      return "wrote " + std::to_string(trace["traceEvents"].size()) + " trace events to " + path;
    }
    case PlanExport::PytorchCsv:
    case PlanExport::PytorchCsvComms:
      save_pytorch_csv(plan, path,
                       e == PlanExport::PytorchCsv ? PytorchCsvFormat::ComputeOnly : PytorchCsvFormat::ComputeComms);
      return "wrote the PyTorch schedule CSV (" + std::to_string(plan.num_devices()) + " ranks) to " + path;
    case PlanExport::Megatron:
      write_text_file(path, format_megatron_export(export_megatron(plan, costs)));
      return "wrote Megatron flags and layout to " + path;
    case PlanExport::PlanJson:
      save_plan_file(plan, path);
      return "saved the plan to " + path;
  }
  return "";
}

}  // namespace adaptis::explorer
