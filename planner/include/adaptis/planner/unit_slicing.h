#pragma once
// Which models can run their units as slices (units.h: a row of documents cut into slices, a later
// slice attending to the keys and values the earlier ones produced). Attention carries its context
// across slices through those keys and values; a layer that carries state from token to token
// (LayerCost::recurrent, a Mamba scan) would need its state handed from one slice to the next, which
// neither the cost model nor the executor does, so slicing such a model is refused.
#include <string>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/unit.h"

namespace adaptis {

// Whether `layer` cannot run over slices: it is recurrent (LayerCost::recurrent), or, in a cost file
// written before that field, its kind names a Mamba layer. Profiles that only carry a type symbol ("M"
// is Mamba in one profile and MoE in another) cannot be told apart and are not refused.
bool cannot_run_slices(const LayerCost& layer);

// Why units of `costs`' model cannot be slices ("" = they can), naming the first layer that refuses.
std::string slicing_blocker(const CostTable& costs);

// "" when no unit is a slice or the model can run slices; else the first slice and why it cannot run.
std::string slices_problem(const std::vector<WorkUnit>& units, const CostTable& costs);

// Throws InputError on field "processing" when slices_problem finds one: the sequence processing that
// made `units` cut sequences into slices this model cannot run ("processing: it makes slices: unit 3
// (...) is a slice, but ..."). A caller that names the processing itself shows problem() after it (the
// CLI's "--pack slice, 2 slices/row: ", an explorer's "re-pack: ...: ", a table row of processings).
void check_slices_runnable(const std::vector<WorkUnit>& units, const CostTable& costs);

}  // namespace adaptis
