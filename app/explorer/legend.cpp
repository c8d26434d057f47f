#include "explorer/legend.h"

namespace adaptis::explorer {

std::vector<LegendEntry> legend(const LegendContext& c) {
  std::vector<LegendEntry> out;
  auto add = [&](LegendMark m, const char* label, const char* description) { out.push_back({m, label, description}); };
  add(LegendMark::Forward, "F forward", "forward pass of a stage for one micro-batch");
  if (c.split_backward) {
    add(LegendMark::InputGrad, "B input-grad", "backward pass for the input gradient (what the previous stage waits for)");
    add(LegendMark::WeightGrad, "W weight-grad", "backward pass for the weight gradients (free to move into bubbles)");
  }
  if (c.fused_backward || !c.split_backward)
    add(LegendMark::FusedBackward, "BW backward", "the whole backward pass as one action (B and W fused)");
  if (c.recompute)
    add(LegendMark::Recompute, "R recompute",
        "re-runs the forward of what the stage's memory policy dropped, before B needs it (costs compute, saves memory)");
  if (c.chunks) add(LegendMark::LaterChunk, "lighter: later chunk", "a later stage (chunk) placed on the same device");
  add(LegendMark::Folded, "zigzag: folded", "many actions too small to draw at this zoom; zoom in to separate them");
  add(LegendMark::BubbleWait, "hatch: waiting", "idle: waiting for a producer action to finish");
  add(LegendMark::BubbleTransfer, "hatch: in flight", "idle: the producer finished, its output is still being sent");
  add(LegendMark::BubbleDrain, "hatch: drained", "idle: the device finished its work, others are still running");
  add(LegendMark::CriticalPath, "critical path", "the chain of actions and waits that sets the iteration time");
  if (c.transfers) {
    add(LegendMark::Send, "send", "a point-to-point send of an activation or gradient");
    add(LegendMark::Recv, "receive", "a point-to-point receive");
  }
  if (c.host_copies) {
    add(LegendMark::Offload, "offload", "host link: kept activations copied to host memory after F (device memory freed when it ends)");
    add(LegendMark::Reload, "reload", "host link: the copy back before R or B (reserves device memory when it starts)");
  }
  const char* const collective_text[6][2] = {
      {"dp sync", "dp lane: data-parallel gradient all-reduce / reduce-scatter buckets, beside compute"},
      {"ZeRO gather", "dp lane: ZeRO weight all-gather (ZeRO-3 before each F/B, ZeRO-1 after the optimizer)"},
      {"tp comm", "tp lane: tensor-parallel all-reduce (or RS + AG) inside F and B, blocking compute"},
      {"cp comm", "tp lane: context-parallel ring exchange that attention does not hide"},
      {"ep comm", "tp lane: expert-parallel all-to-all dispatch and combine"},
      {"optimizer", "dp lane: the optimizer step after the device's last gradient is reduced"}};
  for (int k = 0; k < 6; ++k)
    if (c.collective[k])
      add(static_cast<LegendMark>(static_cast<int>(LegendMark::GradSync) + k), collective_text[k][0], collective_text[k][1]);
  if (c.memory)
    add(LegendMark::MemoryCap, "memory: peak / cap",
        "each device's peak memory against its cap; past the cap the plan is out of memory (OOM)");
  if (c.measured) add(LegendMark::Measured, "measured", "what a recorded run measured for the action");
  if (c.selection) {
    add(LegendMark::ArrowIn, "arrow in", "an input of the selected action");
    add(LegendMark::ArrowOut, "arrow out", "an action that needs the selected one");
  }
  if (c.filter) add(LegendMark::FilterMatch, "search match", "actions the search matches; the others are dimmed");
  return out;
}

}  // namespace adaptis::explorer
