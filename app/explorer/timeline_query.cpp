#include "explorer/timeline_query.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include "adaptis/model/error.h"

namespace adaptis::explorer {

void TimeWindow::zoom_at(double at, double factor) {
  if (!(factor > 0)) return;
  t0 = at - (at - t0) * factor;
  t1 = at + (t1 - at) * factor;
}

void TimeWindow::pan(double dt) {
  t0 += dt;
  t1 += dt;
}

void TimeWindow::fit(double a, double b, double margin_frac) {
  if (!(b > a)) b = a + 1.0;
  const double m = (b - a) * margin_frac;
  t0 = a - m;
  t1 = b + m;
}

void TimeWindow::clamp(double lo, double hi, double min_span) {
  if (!(hi > lo)) hi = lo + 1.0;
  const double margin = (hi - lo) * 0.05;
  const double max_span = (hi - lo) + 2 * margin;
  double s = span();
  if (!(s >= min_span)) {  // also catches NaN
    const double c = std::isfinite(t0 + t1) ? (t0 + t1) / 2 : (lo + hi) / 2;
    t0 = c - min_span / 2;
    t1 = c + min_span / 2;
    s = min_span;
  }
  if (s > max_span) {
    t0 = lo - margin;
    t1 = hi + margin;
    return;
  }
  if (t0 < lo - margin) {
    t0 = lo - margin;
    t1 = t0 + s;
  }
  if (t1 > hi + margin) {
    t1 = hi + margin;
    t0 = t1 - s;
  }
}

const char* lane_kind_name(LaneKind k) {
  switch (k) {
    case LaneKind::Compute: return "compute";
    case LaneKind::Measured: return "measured";
    case LaneKind::Send: return "send";
    case LaneKind::Recv: return "recv";
    case LaneKind::Host: return "host";
    case LaneKind::Dp: return "dp";
    case LaneKind::Tp: return "tp";
  }
  return "?";
}

const Lane* pick_lane(const TimelineData& data, const MeasuredLanes* measured, const Pick& p) {
  if (p.device < 0 || p.device >= static_cast<int>(data.devices.size())) return nullptr;
  const DeviceLanes& dev = data.devices[static_cast<size_t>(p.device)];
  switch (p.lane) {
    case LaneKind::Compute: return p.idle ? &dev.idle : &dev.compute;
    case LaneKind::Measured:
      return measured && p.device < static_cast<int>(measured->devices.size())
                 ? &measured->devices[static_cast<size_t>(p.device)]
                 : nullptr;
    case LaneKind::Send: return &dev.send;
    case LaneKind::Recv: return &dev.recv;
    case LaneKind::Host: return &dev.host;
    case LaneKind::Dp: return &dev.dp;
    case LaneKind::Tp: return &dev.tp;
  }
  return nullptr;
}

const TimelineBox* pick_box(const TimelineData& data, const MeasuredLanes* measured, const Pick& p) {
  if (!p.valid()) return nullptr;
  const Lane* lane = pick_lane(data, measured, p);
  if (!lane || p.index >= static_cast<int>(lane->size())) return nullptr;
  return &lane->boxes[static_cast<size_t>(p.index)];
}

Pick pick_of(int side, const PathStep& where) {
  Pick p;
  if (where.device < 0) return p;
  p.side = side;
  p.device = where.device;
  p.index = where.index;
  return p;
}

bool TimelineFilter::matches(const TimelineBox& b, int on_device) const {
  if (op >= 0) {
    const Op want = static_cast<Op>(op);
    // A fused backward is both an input-gradient and a weight-gradient pass.
    if (b.op != want && !(b.op == Op::BW && (want == Op::B || want == Op::W))) return false;
  }
  return (mb < 0 || b.mb == mb) && (stage < 0 || b.stage == stage) && (device < 0 || on_device == device);
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool parse_op_word(const std::string& w, int& op) {
  const std::string u = lower(w);
  if (u == "f") op = static_cast<int>(Op::F);
  else if (u == "b") op = static_cast<int>(Op::B);
  else if (u == "w") op = static_cast<int>(Op::W);
  else if (u == "bw") op = static_cast<int>(Op::BW);
  else if (u == "r") op = static_cast<int>(Op::R);
  else return false;
  return true;
}

bool parse_count(const std::string& s, int& v) {
  if (s.empty() || s.size() > 7) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  v = std::stoi(s);
  return true;
}

}  // namespace

TimelineFilter parse_filter(const std::string& text) {
  TimelineFilter f;
  // Words; "key=value", "key value" and "key3" all work.
  std::vector<std::string> words;
  {
    std::string t = text;
    for (char& c : t)
      if (c == '=' || c == ',' || c == ':') c = ' ';
    std::istringstream is(t);
    for (std::string w; is >> w;) words.push_back(w);
  }
  // Longest keys first, so "stage" is not read as "s" + "tage".
  static const std::pair<const char*, int> keys[] = {{"microbatch", 0}, {"device", 2}, {"stage", 1}, {"gpu", 2},
                                                     {"dev", 2},        {"mb", 0},     {"op", 3},    {"m", 0},
                                                     {"s", 1},          {"d", 2}};
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string w = lower(words[i]);
    if (parse_op_word(w, f.op)) continue;
    int which = -1;
    std::string value;
    for (const auto& [key, field] : keys) {
      const std::string k = key;
      if (w.rfind(k, 0) != 0) continue;
      value = w.substr(k.size());
      if (!value.empty() && field != 3 && !std::isdigit(static_cast<unsigned char>(value[0]))) continue;
      which = field;
      break;
    }
    if (which < 0)
      throw InputError("search: '" + words[i] +
                       "': expected mb N, stage N, device N, or an op (F, B, W, BW), e.g. \"mb 3 s2 B\"");
    if (value.empty()) {
      if (i + 1 >= words.size()) throw InputError("search: '" + words[i] + "' needs a value");
      value = lower(words[++i]);
    }
    if (which == 3) {
      if (!parse_op_word(value, f.op)) throw InputError("search: op '" + value + "': expected F, B, W, BW or R");
      continue;
    }
    int v = 0;
    if (!parse_count(value, v)) throw InputError("search: '" + words[i] + "': expected a number, got '" + value + "'");
    (which == 0 ? f.mb : which == 1 ? f.stage : f.device) = v;
  }
  return f;
}

