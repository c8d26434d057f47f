// `adaptis schedules`: the built-in schedules and what they need.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "adaptis/planner.h"
#include "cli/commands.h"

namespace adaptis::cli {

void register_schedules(CLI::App& app, Runner& run) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("schedules", "List the built-in schedules");
  cmd->add_flag("--json", *json, "Machine-readable output");
  cmd->callback([json, &run] {
    run = [json] {
      if (*json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& s : all_schedules()) arr.push_back({{"name", s.name}, {"description", s.description}});
        std::cout << arr.dump(2) << "\n";
        return 0;
      }
      for (const auto& s : all_schedules()) std::printf("%-24s %s\n", s.name, s.description);
      return 0;
    };
  });
}

}  // namespace adaptis::cli
