#include "adaptis/planner/octopipe_plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/limits.h"
#include "adaptis/planner/validator.h"
#include "text_fields.h"

namespace adaptis {

namespace {

namespace fs = std::filesystem;
using text::split;
using text::trim;

char type_letter(Op op) {
  switch (op) {
    case Op::F: return 'f';
    case Op::B:
    case Op::BW: return 'b';
    case Op::W: return 'w';
    case Op::R: return 'r';  // not exported (timed_rows skips R): the format has no recompute type
  }
  return '?';
}

// Times in the export unit, rounded to 1/1000 of it; integers print without a decimal point.
std::string format_time(double ms, double unit_ms) {
  double v = std::round(ms / unit_ms * 1000.0) / 1000.0;
  if (v == std::floor(v) && std::fabs(v) < 9e15) return std::to_string(static_cast<long long>(v));
  std::ostringstream os;
  os.precision(3);
  os << std::fixed << v;
  std::string s = os.str();
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

struct Row {
  char type;
  int mid, sid, did;
  double start, end;
  size_t pos;  // position in its device's list (orders ties)
};

// Every action with its times, sorted by start time (ties: device, then position on the device).
std::vector<Row> timed_rows(const Plan& plan, const SimResult& sim) {
  if (!sim.ok) throw InputError("octopipe export: the plan deadlocks, so there are no start times:\n" + sim.error);
  std::vector<Row> rows;
  for (size_t d = 0; d < sim.timeline.size(); ++d)
    for (size_t i = 0; i < sim.timeline[d].size(); ++i) {
      const TimedAction& ta = sim.timeline[d][i];
      if (ta.action.op == Op::R) continue;  // no recompute type in the OctoPipe plan format
      rows.push_back({type_letter(ta.action.op), ta.action.mb, ta.action.stage, static_cast<int>(d), ta.start, ta.end, i});
    }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.start != b.start) return a.start < b.start;
    if (a.did != b.did) return a.did < b.did;
    return a.pos < b.pos;
  });
  return rows;
}

std::string has_overlap_note(const Plan& plan) {
  for (const auto& list : plan.schedule)
    for (const auto& a : list)
      if (a.overlap_prev)
        return "# note: overlapped F&B pairs (DualPipe) are written as consecutive actions; OctoPipe has no pairs\n";
  return "";
}

// ---- reading ----

struct Entry {
  Op op;  // F, W, or BW for every b until pairing decides B
  int mid, sid, did;  // did = -1 when the line does not say
  double start, end;
  int line;
};

std::string strip_comment(const std::string& line) {
  bool in_single = false, in_double = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\'' && !in_double) in_single = !in_single;
    else if (c == '"' && !in_single) in_double = !in_double;
    else if (c == '#' && !in_single && !in_double) return line.substr(0, i);
  }
  return line;
}

int parse_int_field(const std::string& tok, const std::string& what, const std::string& at) {
  std::string t = trim(tok);
  if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos)
    throw InputError(at + ": " + what + " " + quoted_excerpt(t) + " must be a non-negative integer");
  return std::stoi(t);
}

double parse_time_field(const std::string& tok, const std::string& what, const std::string& at) {
  std::string t = trim(tok);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(t, &used);
  } catch (...) {
    used = 0;
  }
  if (t.empty() || used != t.size() || !std::isfinite(v))
    throw InputError(at + ": " + what + " " + quoted_excerpt(t) + " must be a number");
  return v;
}

Op parse_type(const std::string& tok, const std::string& at) {
  std::string t = trim(tok);
  if (t.size() >= 2 && (t.front() == '\'' || t.front() == '"') && t.back() == t.front()) t = t.substr(1, t.size() - 2);
  if (t == "f" || t == "F") return Op::F;
  if (t == "b" || t == "B") return Op::BW;
  if (t == "w" || t == "W") return Op::W;
  if (t == "r" || t == "R")
    throw InputError(at + ": workload type 'r' (recomputation) is not supported by adaptis plans");
  throw InputError(at + ": unknown workload type " + quoted_excerpt(t) + " (expected f, b or w)");
}

