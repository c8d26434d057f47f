#pragma once
// The iteration's lengths read again off the UI thread (the explorers' ReadLengths effect, explorer.h):
// the file may be large, on a slow mount or a FIFO nobody has written yet, and the explorer must keep
// drawing meanwhile. The worker reads or draws the lengths, checks them and packs them into units by
// the plan's processing (read_and_pack, pure over plain data); the UI thread only adopts the units
// (Explorer::on_lengths_read re-simulates the plan, as any edit does). A newer request cancels the one
// in flight (the driver starts it once the old worker returned), and so does closing the explorer.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/unit.h"
#include "explorer/background_job.h"

namespace adaptis::explorer {

// One request, as the explorer made it.
struct LengthsRequest {
  uint64_t id = 0;        // the explorer's count of requests: only the newest one's lengths are adopted
  std::string spec;       // a lengths file (absolute path), a histogram JSON or a distribution
  LengthOptions options;  // the context and the global batch to read them with
  SequenceProcessing processing;           // the plan's when asked: what packs the new lengths
  std::shared_ptr<const CostTable> costs;  // the session's when asked: the units' cost model and slice check
};

// New lengths and the units they make.
struct PackedLengths {
  std::shared_ptr<const SequenceLengths> data;
  SequenceProcessing processing;  // the asked-for one, its token budget capped at the new context
  std::string budget_note;        // " (token budget N capped at the context)" when it was, else ""
  std::vector<WorkUnit> units;
};

// `data` packed by `p` as new lengths are: refused (InputError with the reason) when the global batch
// is below the context, a sequence is longer than the context with slicing off, the processing cannot
// make these units (units_for) or makes more than kMaxExplorerUnits; a token budget above the new
// context becomes the context (a unit holds at most that).
PackedLengths pack_new_lengths(std::shared_ptr<const SequenceLengths> data, SequenceProcessing p,
                               const CostTable& costs);

// Reads or draws `r`'s lengths and packs them (nullopt once `cancel` is set); InputError as
// load_sequence_lengths and pack_new_lengths give it.
std::optional<PackedLengths> read_and_pack(const LengthsRequest& r, const std::atomic<bool>& cancel);

// read_and_pack on a background thread (background_job.h). The result is null when cancelled.
class LengthsReadJob : public BackgroundJob<std::shared_ptr<const PackedLengths>> {
 public:
  // Starts reading; false (and nothing started) while a read is still running.
  bool start(std::shared_ptr<const LengthsRequest> request);
  // The request of the read running or last finished (null before the first).
  std::shared_ptr<const LengthsRequest> request() const;

 private:
  std::shared_ptr<const LengthsRequest> request_;
};

}  // namespace adaptis::explorer