std::string describe(const TimelineFilter& f) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
  if (f.op >= 0) add(op_name(static_cast<Op>(f.op)));
  if (f.mb >= 0) add("mb " + std::to_string(f.mb));
  if (f.stage >= 0) add("stage " + std::to_string(f.stage));
  if (f.device >= 0) add("device " + std::to_string(f.device));
  return out.empty() ? "everything" : out;
}

size_t count_matches(const TimelineData& data, const TimelineFilter& f) {
  size_t n = 0;
  for (size_t d = 0; d < data.devices.size(); ++d)
    for (const TimelineBox& b : data.devices[d].compute.boxes) n += f.matches(b, static_cast<int>(d));
  return n;
}

namespace {

bool is_compute(const TimelineData& data, const Pick& p) {
  return p.valid() && p.lane == LaneKind::Compute && !p.idle && p.device < static_cast<int>(data.devices.size()) &&
         p.index < static_cast<int>(data.devices[static_cast<size_t>(p.device)].compute.size());
}

const TimelineBox& compute_box(const TimelineData& data, const Pick& p) {
  return data.devices[static_cast<size_t>(p.device)].compute.boxes[static_cast<size_t>(p.index)];
}

// Time of a pick (its box's start), or -1.
double pick_time(const TimelineData& data, const Pick& p) {
  if (!p.valid() || p.device >= static_cast<int>(data.devices.size())) return -1;
  const Lane* lane = pick_lane(data, nullptr, p);
  if (!lane || p.index >= static_cast<int>(lane->size())) return -1;
  return lane->boxes[static_cast<size_t>(p.index)].start;
}

}  // namespace

Pick step_on_device(const TimelineData& data, const Pick& from, int dir) {
  if (!is_compute(data, from)) return {};
  const int n = static_cast<int>(data.devices[static_cast<size_t>(from.device)].compute.size());
  const int i = from.index + (dir > 0 ? 1 : -1);
  if (i < 0 || i >= n) return {};
  Pick p = from;
  p.index = i;
  return p;
}

Pick step_device(const TimelineData& data, const Pick& from, int dir) {
  const double t = pick_time(data, from);
  if (t < 0) return {};
  const int D = static_cast<int>(data.devices.size());
  for (int d = from.device + (dir > 0 ? 1 : -1); d >= 0 && d < D; d += dir > 0 ? 1 : -1) {
    const Lane& lane = data.devices[static_cast<size_t>(d)].compute;
    if (lane.empty()) continue;
    // The box covering t, else the nearest one by start.
    size_t best = 0;
    double best_d = INFINITY;
    for (size_t i = lane.first_reaching(t) > 0 ? lane.first_reaching(t) - 1 : 0; i < lane.size(); ++i) {
      const TimelineBox& b = lane.boxes[i];
      const double dist = t < b.start ? b.start - t : (t > b.end ? t - b.end : 0);
      if (dist < best_d) {
        best_d = dist;
        best = i;
      }
      if (b.start > t) break;
    }
    Pick p;
    p.side = from.side;
    p.device = d;
    p.index = static_cast<int>(best);
    return p;
  }
  return {};
}

Pick producer_of(const TimelineData& data, const Pick& from) {
  if (!is_compute(data, from)) return {};
  const TimelineBox& b = compute_box(data, from);
  Pick best;
  double best_end = -INFINITY;
  for (const ActionEdge& e : action_edges(data, b.op, b.stage, b.mb)) {
    if (!e.incoming) continue;
    const double end = data.devices[static_cast<size_t>(e.where.device)].compute.boxes[static_cast<size_t>(e.where.index)].end;
    if (end > best_end) {
      best_end = end;
      best = pick_of(from.side, e.where);
    }
  }
  return best;
}