std::vector<int> parse_int_list(const std::string& text, const std::string& at) {
  nlohmann::json j = parse_json_text(text, at);
  if (!j.is_array()) throw InputError(at + ": expected a list of integers like [2, 3, 4], got " + describe_json(j));
  if (j.size() > static_cast<size_t>(kMaxStages))
    throw InputError(at + ": lists " + std::to_string(j.size()) + " stages; at most " + std::to_string(kMaxStages));
  std::vector<int> out;
  for (size_t k = 0; k < j.size(); ++k)
    out.push_back(json_value_int_in(j[k], 0, kMaxLayers, at + "[" + std::to_string(k) + "]"));
  return out;
}

Placement parse_placement_list(const std::string& text, const std::string& at) {
  nlohmann::json j = parse_json_text(text, at);
  if (!j.is_array())
    throw InputError(at + ": expected a list of stage lists like [[0, 2], [1, 3]], got " + describe_json(j));
  if (j.size() > static_cast<size_t>(kMaxDevices))
    throw InputError(at + ": lists " + std::to_string(j.size()) + " devices; at most " + std::to_string(kMaxDevices));
  Placement pl;
  for (size_t d = 0; d < j.size(); ++d) {
    const std::string where = at + ": placement[" + std::to_string(d) + "]";
    if (!j[d].is_array()) throw InputError(where + ": must be a list of stage ids, got " + describe_json(j[d]));
    std::vector<int> stages;
    for (size_t k = 0; k < j[d].size(); ++k)
      stages.push_back(json_value_int_in(j[d][k], 0, kMaxStages - 1, where + "[" + std::to_string(k) + "] (a stage id)"));
    pl.device_stages.push_back(std::move(stages));
  }
  return pl;
}

