// The explorer's variable-length data (varlen_view.h): the plan's units and the iteration's lengths,
// and re-packing the lengths into other units (lengths_source.h) from inside the explorers.
#include "adaptis/model/error.h"
#include "explorer/explorer.h"

namespace adaptis::explorer {

const VarlenView& Explorer::varlen() const {
  static const VarlenView kNone;
  if (!has_plan()) return kNone;
  if (!varlen_ || varlen_revision_ != editor_.revision()) {
    varlen_ = std::make_shared<const VarlenView>(
        varlen_view(editor_.plan(), editor_.sim(), editor_.costs(), lengths_on_screen()));
    varlen_revision_ = editor_.revision();
  }
  return *varlen_;
}

std::string Explorer::selected_unit_text() const {
  const TimelineBox* b = selected_box();
  if (!b || view_.selected.idle) return "";  // a bubble is nobody's unit
  const Plan* plan = side(view_.selected.side).plan();
  if (!b || !plan || b->mb < 0) return "";
  return unit_text(*plan, b->mb);
}

const Explorer::UnitsMade* Explorer::units_made_of_plan() const {
  if (!has_plan() || editor_.plan().units.empty()) return nullptr;
  const std::vector<WorkUnit>& units = editor_.plan().units;
  for (auto it = units_made_.rbegin(); it != units_made_.rend(); ++it)
    if ((*it)->units == units) return it->get();
  return nullptr;
}

std::optional<SequenceProcessing> Explorer::processing_of_plan() const {
  if (const UnitsMade* m = units_made_of_plan()) return m->processing;
  return std::nullopt;
}

void Explorer::remember_units(std::vector<WorkUnit> units, const SequenceProcessing& p,
                              std::shared_ptr<const SequenceLengths> data, const LengthOptions& options) {
  units_made_.push_back(std::make_shared<const UnitsMade>(UnitsMade{std::move(units), p, std::move(data), options}));
  if (units_made_.size() > PlanEditor::kMaxHistory + 1) units_made_.erase(units_made_.begin());
}

void Explorer::remember_start_units(const std::vector<WorkUnit>& units) {
  if (config_.lengths.data && config_.lengths.processing && !units.empty())
    remember_units(units, *config_.lengths.processing, config_.lengths.data, config_.lengths.options);
}

LengthsSource Explorer::lengths_in_use() const {
  LengthsSource l = config_.lengths;
  if (const UnitsMade* m = units_made_of_plan()) {
    l.data = m->data;
    l.options = m->options;
  }
  return l;
}

LengthsSource Explorer::lengths_on_screen() const {
  LengthsSource l = lengths_in_use();
  l.processing = processing_of_plan();
  return l;
}

std::string Explorer::repack_blocker() const {
  if (!config_.lengths.data)
    return has_plan() && !editor_.plan().units.empty()
               ? "the units came with the plan: their sequence lengths are not known here (start with --lengths "
                 "FILE|DIST to re-pack)"
               : "no sequence lengths: start with --lengths FILE|DIST to plan over variable-length units";
  if (editing_locked()) return "a live optimizer search is changing the plan (x stops it)";
  return "";
}

SequenceProcessing Explorer::processing_to_edit() const {
  return refused_processing_ ? *refused_processing_ : processing_in_use();
}

SequenceProcessing Explorer::processing_in_use() const {
  if (std::optional<SequenceProcessing> p = processing_of_plan()) return *p;
  if (config_.lengths.processing) return *config_.lengths.processing;
  SequenceProcessing p;
  p.mode = PackingMode::PackTokens;  // what the explorers start with (simulate's default)
  return p;
}

EditResult Explorer::set_processing(const SequenceProcessing& p) {
  const std::string label = "re-pack: " + describe(p);
  auto refuse = [&](const std::string& why) {
    refused_processing_ = p;
    refused_reason_ = why;
    note(label + ": " + why, true);
    return EditResult{false, label + ": " + why};
  };
  if (const std::string why = repack_blocker(); !why.empty()) return refuse(why);
  const LengthsSource lengths = lengths_in_use();
  std::vector<WorkUnit> units;
  try {
    units = units_for(*lengths.data, editor_.costs(), p);
  } catch (const InputError& e) {
    return refuse(e.what());
  }
  // These units are p's whatever happens next (the registry maps units to what made them).
  remember_units(units, p, lengths.data, lengths.options);
  // A knob the mode does not read (slices outside slice mode, say) gives the same units: nothing to
  // rebuild, but the plan's processing is now this one.
  if (has_plan() && editor_.pending_problem().empty() && units == editor_.plan().units) {
    refused_processing_.reset();
    refused_reason_.clear();
    varlen_.reset();
    note(label + ": the same " + std::to_string(editor_.plan().units.size()) + " units as before");
    return {true, ""};
  }
  EditResult r = editor_.set_units(units, label);
  if (!r.applied) {
    const std::string prefix = label + ": ";
    return refuse(r.message.rfind(prefix, 0) == 0 ? r.message.substr(prefix.size()) : r.message);
  }
  refused_processing_.reset();
  refused_reason_.clear();
  return after_edit(r);
}

EditResult Explorer::step_packing_mode(int dir) { return set_processing(next_packing_mode(processing_to_edit(), dir)); }

EditResult Explorer::step_unit_order(int dir) { return set_processing(next_unit_order(processing_to_edit(), dir)); }

EditResult Explorer::step_unit_tokens(int dir) {
  const SequenceProcessing now = processing_to_edit();
  if (!repack_blocker().empty()) return set_processing(now);  // refused with the reason
  const long long context = lengths_in_use().data->context;
  const SequenceProcessing next = explorer::step_unit_tokens(now, dir, context);
  if (next == now) {
    const std::string why = dir > 0 ? "the token budget is already the context (the most a unit holds)"
                                    : "the token budget is already 1 token";
    note(why, true);
    return {false, why};
  }
  return set_processing(next);
}

EditResult Explorer::step_slices(int dir) { return set_processing(explorer::step_slices(processing_to_edit(), dir)); }

EditResult Explorer::step_min_units(int dir) {
  const int current = has_plan() ? static_cast<int>(editor_.plan().units.size()) : 0;
  return set_processing(explorer::step_min_units(processing_to_edit(), dir, current));
}

EditResult Explorer::toggle_slicing() {
  SequenceProcessing p = processing_to_edit();
  p.allow_slicing = !p.allow_slicing;
  return set_processing(p);
}

}  // namespace adaptis::explorer