Pick consumer_of(const TimelineData& data, const Pick& from) {
  if (!is_compute(data, from)) return {};
  const TimelineBox& b = compute_box(data, from);
  Pick best;
  double best_start = INFINITY;
  for (const ActionEdge& e : action_edges(data, b.op, b.stage, b.mb)) {
    if (e.incoming) continue;
    const double start =
        data.devices[static_cast<size_t>(e.where.device)].compute.boxes[static_cast<size_t>(e.where.index)].start;
    if (start < best_start) {
      best_start = start;
      best = pick_of(from.side, e.where);
    }
  }
  return best;
}

Pick next_match(const TimelineData& data, int side, const TimelineFilter& f, const Pick& from, int dir) {
  // Order: (start, device, index); the current pick's key is the reference.
  struct Key {
    double t;
    int d, i;
    bool operator<(const Key& o) const {
      if (t != o.t) return t < o.t;
      if (d != o.d) return d < o.d;
      return i < o.i;
    }
  };
  const bool have = is_compute(data, from);
  const Key ref = have ? Key{compute_box(data, from).start, from.device, from.index}
                       : Key{dir > 0 ? -INFINITY : INFINITY, dir > 0 ? -1 : 1 << 30, 0};
  bool found = false, found_wrap = false;
  Key best{}, wrap{};
  for (size_t d = 0; d < data.devices.size(); ++d) {
    const auto& boxes = data.devices[d].compute.boxes;
    for (size_t i = 0; i < boxes.size(); ++i) {
      if (!f.matches(boxes[i], static_cast<int>(d))) continue;
      const Key k{boxes[i].start, static_cast<int>(d), static_cast<int>(i)};
      const bool ahead = dir > 0 ? ref < k : k < ref;
      if (ahead && (!found || (dir > 0 ? k < best : best < k))) {
        best = k;
        found = true;
      }
      if (!found_wrap || (dir > 0 ? k < wrap : wrap < k)) {
        wrap = k;
        found_wrap = true;
      }
    }
  }
  if (!found && !found_wrap) return {};
  const Key k = found ? best : wrap;
  Pick p;
  p.side = side;
  p.device = k.d;
  p.index = k.i;
  return p;
}

Pick first_action_after(const TimelineData& data, int side, double t) {
  Pick best;
  double best_t = INFINITY;
  for (size_t d = 0; d < data.devices.size(); ++d) {
    const Lane& lane = data.devices[d].compute;
    for (size_t i = lane.first_reaching(t); i < lane.size(); ++i)
      if (lane.boxes[i].start >= t) {
        if (lane.boxes[i].start < best_t) {
          best_t = lane.boxes[i].start;
          best.side = side;
          best.device = static_cast<int>(d);
          best.index = static_cast<int>(i);
        }
        break;
      }
  }
  return best;
}

double RangeBreakdown::utilisation() const {
  const double total = span() * static_cast<double>(devices.size());
  return total > 0 ? busy_ms / total : 0;
}

RangeBreakdown range_breakdown(const TimelineData& data, const std::vector<Gap>* gaps, double t0, double t1) {
  RangeBreakdown r;
  if (t1 < t0) std::swap(t0, t1);
  r.t0 = t0;
  r.t1 = t1;
  r.devices.resize(data.devices.size());
  const double span = t1 - t0;
  for (size_t d = 0; d < data.devices.size(); ++d) {
    RangeDevice& rd = r.devices[d];
    const Lane& c = data.devices[d].compute;
    // Boxes may overlap (a measured F&B pair): count busy time once, by merging as we go.
    double covered_to = t0;
    for (size_t i = c.first_reaching(t0); i < c.size() && c.boxes[i].start < t1; ++i) {
      const TimelineBox& b = c.boxes[i];
      const double a = std::max({b.start, t0, covered_to}), z = std::min(b.end, t1);
      if (b.end > t0) ++rd.actions;
      if (z > a) {
        rd.busy_ms += z - a;
        covered_to = z;
      }
    }
    rd.idle_ms = std::max(0.0, span - rd.busy_ms);
    const Lane& idle = data.devices[d].idle;
    double attributed = 0;
    for (size_t i = idle.first_reaching(t0); i < idle.size() && idle.boxes[i].start < t1; ++i) {
      const TimelineBox& b = idle.boxes[i];
      const double a = std::max(b.start, t0), z = std::min(b.end, t1);
      if (z <= a) continue;
      int cause = 0;
      if (gaps && b.ref < gaps->size()) {
        // Waiting for a reload from host is data in flight, like a P2P transfer.
        const GapCause c = (*gaps)[b.ref].cause;
        cause = static_cast<int>(c == GapCause::Reload ? GapCause::Transfer : c);
      }
      rd.idle_by_cause[std::clamp(cause, 0, 2)] += z - a;
      attributed += z - a;
    }
    // Idle the lanes do not explain (a measured side has no idle lane): counted as waiting.
    if (rd.idle_ms > attributed + 1e-12) rd.idle_by_cause[0] += rd.idle_ms - attributed;
    r.busy_ms += rd.busy_ms;
    r.idle_ms += rd.idle_ms;
    for (int k = 0; k < 3; ++k) r.idle_by_cause[k] += rd.idle_by_cause[k];
    r.actions += rd.actions;
  }
  return r;
}

}  // namespace adaptis::explorer
