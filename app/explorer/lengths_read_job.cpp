#include "explorer/lengths_read_job.h"

#include "adaptis/model/cancellable_read.h"
#include "adaptis/model/error.h"
#include "explorer/lengths_source.h"

namespace adaptis::explorer {

PackedLengths pack_new_lengths(std::shared_ptr<const SequenceLengths> data, SequenceProcessing p,
                               const CostTable& costs) {
  if (data->total_tokens() < data->context)
    throw InputError("the global batch of " + std::to_string(data->total_tokens()) + " tokens is below the context of " +
                     std::to_string(data->context) + " tokens (an iteration would not fill one unit)");
  PackedLengths out;
  if (p.unit_tokens > data->context) {
    out.budget_note = " (token budget " + std::to_string(p.unit_tokens) + " capped at the context)";
    p.unit_tokens = 0;
  }
  check_sequence_lengths(*data, p.allow_slicing);
  out.units = units_for(*data, costs, p);
  if (out.units.size() > static_cast<size_t>(kMaxExplorerUnits))
    throw InputError(describe(p) + " makes " + std::to_string(out.units.size()) + " units; the explorers plan at most " +
                     std::to_string(kMaxExplorerUnits) + " (one micro-batch each): use `adaptis simulate --lengths` "
                     "for larger iterations");
  out.data = std::move(data);
  out.processing = p;
  return out;
}

std::optional<PackedLengths> read_and_pack(const LengthsRequest& r, const std::atomic<bool>& cancel) {
  std::optional<SequenceLengths> data = load_sequence_lengths(r.spec, r.options, cancel);
  if (!data || cancel.load()) return std::nullopt;
  return pack_new_lengths(std::make_shared<const SequenceLengths>(std::move(*data)), r.processing, *r.costs);
}

bool LengthsReadJob::start(std::shared_ptr<const LengthsRequest> request) {
  if (!request || !request->costs) return false;
  using Result = std::shared_ptr<const PackedLengths>;
  return launch(
      [this, request] { request_ = request; },
      [this, request]() -> Result {
        std::optional<PackedLengths> packed = read_and_pack(*request, *cancel_flag());
        return packed ? std::make_shared<const PackedLengths>(std::move(*packed)) : nullptr;
      },
      [](const Result& r) { return !r; }, [](Outcome&) {});
}

std::shared_ptr<const LengthsRequest> LengthsReadJob::request() const {
  std::lock_guard<std::mutex> lock(mutex());
  return request_;
}

}  // namespace adaptis::explorer
