// The iteration's context length and global batch from inside the explorers: the lengths are read or
// drawn again from their source with the new options and packed by the plan's processing (the
// ReadLengths effect; the driver's background job reads them as the command line does for --lengths
// with --context / --global-batch-tokens, lengths_read_job.h), and the plan rebuilt over the new units
// once they are in (explorer.h).
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
  return "";
}

EditResult Explorer::set_length_options(const LengthOptions& o) {
  const std::string label = "data: " + describe(o);
  auto refuse = [&](const std::string& why) { return refused(*this, label + ": " + why); };
  if (const std::string why = length_options_blocker(); !why.empty()) return refuse(why);
  const LengthsSource now = lengths_in_use();
  if (lengths_reading_ && same_options(o, lengths_reading_->options)) {
    const std::string same = label + ": the lengths are being read with these already";
    note(same);
    return {false, same};
  }
  if (same_options(o, now.options)) {
    if (lengths_reading_) {  // back to the lengths on screen: the read of other values is not wanted now
      const std::string dropped = describe(lengths_reading_->options);
      lengths_reading_.reset();
      request(Effect(EffectKind::CancelReadLengths));
      note(label + ": the lengths on screen have these; stopped reading them with " + dropped);
      return {true, ""};
    }
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
  auto req = std::make_shared<LengthsRequest>();
  req->id = ++lengths_requests_;
  req->spec = config_.lengths.spec;
  req->options = o;
  req->processing = processing_in_use();
  req->costs = editor_.costs_ptr();
  const bool superseded = lengths_reading_ != nullptr;
  lengths_reading_ = req;
  Effect e(EffectKind::ReadLengths);
  e.lengths = std::move(req);
  request(std::move(e));
  note(label + ": reading " + config_.lengths.spec + (superseded ? " (instead of the values asked for before)" : ""));
  return {true, ""};
}

std::string Explorer::lengths_loading_text() const {
  return lengths_reading_ ? lengths_reading_->spec + " with " + describe(lengths_reading_->options) : std::string();
}

// What one value is set against: the options being read; else the lengths' options, with a
// distribution's unset ones (a session saved before they were recorded) taken from its lengths, since a
// distribution needs both.
LengthOptions Explorer::options_to_edit() const {
  if (lengths_reading_) return lengths_reading_->options;
  const LengthsSource l = lengths_in_use();
  LengthOptions o = l.options;
  if (l.data && is_length_distribution(l.spec)) {
    if (o.context <= 0) o.context = l.data->context;
    if (o.global_batch_tokens <= 0) o.global_batch_tokens = l.data->total_tokens();
  }
  return o;
}

EditResult Explorer::set_context(long long tokens) {
  LengthOptions o = options_to_edit();
  o.context = tokens;
  return set_length_options(o);
}

EditResult Explorer::set_global_batch_tokens(long long tokens) {
  LengthOptions o = options_to_edit();
  o.global_batch_tokens = tokens;
  return set_length_options(o);
}

EditResult Explorer::step_context(int dir) {
  if (const std::string why = length_options_blocker(); !why.empty()) return refused(*this, "data: " + why);
  // A step goes on from the value being read (pressing twice doubles twice), else from the lengths.
  const long long asked = options_to_edit().context;
  const long long now = asked > 0 ? asked : lengths_in_use().data->context;
  if (dir < 0 && now <= 1) return refused(*this, "data: the context is already 1 token");
  return set_context(dir < 0 ? now / 2 : now * 2);
}

EditResult Explorer::step_global_batch(int dir) {
  if (const std::string why = length_options_blocker(); !why.empty()) return refused(*this, "data: " + why);
  const SequenceLengths& data = *lengths_in_use().data;
  const LengthOptions asked = options_to_edit();
  const long long now = asked.global_batch_tokens > 0 ? asked.global_batch_tokens : data.total_tokens();
  const long long context = asked.context > 0 ? asked.context : data.context;
  const long long next = dir < 0 ? now / 2 : now * 2;
  if (dir < 0 && next < context)
    return refused(*this, "data: global batch " + std::to_string(next) + " tokens: below the context of " +
                              std::to_string(context) + " tokens (an iteration would not fill one unit); "
                              "halve the context first");
  return set_global_batch_tokens(next);
}

void Explorer::on_lengths_read(const LengthsRequest& request, std::shared_ptr<const PackedLengths> packed,
                               const std::string& error) {
  if (!lengths_reading_ || request.id != lengths_reading_->id || request.spec != config_.lengths.spec)
    return;  // superseded, or not ours
  lengths_reading_.reset();
  const LengthOptions& options = request.options;
  const std::string label = "data: " + describe(options);
  auto refuse = [&](const std::string& why) { note(label + ": " + why, true); };
  if (!error.empty() || !packed) return refuse(error.empty() ? "no lengths were read" : error);
  if (const std::string why = repack_blocker(); !why.empty()) return refuse(why);
  // The plan's processing or the session's costs changed while the lengths were read (a re-pack, an
  // undo, another cluster row): the new lengths are packed here by what is in use now.
  if (!(processing_in_use() == request.processing) || editor_.costs_ptr() != request.costs) {
    try {
      packed = std::make_shared<const PackedLengths>(pack_new_lengths(packed->data, processing_in_use(), editor_.costs()));
    } catch (const InputError& e) {
      return refuse(e.what());
    }
  }
  const SequenceProcessing& p = packed->processing;
  const std::vector<WorkUnit>& units = packed->units;
  const std::shared_ptr<const SequenceLengths>& data = packed->data;
  const std::string budget_note = packed->budget_note;
  const std::string what = label + ", " + describe(p) + budget_note;
  // The lengths on screen become these (with the units they make) whether or not the plan changes.
  auto adopt = [&] {
    remember_units(units, p, data, options);
    config_.lengths.data = data;
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