// Entries + (optional) partition and placement -> validated plan.
Plan build_from_entries(std::vector<Entry> entries, std::vector<int> partition, Placement placement,
                        const OctopipeImport& opt, const std::string& origin) {
  if (entries.empty()) throw InputError(origin + ": no scheduled actions");
  if (!opt.partition.empty()) partition = opt.partition;
  if (!opt.placement.device_stages.empty()) placement = opt.placement;
  auto at = [&](const Entry& e) { return origin + ":" + std::to_string(e.line); };
  // Ids are bounded by the file before anything is sized by them: every stage and every device
  // runs at least one action, and every stage one F per micro-batch (numbered from 0).
  const Entry* top_sid = &entries[0];
  const Entry* top_mid = &entries[0];
  const Entry* top_did = &entries[0];
  for (const auto& e : entries) {
    if (e.sid > top_sid->sid) top_sid = &e;
    if (e.mid > top_mid->mid) top_mid = &e;
    if (e.did > top_did->did) top_did = &e;
  }
  const long long n = static_cast<long long>(entries.size());
  // With a partition the stage count is known (an id beyond it is reported per line below).
  if (partition.empty() && (top_sid->sid >= n || top_sid->sid >= kMaxStages))
    throw InputError(at(*top_sid) + ": stage " + std::to_string(top_sid->sid) + " but the file has only " +
                     std::to_string(n) + " actions; stages are numbered 0, 1, ... and each runs actions");
  const int max_sid = top_sid->sid, max_mid = top_mid->mid;
  const int S = partition.empty() ? max_sid + 1 : static_cast<int>(partition.size());
  // Every stage runs one F per micro-batch: the micro-batch count the ids imply must be backed.
  auto check_micro_batches = [&] {
    std::map<int, std::vector<int>> forward_mids;  // stage -> mids of its F entries
    for (const auto& e : entries)
      if (e.op == Op::F) forward_mids[e.sid].push_back(e.mid);
    for (int s = 0; s < S; ++s) {
      std::vector<int>& mids = forward_mids[s];
      std::sort(mids.begin(), mids.end());
      mids.erase(std::unique(mids.begin(), mids.end()), mids.end());
      if (static_cast<long long>(mids.size()) > max_mid) continue;
      int missing = 0;
      while (missing < static_cast<int>(mids.size()) && mids[missing] == missing) ++missing;
      throw InputError(at(*top_mid) + ": micro-batch " + std::to_string(max_mid) + ", but stage " + std::to_string(s) +
                       " has no forward (f) for micro-batch " + std::to_string(missing) + " (f entries for " +
                       std::to_string(mids.size()) + " of " + std::to_string(max_mid + 1) +
                       " micro-batches); every stage needs one f per micro-batch, numbered from 0");
    }
  };

  if (placement.device_stages.empty()) {
    // Device ids on every line give the placement; else fall back to a looped one.
    bool all_did = std::all_of(entries.begin(), entries.end(), [](const Entry& e) { return e.did >= 0; });
    if (all_did) {
      if (top_did->did >= n || top_did->did >= kMaxDevices)
        throw InputError(at(*top_did) + ": device " + std::to_string(top_did->did) + " but the file has only " +
                         std::to_string(n) + " actions; devices are numbered 0, 1, ... and each runs actions");
      std::vector<int> dev(S, -1);
      int D = 0;
      for (const auto& e : entries) {
        if (e.sid >= S) continue;  // reported below
        if (dev[e.sid] >= 0 && dev[e.sid] != e.did)
          throw InputError(at(e) + ": stage " + std::to_string(e.sid) + " runs on device " + std::to_string(e.did) +
                           " here but on device " + std::to_string(dev[e.sid]) + " earlier");
        dev[e.sid] = e.did;
        D = std::max(D, e.did + 1);
      }
      placement.device_stages.assign(D, {});
      for (int s = 0; s < S; ++s)
        if (dev[s] >= 0) placement.device_stages[dev[s]].push_back(s);
    } else if (opt.devices > 0) {
      if (S % opt.devices != 0)
        throw InputError(origin + ": " + std::to_string(S) + " stages do not spread evenly over " +
                         std::to_string(opt.devices) + " devices; give the placement (placement.txt or the placement option)");
      placement = looped_placement(opt.devices, S / opt.devices);
    } else {
      throw InputError(origin + ": no placement: the file has no device ids; put placement.txt beside it or give "
                       "the placement (or the device count for a looped placement)");
    }
  }
  const std::vector<int> stage_dev = placement.stage_device();
  for (const auto& e : entries) {
    if (e.sid >= S)
      throw InputError(at(e) + ": stage " + std::to_string(e.sid) + " does not exist (the partition has " +
                       std::to_string(S) + " stages)");
    if (e.sid >= static_cast<int>(stage_dev.size()) || stage_dev[e.sid] < 0)
      throw InputError(at(e) + ": stage " + std::to_string(e.sid) + " is on no device of the placement");
    if (e.did >= 0 && e.did != stage_dev[e.sid])
      throw InputError(at(e) + ": says device " + std::to_string(e.did) + " but the placement puts stage " +
                       std::to_string(e.sid) + " on device " + std::to_string(stage_dev[e.sid]));
    if (e.end < e.start)
      throw InputError(at(e) + ": ends (" + std::to_string(e.end) + ") before it starts (" + std::to_string(e.start) + ")");
  }

  check_micro_batches();
  Plan plan;
  plan.name = opt.name;
  plan.num_microbatches = max_mid + 1;
  plan.placement = placement;
  if (!partition.empty()) {
    plan.partition = Partition::from_sizes(partition);
  } else {
    if (opt.num_layers < 0)
      throw InputError(origin + ": no partition; put partition.txt beside it, give the partition, or give "
                       "the model (costs or a model spec) for an even split");
    plan.partition = even_partition(opt.num_layers, S);
  }
  // A b with a matching w is an input-gradient backward; alone it is the full backward.
  std::map<std::pair<int, int>, int> has_w;
  for (const auto& e : entries)
    if (e.op == Op::W) ++has_w[{e.sid, e.mid}];
  for (auto& e : entries)
    if (e.op == Op::BW && has_w.count({e.sid, e.mid})) e.op = Op::B;
  // Each device runs its actions in start-time order; ties keep file order.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.start < b.start; });
  plan.schedule.assign(placement.num_devices(), {});
  for (const auto& e : entries) plan.schedule[stage_dev[e.sid]].push_back(Action{e.op, e.sid, e.mid, false});
  require_valid_plan(plan, opt.num_layers, origin);
  return plan;
}

}  // namespace

std::string format_octopipe_partition_txt(const Plan& plan) {
  std::string out = "[";
  for (int s = 0; s < plan.num_stages(); ++s) out += (s ? ", " : "") + std::to_string(plan.partition.stage_size(s));
  return out + "]";
}

std::string format_octopipe_placement_txt(const Plan& plan) {
  std::string out = "[";
  for (int d = 0; d < plan.num_devices(); ++d) {
    out += d ? ", [" : "[";
    const auto& st = plan.placement.device_stages[d];
    for (size_t k = 0; k < st.size(); ++k) out += (k ? ", " : "") + std::to_string(st[k]);
    out += "]";
  }
  return out + "]";
}

