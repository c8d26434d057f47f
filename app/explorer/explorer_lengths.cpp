// The iteration's context length and global batch from inside the explorers: the lengths are read or
// drawn again from their source with the new options (the ReadLengths effect; the driver reads, as
// the command line does for --lengths with --context / --global-batch-tokens), packed by the plan's
// processing and the plan rebuilt over the new units (explorer.h).
#include <optional>
#include <string>

#include "adaptis/model/error.h"
#include "explorer/explorer.h"

namespace adaptis::explorer {

namespace {

bool same_options(const LengthOptions& a, const LengthOptions& b) {
  return a.context == b.context && a.global_batch_tokens == b.global_batch_tokens;
}

EditResult refused(Explorer& ex, const std::string& why) {
  ex.note(why, true);
  return {false, why};
}

}  // namespace

std::string Explorer::length_options_blocker() const {
  if (std::string why = repack_blocker(); !why.empty()) return why;
  if (config_.lengths.spec.empty())
    return "where the lengths came from is not known here (a session saved without it): start with --lengths "
           "FILE|DIST to read them with another context or global batch";
  if (lengths_read_) return "the lengths are still being read with " + describe(*lengths_read_);
  return "";
}

EditResult Explorer::set_length_options(const LengthOptions& o) {
  const std::string label = "data: " + describe(o);
  auto refuse = [&](const std::string& why) { return refused(*this, label + ": " + why); };
  if (const std::string why = length_options_blocker(); !why.empty()) return refuse(why);
  const LengthsSource now = lengths_in_use();
  if (same_options(o, now.options)) {
    const std::string same = label + ": the lengths were read with these already";
    note(same);
    return {false, same};
  }
  // Checked before anything is drawn: even units as full as the context would be too many to plan here
  // (and drawing that many sequences takes long).
  const long long context = o.context > 0 ? o.context : now.data->context;
  if (o.global_batch_tokens > 0 && context > 0 && o.global_batch_tokens / context > kMaxExplorerUnits)
    return refuse("more than " + std::to_string(kMaxExplorerUnits) + " units of the context (" +
                  std::to_string(context) + " tokens); the explorers plan at most that many (one micro-batch each): "
                  "use `adaptis simulate --lengths` for larger iterations");
  Effect e(EffectKind::ReadLengths);
  e.lengths_spec = config_.lengths.spec;
  e.length_options = o;
  request(std::move(e));
  lengths_read_ = o;
  note(label + ": reading " + config_.lengths.spec);
  return {true, ""};
}

namespace {

// What one value is set against: the lengths' options, with a distribution's unset ones (a session saved
// before they were recorded) taken from its lengths, since a distribution needs both.
LengthOptions options_to_edit(const LengthsSource& l) {
  LengthOptions o = l.options;
  if (l.data && is_length_distribution(l.spec)) {
    if (o.context <= 0) o.context = l.data->context;
    if (o.global_batch_tokens <= 0) o.global_batch_tokens = l.data->total_tokens();
  }
  return o;
}

}  // namespace

EditResult Explorer::set_context(long long tokens) {
  LengthOptions o = options_to_edit(lengths_in_use());
  o.context = tokens;
  return set_length_options(o);
}

EditResult Explorer::set_global_batch_tokens(long long tokens) {
  LengthOptions o = options_to_edit(lengths_in_use());
  o.global_batch_tokens = tokens;
  return set_length_options(o);
}

EditResult Explorer::step_context(int dir) {
  if (const std::string why = length_options_blocker(); !why.empty()) return refused(*this, "data: " + why);
  const long long now = lengths_in_use().data->context;
  if (dir < 0 && now <= 1) return refused(*this, "data: the context is already 1 token");
  return set_context(dir < 0 ? now / 2 : now * 2);
}

EditResult Explorer::step_global_batch(int dir) {
  if (const std::string why = length_options_blocker(); !why.empty()) return refused(*this, "data: " + why);
  const SequenceLengths& data = *lengths_in_use().data;
  const long long now = data.total_tokens();
  const long long next = dir < 0 ? now / 2 : now * 2;
  if (dir < 0 && next < data.context)
    return refused(*this, "data: global batch " + std::to_string(next) + " tokens: below the context of " +
                              std::to_string(data.context) + " tokens (an iteration would not fill one unit); "
                              "halve the context first");
  return set_global_batch_tokens(next);
}

void Explorer::on_lengths_read(const std::string& spec, const LengthOptions& options,
                               std::shared_ptr<const SequenceLengths> data, const std::string& error) {
  if (!lengths_read_ || !same_options(*lengths_read_, options) || spec != config_.lengths.spec) return;  // not ours
  lengths_read_.reset();
  const std::string label = "data: " + describe(options);
  auto refuse = [&](const std::string& why) { note(label + ": " + why, true); };
  if (!error.empty() || !data) return refuse(error.empty() ? "no lengths were read" : error);
  if (const std::string why = repack_blocker(); !why.empty()) return refuse(why);
  if (data->total_tokens() < data->context)
    return refuse("the global batch of " + std::to_string(data->total_tokens()) + " tokens is below the context of " +
                  std::to_string(data->context) + " tokens (an iteration would not fill one unit)");
  // The plan's processing packs the new lengths; a token budget above the new context becomes the
  // context (a unit holds at most that).
  SequenceProcessing p = processing_in_use();
  std::string budget_note;
  if (p.unit_tokens > data->context) {
    budget_note = " (token budget " + std::to_string(p.unit_tokens) + " capped at the context)";
    p.unit_tokens = 0;
  }
  std::vector<WorkUnit> units;
  try {
    check_sequence_lengths(*data, p.allow_slicing);
    units = units_for(*data, editor_.costs(), p);
  } catch (const InputError& e) {
    return refuse(e.what());
  }
  if (units.size() > static_cast<size_t>(kMaxExplorerUnits))
    return refuse(describe(p) + " makes " + std::to_string(units.size()) + " units; the explorers plan at most " +
                  std::to_string(kMaxExplorerUnits) + " (one micro-batch each): use `adaptis simulate --lengths` "
                  "for larger iterations");
  const std::string what = label + ", " + describe(p) + budget_note;
  // The lengths on screen become these (with the units they make) whether or not the plan changes.
  auto adopt = [&] {
    remember_units(units, p, data, options);
    config_.lengths.data = std::move(data);
    config_.lengths.options = options;
    varlen_.reset();
  };
  if (has_plan() && editor_.pending_problem().empty() && units == editor_.plan().units) {
    // The same units (lengths the new options do not change): nothing to rebuild.
    adopt();
    note(what + ": the same " + std::to_string(units.size()) + " units as before");
    return;
  }
  EditResult r = editor_.set_units(units, what);
  if (!r.applied) {
    const std::string prefix = what + ": ";
    return refuse(r.message.rfind(prefix, 0) == 0 ? r.message.substr(prefix.size()) : r.message);
  }
  adopt();
  refused_processing_.reset();  // a refusal of the old lengths says nothing about these
  refused_reason_.clear();
  after_edit(r);
}

}  // namespace adaptis::explorer
