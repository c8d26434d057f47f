#include "adaptis/planner/chrome_trace.h"
#include "adaptis/planner/units.h"

#include <algorithm>
#include <cmath>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/stage_costs.h"

namespace adaptis {

namespace {

using nlohmann::json;

// Microseconds rounded to nanoseconds: short numbers in the file, and ns is finer than any
// simulated or measured action.
double us(double ms) { return std::round(ms * 1e6) / 1e3; }
double mib(double bytes) { return std::round(bytes / (1024.0 * 1024.0) * 1e3) / 1e3; }

// Thread ids inside a device's process. Each timeline gets its own block of ids so a prediction
// and a measurement of the same plan never share a thread (slices on one thread must nest).
struct Lanes {
  int base;
  int compute() const { return base + 1; }
  int idle() const { return base + 2; }
  int to_host() const { return base + 3; }
  int to_device() const { return base + 4; }
  int recv_from(int peer) const { return base + 1000 + peer; }
  int send_to(int peer) const { return base + 50000 + peer; }
};

// Catapult colour names, so F/B/W read apart in chrome://tracing (Perfetto colours by name).
const char* op_color(Op op) {
  switch (op) {
    case Op::F: return "rail_load";
    case Op::B: return "rail_response";
    case Op::W: return "cq_build_passed";
    case Op::BW: return "rail_animation";
    case Op::R: return "rail_idle";
  }
  return "generic_work";
}

std::string layer_range(const Partition& part, int stage) {
  if (stage < 0 || stage >= part.num_stages()) return "";
  int a = part.bounds[stage], b = part.bounds[stage + 1] - 1;
  return a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
}

std::string action_label(const Action& a) {
  return std::string(op_name(a.op)) + " s" + std::to_string(a.stage) + " mb" + std::to_string(a.mb);
}

json meta_event(const char* name, int pid, int tid, json args) {
  json e = {{"ph", "M"}, {"name", name}, {"pid", pid}, {"args", std::move(args)}};
  if (tid >= 0) e["tid"] = tid;
  return e;
}

}  // namespace

TraceTimeline trace_timeline_from_simulation(const Plan& plan, const SimResult& sim, const CostTable& costs,
                                             const Cluster& cluster, const SimOptions& opt) {
  if (!sim.ok) throw InputError("cannot draw a trace of a plan that deadlocks:\n" + sim.error);
  TraceTimeline t;
  t.label = "simulated";
  t.actions = sim.timeline;
  std::vector<StageCost> stages = stage_costs(costs, plan.partition, plan.memory);
  std::vector<UnitStageCost> per_unit;
  if (!plan.units.empty()) unit_stage_costs(stages, plan.units, cost_reference(costs), per_unit, plan.memory);
  t.transfers = derive_transfers(plan, sim.timeline, &stages, &cluster, opt, per_unit.empty() ? nullptr : &per_unit);
  t.memory = sim.memory;
  t.host_transfers = sim.host_transfers;
  for (const auto& d : sim.devices) t.static_bytes.push_back(d.static_bytes);
  t.gaps = sim.gaps;
  t.iteration_ms = sim.iteration_ms;
  return t;
}

json chrome_trace_json(const Plan& plan, const std::vector<TraceTimeline>& timelines, const ChromeTraceOptions& opt,
                       const json& metadata) {
  json events = json::array();
  int num_devices = plan.num_devices();
  for (const auto& tl : timelines) num_devices = std::max(num_devices, static_cast<int>(tl.actions.size()));

  for (int d = 0; d < num_devices; ++d) {
    events.push_back(meta_event("process_name", d, -1, {{"name", "device " + std::to_string(d)}}));
    events.push_back(meta_event("process_sort_index", d, -1, {{"sort_index", d}}));
    if (d < plan.num_devices()) {
      std::string stages;
      for (int s : plan.placement.device_stages[d]) stages.append(stages.empty() ? "" : ",").append(std::to_string(s));
      events.push_back(meta_event("process_labels", d, -1, {{"labels", "stages " + stages}}));
    }
  }

  const bool several = timelines.size() > 1;
  json iteration_ms = json::object();
  uint64_t flow_id = 1;
  for (size_t k = 0; k < timelines.size(); ++k) {
    const TraceTimeline& tl = timelines[k];
    const Lanes lanes{static_cast<int>(k) * 100000};
    const std::string prefix = several ? tl.label + " · " : "";
    iteration_ms[tl.label] = tl.iteration_ms;
    auto name_thread = [&](int pid, int tid, const std::string& name, int sort) {
      events.push_back(meta_event("thread_name", pid, tid, {{"name", prefix + name}}));
      events.push_back(meta_event("thread_sort_index", pid, tid, {{"sort_index", lanes.base + sort}}));
    };

    // Compute.
    for (size_t d = 0; d < tl.actions.size(); ++d) {
      const int pid = static_cast<int>(d);
      name_thread(pid, lanes.compute(), "compute", 0);
      for (const auto& ta : tl.actions[d]) {
        const Action& a = ta.action;
        json args = {{"op", op_name(a.op)},
                     {"stage", a.stage},
                     {"mb", a.mb},
                     {"layers", layer_range(plan.partition, a.stage)},
                     {"start_ms", ta.start},
                     {"duration_ms", ta.end - ta.start}};
        if (a.overlap_prev) args["overlapped_with_previous"] = true;
        if (a.mb >= 0 && a.mb < static_cast<int>(plan.units.size())) {  // variable-length unit
          const WorkUnit& u = plan.units[a.mb];
          args["unit"] = describe_unit(u);
          args["tokens"] = u.run_tokens();
          args["docs"] = u.docs;
        }
        events.push_back({{"ph", "X"},
                          {"name", action_label(a)},
                          {"cat", op_name(a.op)},
                          {"cname", op_color(a.op)},
                          {"pid", pid},
                          {"tid", lanes.compute()},
                          {"ts", us(ta.start)},
                          {"dur", us(ta.end - ta.start)},
                          {"args", std::move(args)}});
      }
    }

    // P2P: one thread per peer and direction, so transfers on one link (FIFO) never overlap.
    if (opt.transfers && !tl.transfers.empty()) {
      std::vector<std::pair<int, int>> named;  // (pid, tid) already named
      auto ensure = [&](int pid, int tid, const std::string& name, int sort) {
        if (std::find(named.begin(), named.end(), std::make_pair(pid, tid)) != named.end()) return;
        named.emplace_back(pid, tid);
        name_thread(pid, tid, name, sort);
      };
      for (const Transfer& t : tl.transfers) {
        const char* kind = t.activation() ? "activation" : "gradient";
        ensure(t.src_device, lanes.send_to(t.dst_device), "send -> device " + std::to_string(t.dst_device),
               20 + t.dst_device);
        ensure(t.dst_device, lanes.recv_from(t.src_device), "recv <- device " + std::to_string(t.src_device),
               10 + t.src_device);
        json args = {{"kind", kind},
                     {"producer", action_label(t.producer)},
                     {"consumer", action_label(t.consumer)},
                     {"src_device", t.src_device},
                     {"dst_device", t.dst_device},
                     {"bytes", t.bytes},
                     {"mb", t.producer.mb}};
        std::string what = std::string(t.activation() ? "act " : "grad ") + "s" + std::to_string(t.producer.stage) +
                           "->s" + std::to_string(t.consumer.stage) + " mb" + std::to_string(t.producer.mb);
        events.push_back({{"ph", "X"}, {"name", "send " + what}, {"cat", "p2p"}, {"cname", "thread_state_iowait"},
                          {"pid", t.src_device}, {"tid", lanes.send_to(t.dst_device)}, {"ts", us(t.start)},
                          {"dur", us(t.end - t.start)}, {"args", args}});
        events.push_back({{"ph", "X"}, {"name", "recv " + what}, {"cat", "p2p"}, {"cname", "thread_state_iowait"},
                          {"pid", t.dst_device}, {"tid", lanes.recv_from(t.src_device)}, {"ts", us(t.start)},
                          {"dur", us(t.end - t.start)}, {"args", args}});
        if (opt.flows) {
          events.push_back({{"ph", "s"}, {"id", flow_id}, {"name", "p2p"}, {"cat", "p2p"}, {"pid", t.src_device},
                            {"tid", lanes.send_to(t.dst_device)}, {"ts", us(t.start)}});
          events.push_back({{"ph", "f"}, {"bp", "e"}, {"id", flow_id}, {"name", "p2p"}, {"cat", "p2p"},
                            {"pid", t.dst_device}, {"tid", lanes.recv_from(t.src_device)}, {"ts", us(t.start)}});
          ++flow_id;
        }
      }
    }

    // Host link: one thread per direction and device (each a FIFO channel, so copies never overlap).
    if (opt.transfers && !tl.host_transfers.empty()) {
      std::vector<std::pair<int, int>> named;
      for (const HostTransfer& x : tl.host_transfers) {
        const int tid = x.to_host ? lanes.to_host() : lanes.to_device();
        if (std::find(named.begin(), named.end(), std::make_pair(x.device, tid)) == named.end()) {
          named.emplace_back(x.device, tid);
          name_thread(x.device, tid, x.to_host ? "host link -> host" : "host link -> device", x.to_host ? 60 : 61);
        }
        const std::string what = std::string(x.to_host ? "offload" : "reload") + " s" + std::to_string(x.stage) +
                                 " mb" + std::to_string(x.mb);
        events.push_back({{"ph", "X"},
                          {"name", what},
                          {"cat", "host"},
                          {"cname", x.to_host ? "cq_build_attempt_running" : "cq_build_attempt_passed"},
                          {"pid", x.device},
                          {"tid", tid},
                          {"ts", us(x.start)},
                          {"dur", us(x.end - x.start)},
                          {"args",
                           {{"stage", x.stage},
                            {"mb", x.mb},
                            {"bytes", x.bytes},
                            {"request_ms", x.request},
                            {"direction", x.to_host ? "to host" : "to device"}}}});
      }
    }

    // Idle gaps with the dependency that caused each.
    if (opt.gaps && !tl.gaps.empty()) {
      std::vector<char> named(num_devices, 0);
      for (const Gap& g : tl.gaps) {
        if (g.device < 0 || g.device >= num_devices) continue;
        if (!named[g.device]) {
          named[g.device] = 1;
          name_thread(g.device, lanes.idle(), "idle", 90);
        }
        json args = {{"cause", gap_cause_name(g.cause)}, {"phase", bubble_phase_name(g.phase)},
                     {"duration_ms", g.end - g.start}};
        std::string name = std::string("idle: ") + gap_cause_name(g.cause);
        if (g.cause != GapCause::Drain) {
          args["waiting"] = action_label(g.waiting);
          if (g.producer_device >= 0) {
            args["producer"] = action_label(g.producer);
            args["producer_device"] = g.producer_device;
            args["producer_end_ms"] = g.producer_end;
            args["arrival_ms"] = g.arrival;
          }
          name += " (" + action_label(g.waiting) + ")";
        }
        events.push_back({{"ph", "X"}, {"name", name}, {"cat", "bubble"}, {"cname", "grey"}, {"pid", g.device},
                          {"tid", lanes.idle()}, {"ts", us(g.start)}, {"dur", us(g.end - g.start)},
                          {"args", std::move(args)}});
      }
    }

    // Memory counters: one track per device, static and activation MiB stacked.
    if (opt.memory) {
      const std::string counter = several ? "memory MiB (" + tl.label + ")" : "memory MiB";
      for (size_t d = 0; d < tl.memory.size(); ++d) {
        std::vector<MemorySample> samples = tl.memory[d];
        std::stable_sort(samples.begin(), samples.end(),
                         [](const MemorySample& a, const MemorySample& b) { return a.t < b.t; });
        const bool split = d < tl.static_bytes.size();
        bool policies = false;  // recomputed or offloaded bytes: split the activations further
        for (const auto& s : samples) policies = policies || s.recomputed > 0 || s.offloaded > 0;
        for (const auto& s : samples) {
          const double act = split ? std::max(0.0, s.bytes - tl.static_bytes[d]) : 0.0;
          json args = split ? json{{"static", mib(tl.static_bytes[d])}, {"activations", mib(act)}}
                            : json{{"total", mib(s.bytes)}};
          if (split && policies) {
            args.erase("activations");
            args["kept"] = mib(std::max(0.0, act - s.recomputed));
            args["recomputed"] = mib(s.recomputed);
          }
          events.push_back({{"ph", "C"}, {"name", counter}, {"pid", static_cast<int>(d)}, {"ts", us(s.t)},
                            {"args", std::move(args)}});
          if (policies)
            events.push_back({{"ph", "C"}, {"name", several ? "on host MiB (" + tl.label + ")" : "on host MiB"},
                              {"pid", static_cast<int>(d)}, {"ts", us(s.t)}, {"args", {{"offloaded", mib(s.offloaded)}}}});
        }
      }
    }

    // Iteration end, across all devices.
    events.push_back({{"ph", "i"}, {"s", "g"}, {"name", prefix + "iteration end"}, {"pid", 0},
                      {"tid", lanes.compute()}, {"ts", us(tl.iteration_ms)}});
  }

  json other = {{"generator", "adaptis"},
                {"plan", plan.name},
                {"devices", plan.num_devices()},
                {"stages", plan.num_stages()},
                {"microbatches", plan.num_microbatches},
                {"iteration_ms", iteration_ms},
                {"time_unit", "ts and dur are microseconds of simulated or measured time"}};
  if (const std::string m = describe_memory(plan.memory); !m.empty()) other["memory_policies"] = m;
  if (metadata.is_object())
    for (auto it = metadata.begin(); it != metadata.end(); ++it) other[it.key()] = it.value();
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", std::move(other)}};
}

json chrome_trace_json(const Plan& plan, const SimResult& sim, const CostTable& costs, const Cluster& cluster,
                       const SimOptions& sim_opt, const ChromeTraceOptions& opt) {
  json meta = {{"model", costs.model}, {"cost_source", costs.source}, {"cluster", cluster.name}};
  return chrome_trace_json(plan, {trace_timeline_from_simulation(plan, sim, costs, cluster, sim_opt)}, opt, meta);
}

void write_chrome_trace(const std::string& path, const json& trace) { write_text_file(path, trace.dump() + "\n"); }

}  // namespace adaptis