std::string format_octopipe_yaml(const Plan& plan, const SimResult& sim, const OctopipeExport& opt) {
  std::vector<Row> rows = timed_rows(plan, sim);
  std::ostringstream os;
  os << "# OctoPipe plan exported by adaptis from plan '" << plan.name << "': " << plan.num_devices() << " devices, "
     << plan.num_stages() << " stages, " << plan.num_microbatches << " micro-batches\n";
  os << "# times in units of " << opt.time_unit_ms << " ms; simulated iteration " << sim.iteration_ms << " ms\n";
  os << has_overlap_note(plan);
  os << "schedule: octopipe\n";
  os << "partition: " << format_octopipe_partition_txt(plan) << "\n";
  os << "placement: " << format_octopipe_placement_txt(plan) << "\n";
  os << "scheduling:  # (workload_type, mid, sid, did, start_time, end_time)\n";
  for (const Row& r : rows)
    os << "- (" << r.type << ", " << r.mid << ", " << r.sid << ", " << r.did << ", "
       << format_time(r.start, opt.time_unit_ms) << ", " << format_time(r.end, opt.time_unit_ms) << ")\n";
  return os.str();
}

std::string format_octopipe_result_txt(const Plan& plan, const SimResult& sim, const OctopipeExport& opt) {
  std::ostringstream os;
  for (const Row& r : timed_rows(plan, sim))
    os << r.type << "_" << r.mid << "_" << r.sid << "," << format_time(r.start, opt.time_unit_ms) << ","
       << format_time(r.end, opt.time_unit_ms) << "\n";
  return os.str();
}

void save_octopipe_yaml(const Plan& plan, const SimResult& sim, const std::string& path, const OctopipeExport& opt) {
  write_text_file(path, format_octopipe_yaml(plan, sim, opt));
}

void save_octopipe_legacy(const Plan& plan, const SimResult& sim, const std::string& dir, const OctopipeExport& opt) {
  std::string result = format_octopipe_result_txt(plan, sim, opt);  // throws before creating anything
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError(dir + ": cannot create directory: " + ec.message());
  write_text_file((fs::path(dir) / "partition.txt").string(), format_octopipe_partition_txt(plan) + "\n");
  write_text_file((fs::path(dir) / "placement.txt").string(), format_octopipe_placement_txt(plan) + "\n");
  write_text_file((fs::path(dir) / "result.txt").string(), result);
}

Plan parse_octopipe_yaml(const std::string& text, const OctopipeImport& opt, const std::string& origin) {
  std::vector<std::string> lines;
  {
    std::istringstream is(without_utf8_bom(text));
    std::string l;
    while (std::getline(is, l)) lines.push_back(l);
  }
  std::vector<int> partition;
  Placement placement;
  bool have_partition = false, have_placement = false, have_scheduling = false;
  std::vector<Entry> entries;
  std::string key;  // the top-level key whose block we are in
  for (size_t i = 0; i < lines.size(); ++i) {
    const int lineno = static_cast<int>(i) + 1;
    const std::string at = origin + ":" + std::to_string(lineno);
    std::string line = strip_comment(lines[i]);
    if (trim(line).empty()) continue;
    bool top = !std::isspace(static_cast<unsigned char>(line[0])) && line[0] != '-';
    if (top) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) throw InputError(at + ": expected 'key: value'");
      key = trim(line.substr(0, colon));
      std::string value = trim(line.substr(colon + 1));
      if (key == "partition" || key == "placement") {
        // A flow list may continue over several lines until its brackets balance.
        auto depth = [](const std::string& s) {
          long d = 0;
          for (char c : s) d += c == '[' ? 1 : c == ']' ? -1 : 0;
          return d;
        };
        long open = depth(value);  // counted per line: re-counting the whole value would be quadratic
        while (open > 0 && i + 1 < lines.size()) {
          std::string more = trim(strip_comment(lines[++i]));
          open += depth(more);
          value += ' ';
          value += more;
        }
        if (key == "partition") {
          partition = parse_int_list(value, at + ": partition");
          have_partition = true;
        } else {
          placement = parse_placement_list(value, at + ": placement");
          have_placement = true;
        }
      } else if (key == "scheduling") {
        have_scheduling = true;
        if (!value.empty() && value != "[]") throw InputError(at + ": 'scheduling:' must be followed by '- (...)' lines");
      }
      continue;
    }
    if (key != "scheduling") continue;  // items of keys we do not use (stage_layers, ...)
    std::string item = trim(line);
    if (item.empty() || item[0] != '-') throw InputError(at + ": expected a '- (type, mid, sid, did, start, end)' item");
    item = trim(item.substr(1));
    if (item.size() >= 2 && (item.front() == '"' || item.front() == '\'') && item.back() == item.front())
      item = trim(item.substr(1, item.size() - 2));
    if (item.size() < 2 || (item.front() != '(' && item.front() != '[') || (item.back() != ')' && item.back() != ']'))
      throw InputError(at + ": scheduling item " + quoted_excerpt(item) + " must look like (f, 0, 0, 0, 0, 695)");
    std::vector<std::string> f = split(item.substr(1, item.size() - 2), ',');
    if (f.size() != 6)
      throw InputError(at + ": scheduling item has " + std::to_string(f.size()) +
                       " fields; expected 6: (type, mid, sid, did, start, end)");
    Entry e;
    e.op = parse_type(f[0], at);
    e.mid = parse_int_field(f[1], "mid", at);
    e.sid = parse_int_field(f[2], "sid", at);
    e.did = parse_int_field(f[3], "did", at);
    e.start = parse_time_field(f[4], "start time", at);
    e.end = parse_time_field(f[5], "end time", at);
    e.line = lineno;
    if (entries.size() >= static_cast<size_t>(kMaxPlanActions))
      throw InputError(at + ": the file holds more than " + std::to_string(kMaxPlanActions) + " actions");
    entries.push_back(e);
  }
  if (!have_scheduling) throw InputError(origin + ": no 'scheduling:' section; is this an OctoPipe plan?");
  if (!have_partition && opt.partition.empty() && opt.num_layers < 0)
    throw InputError(origin + ": no 'partition:' line");
  (void)have_placement;
  return build_from_entries(std::move(entries), std::move(partition), std::move(placement), opt, origin);
}

