#pragma once
// What the timelines' colours, shading, hatching and arrows mean: one list both explorers draw
// (the GUI as swatches, the TUI as characters), so the two never explain the same mark differently.
#include <string>
#include <vector>

namespace adaptis::explorer {

enum class LegendMark {
  Forward,         // F boxes
  InputGrad,       // B boxes (input gradient)
  WeightGrad,      // W boxes (weight gradient)
  FusedBackward,   // BW boxes (B and W in one action)
  LaterChunk,      // lighter shade: a later chunk (stage) on the same device
  Folded,          // zigzag block: many actions too small to draw at this zoom
  BubbleWait,      // hatched: idle waiting for a producer action
  BubbleTransfer,  // hatched: idle while the producer's output is in flight
  BubbleDrain,     // hatched: idle after the device's last action
  CriticalPath,    // underline and links: the chain that sets the iteration time
  Send,            // send lane
  Recv,            // receive lane
  Measured,        // a recorded run's measured action under the prediction
  ArrowIn,         // selection's inputs
  ArrowOut,        // selection's outputs
  FilterMatch,     // a search match (others are dimmed)
  Recompute,       // R boxes (a memory policy's recompute before B)
  Offload,         // host lane: kept activations copied to host memory after F
  Reload,          // host lane: the copy back before R / B
  MemoryCap,       // the memory line: peak against the device's cap (over it: OOM)
  // A whole-cluster plan's collective lanes (BoxKind::GradSync .. OptimizerStep, same order).
  GradSync,        // dp lane: data-parallel gradient sync buckets
  ParamGather,     // dp lane: ZeRO weight all-gathers
  TensorComm,      // tp lane: tensor-parallel collectives inside F and B
  ContextComm,     // tp lane: context-parallel ring exchange not hidden by attention
  ExpertComm,      // tp lane: expert-parallel all-to-all
  OptimizerStep,   // dp lane: the optimizer step
};

struct LegendEntry {
  LegendMark mark;
  std::string label;        // short: "F forward"
  std::string description;  // one sentence for tooltips and the TUI's legend view
};

struct LegendContext {
  bool split_backward = true;  // the costs have separate B and W
  bool fused_backward = false; // the plan has BW actions
  bool chunks = false;         // some device holds several stages
  bool transfers = false;      // send/receive lanes are shown
  bool measured = false;       // a measured run is on screen
  bool selection = false;      // an action is selected (its arrows are drawn)
  bool filter = false;         // a search is active
  bool recompute = false;      // the plan has R actions
  bool host_copies = false;    // host-link copies (offload / reload) are shown
  bool memory = false;         // the memory line (peak vs cap) is shown
  bool collective[6] = {};     // per CollectiveKind: the plan has such collectives on its dp/tp lanes
};

// The entries that apply to what is on screen, in drawing order.
std::vector<LegendEntry> legend(const LegendContext& c);

}  // namespace adaptis::explorer
