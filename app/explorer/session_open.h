#pragma once
// A session file (session_file.h) from an explorer, and a fresh explorer from one: what both front
// ends save and open. Pure functions over the core; the front ends own the files' paths and the
// driver that writes them.
#include <string>

#include "explorer/explorer.h"
#include "explorer/session_file.h"

namespace adaptis::explorer {

// The explorer as a session: its inputs (config's cost file / model spec / cluster file), the edited
// cluster and options, the plan, the pinned comparison, the view window, the runs database and the
// lengths its units came from.
Session session_of(const Explorer& ex);

// The costs a session's plan was simulated with: its cost file, else its model spec on its cluster
// (a whole-cluster plan: its configuration's per-GPU costs), given the reference micro-batch the
// session's variable-length units were costed from. InputError naming the file at fault.
CostTable session_costs(const Session& s);

// A new explorer showing the session `origin` held: `base` supplies what a session does not keep
// (budgets, where files are saved, run arguments); the inputs, runs database (when the session names
// one) and lengths come from the session. The units are checked by making them again, the plan starts
// as it was saved (custom) or from its request, the comparison is pinned and the view window set.
// InputError naming `origin` and the field at fault.
Explorer open_session(const Session& s, const std::string& origin, ExplorerConfig base);

}  // namespace adaptis::explorer