Plan parse_octopipe_result_txt(const std::string& text, const OctopipeImport& opt, const std::string& origin) {
  std::istringstream is(without_utf8_bom(text));
  std::string raw;
  std::vector<Entry> entries;
  int lineno = 0;
  while (std::getline(is, raw)) {
    ++lineno;
    const std::string at = origin + ":" + std::to_string(lineno);
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = split(line, ',');
    if (f.size() != 3) throw InputError(at + ": expected '<type>_<mid>_<sid>,<start>,<end>', got " + quoted_excerpt(line));
    std::vector<std::string> tok = split(trim(f[0]), '_');
    if (tok.size() != 3 && tok.size() != 4)
      throw InputError(at + ": action " + quoted_excerpt(trim(f[0])) + " must be <type>_<mid>_<sid> or <type>_<mid>_<sid>_<did>");
    Entry e;
    e.op = parse_type(tok[0], at);
    e.mid = parse_int_field(tok[1], "mid", at);
    e.sid = parse_int_field(tok[2], "sid", at);
    e.did = tok.size() == 4 ? parse_int_field(tok[3], "did", at) : -1;
    e.start = parse_time_field(f[1], "start time", at);
    e.end = parse_time_field(f[2], "end time", at);
    e.line = lineno;
    if (entries.size() >= static_cast<size_t>(kMaxPlanActions))
      throw InputError(at + ": the file holds more than " + std::to_string(kMaxPlanActions) + " actions");
    entries.push_back(e);
  }
  return build_from_entries(std::move(entries), {}, {}, opt, origin);
}

Plan load_octopipe_plan(const std::string& path, const OctopipeImport& opt) {
  std::error_code ec;
  fs::path p(path);
  fs::path result = p;
  if (fs::is_directory(p, ec)) result = p / "result.txt";
  if (fs::is_directory(p, ec) || p.extension() == ".txt") {
    OctopipeImport o = opt;
    fs::path dir = result.parent_path();
    fs::path part = dir / "partition.txt", place = dir / "placement.txt";
    if (o.partition.empty() && fs::exists(part, ec))
      o.partition = parse_int_list(read_text_file(part.string()), part.string());
    if (o.placement.device_stages.empty() && fs::exists(place, ec))
      o.placement = parse_placement_list(read_text_file(place.string()), place.string());
    return parse_octopipe_result_txt(read_text_file(result.string()), o, result.string());
  }
  return parse_octopipe_yaml(read_text_file(path), opt, path);
}

}  // namespace adaptis
