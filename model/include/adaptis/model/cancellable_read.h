#pragma once
// Reading an input that the caller may be told to stop from another thread: an explorer reads the
// iteration's lengths in the background (the file may be large, on a slow mount, or a FIFO nobody has
// written yet), and a newer request or closing the explorer must not wait for the old read to end.
//
// Each is its blocking namesake (json_file.h, sequence_lengths.h) with the same results and errors,
// except that it returns nullopt once `cancel` is set: the file is opened without waiting for a writer
// and read in waits of at most about 50 ms, between which the flag is looked at. A network mount can
// still hold a single read() call longer.
#include <atomic>
#include <optional>
#include <string>

#include "adaptis/model/sequence_lengths.h"

namespace adaptis {

std::optional<std::string> read_text_file(const std::string& path, const std::atomic<bool>& cancel);

std::optional<SequenceLengths> load_sequence_lengths(const std::string& spec, const LengthOptions& options,
                                                     const std::atomic<bool>& cancel);

}  // namespace adaptis
