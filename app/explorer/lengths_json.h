#pragma once
// A LengthsSource (lengths_source.h) in a saved session: the lengths as the user gave them (the
// distribution or the file), the options they were read with, the lengths themselves (so the units can
// be rebuilt identically even when the file changed or moved since) and the processing that made the
// plan's units.
//
//   {"spec": "/abs/mix.lengths" | "lognormal:median=2048,sigma=1", "context": 0, "global_batch_tokens": 0,
//    "data": {"origin": "...", "context": 8192, "lengths": [812, 4096, ...]},
//    "processing": {"mode": "pack", "unit_tokens": 0, "units": 0, "slices": 2, "slice_multiple": 1,
//                   "order": "as-built", "allow_slicing": true} | null}
#include <nlohmann/json.hpp>
#include <string>

#include "explorer/lengths_source.h"

namespace adaptis::explorer {

nlohmann::json processing_to_json(const SequenceProcessing& p);
// Throws InputError naming `where` and the field at fault.
SequenceProcessing processing_from_json(const nlohmann::json& j, const std::string& where);

// `l.data` must be set.
nlohmann::json lengths_to_json(const LengthsSource& l);
// Throws InputError naming `where` and the field at fault (a missing or empty list, a length out of
// range, an unknown packing mode, ...).
LengthsSource lengths_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace adaptis::explorer
