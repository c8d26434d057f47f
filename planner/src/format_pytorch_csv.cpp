#include "adaptis/planner/pytorch_csv.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/limits.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/torch_rules.h"
#include "adaptis/planner/validator.h"
#include "text_fields.h"
#include "torch_lowering.h"

namespace adaptis {

namespace {

using text::trim;

// ---- reading ----

struct Cell {
  std::string text;
  int row = 0, col = 0;  // 1-based
};

// Splits CSV text into rows of cells (RFC 4180 quoting, CRLF or LF line ends). Trailing blank
// lines are not rows; a blank line between rows is a rank with no actions.
std::vector<std::vector<Cell>> split_csv(const std::string& text, const std::string& origin) {
  std::vector<std::vector<Cell>> rows;
  std::vector<Cell> row;
  std::string cur;
  bool quoted = false, cell_started = false;
  int r = 1, c = 1;
  auto end_cell = [&] {
    row.push_back({cur, r, c});
    cur.clear();
    cell_started = false;
    ++c;
  };
  auto end_row = [&] {
    if (!(row.empty() && !cell_started && cur.empty())) end_cell();
    rows.push_back(std::move(row));
    row.clear();
    ++r;
    c = 1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += ch;
      }
      continue;
    }
    if (ch == '"') {
      quoted = true;
      cell_started = true;
    } else if (ch == ',') {
      end_cell();
    } else if (ch == '\n') {
      end_row();
    } else if (ch == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') continue;
      end_row();
    } else {
      cur += ch;
      cell_started = true;
    }
  }
  if (quoted) throw InputError(origin + ": row " + std::to_string(r) + ": unterminated quoted cell");
  if (!row.empty() || cell_started || !cur.empty()) end_row();
  while (!rows.empty() && (rows.back().empty() || (rows.back().size() == 1 && rows.back()[0].text.find_first_not_of(" \t") == std::string::npos)))
    rows.pop_back();
  return rows;
}

// WaitSend: PyTorch's WAIT_SEND_F/B, which waits on an earlier SEND of the same stage on the same row.
enum class CellKind { Compute, Send, Recv, WaitSend, Ignored };

struct ParsedAction {
  CellKind kind = CellKind::Compute;
  Action action;     // compute: the action; send/recv: stage and mb (op F or BW for the direction)
  bool forward = true;  // send/recv direction
};

const char* kTypes[] = {"WAIT_REDUCE_GRAD", "WAIT_SEND_F", "WAIT_SEND_B", "REDUCE_GRAD", "UNSHARD", "RESHARD", "SEND_F", "RECV_F", "SEND_B", "RECV_B", "F", "I", "B", "W"};

ParsedAction parse_simple(const std::string& text, const std::string& at) {
  auto bad = [&](const std::string& why) {
    return InputError(at + ": cell '" + text + "': " + why +
                      " (expected <stage><type><microbatch> such as 2F0, 3I1, 0W5, 1B2, 2SEND_F0, or "
                      "(0F3;1I2)OVERLAP_F_B)");
  };
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) throw bad("does not start with a stage number");
  if (i > 9) throw bad("stage number too large");
  int stage = std::stoi(text.substr(0, i));
  std::string type;
  for (const char* t : kTypes) {
    size_t n = std::char_traits<char>::length(t);
    if (text.compare(i, n, t) == 0) {
      type = t;
      break;
    }
  }
  if (type.empty()) throw bad("unknown action type '" + text.substr(i) + "'");
  size_t j = i + type.size();
  std::string digits = text.substr(j);
  if (size_t k = digits.find_first_not_of("0123456789"); k != std::string::npos)
    throw bad("unexpected '" + digits.substr(k) + "' after " +
              (k == 0 ? std::string("the action type") : "micro-batch " + digits.substr(0, k)));
  if (digits.size() > 9) throw bad("micro-batch number too large");
  ParsedAction p;
  if (type == "UNSHARD" || type == "RESHARD" || type == "REDUCE_GRAD" || type == "WAIT_REDUCE_GRAD") {
    p.kind = CellKind::Ignored;
    p.action.stage = stage;
    return p;
  }
  if (digits.empty()) throw bad("missing the micro-batch number");
  int mb = std::stoi(digits);
  p.action.stage = stage;
  p.action.mb = mb;
  if (type == "WAIT_SEND_F" || type == "WAIT_SEND_B") {
    // Waits on an earlier send of the same stage: its rank is checked like that send's; it pairs
    // with no RECV.
    p.kind = CellKind::WaitSend;
    p.forward = type.back() == 'F';
    return p;
  }
  if (type == "SEND_F" || type == "SEND_B" || type == "RECV_F" || type == "RECV_B") {
    p.kind = type[0] == 'S' ? CellKind::Send : CellKind::Recv;
    p.forward = type.back() == 'F';
    return p;
  }
  p.action.op = type == "F" ? Op::F : type == "I" ? Op::B : type == "W" ? Op::W : Op::BW;
  return p;
}

struct Comm {
  ParsedAction p;
  Cell cell;
  int rank;
};

using CellWhere = std::function<std::string(const Cell&)>;

// In a compute_comms file every SEND needs its RECV on the peer's row and the other way round, and
// every input that crosses ranks needs both: a RECV that no SEND feeds waits forever in PyTorch's
// runtime. Also checks the order within a row: a RECV before the action that consumes it, a SEND
// after the action that produces it. `compute` maps (is forward, stage, mb) to the action's cell.
void check_comms_pair_up(const std::vector<Comm>& comms, const std::map<std::tuple<bool, int, int>, Cell>& compute,
                         const std::vector<int>& stage_rank, int num_microbatches, const CellWhere& where) {
  const int S = static_cast<int>(stage_rank.size());
  // A message is (forward?, producing stage, mb); its SEND and RECV cells.
  struct Ends {
    const Comm* send = nullptr;
    const Comm* recv = nullptr;
  };
  std::map<std::tuple<bool, int, int>, Ends> messages;
  auto name = [](bool fwd, bool send, int stage, int mb) {
    return std::to_string(stage) + (send ? "SEND_" : "RECV_") + (fwd ? "F" : "B") + std::to_string(mb);
  };
  for (const Comm& c : comms) {
    const bool fwd = c.p.forward, send = c.p.kind == CellKind::Send;
    const int stage = c.p.action.stage, mb = c.p.action.mb;
    const std::string at = where(c.cell) + ": cell '" + c.cell.text + "'";
    if (mb >= num_microbatches)
      throw InputError(at + ": micro-batch " + std::to_string(mb) + " does not exist (the plan has " +
                       std::to_string(num_microbatches) + ")");
    // The producer is the sender; a RECV names the receiving stage.
    const int producer = send ? stage : (fwd ? stage - 1 : stage + 1);
    Ends& e = messages[{fwd, producer, mb}];
    const Comm*& slot = send ? e.send : e.recv;
    if (slot)
      throw InputError(at + ": repeats " + where(slot->cell) + "; each message is sent and received once");
    slot = &c;
  }
  for (const auto& [key, e] : messages) {
    const auto [fwd, producer, mb] = key;
    const int consumer = fwd ? producer + 1 : producer - 1;
    if (!e.recv || !e.send) {
      const Comm& have = e.send ? *e.send : *e.recv;
      const int peer_stage = e.send ? consumer : producer;
      throw InputError(where(have.cell) + ": cell '" + have.cell.text + "' has no matching '" +
                       name(fwd, !e.send, peer_stage, mb) + "' on rank " + std::to_string(stage_rank[peer_stage]) +
                       (e.send ? " (no rank receives what it sends)" : " (nothing sends what it waits for)"));
    }
    // Order within each row: produce, then SEND; RECV, then consume.
    auto prod = compute.find({fwd, producer, mb});
    if (prod != compute.end() && prod->second.row == e.send->cell.row && prod->second.col > e.send->cell.col)
      throw InputError(where(e.send->cell) + ": cell '" + e.send->cell.text + "' sends before '" + prod->second.text +
                       "' (column " + std::to_string(prod->second.col) + ") has produced it");
    auto cons = compute.find({fwd, consumer, mb});
    if (cons != compute.end() && cons->second.row == e.recv->cell.row && cons->second.col < e.recv->cell.col)
      throw InputError(where(cons->second) + ": cell '" + cons->second.text + "' runs before '" + e.recv->cell.text +
                       "' (column " + std::to_string(e.recv->cell.col) + ") has received its input");
  }
  // Every input that crosses ranks arrives through a RECV.
  for (const auto& [key, cell] : compute) {
    const auto [fwd, stage, mb] = key;
    const int from = fwd ? stage - 1 : stage + 1;
    if (from < 0 || from >= S || stage_rank[from] == stage_rank[stage]) continue;
    if (!messages.count({fwd, from, mb}))
      throw InputError(where(cell) + ": cell '" + cell.text + "' needs " + (fwd ? "the activation" : "the gradient") +
                       " of stage " + std::to_string(from) + " from rank " + std::to_string(stage_rank[from]) +
                       ", but the file (a compute_comms CSV) has no '" + name(fwd, false, stage, mb) +
                       "' for it");
  }
}

}  // namespace

std::string pytorch_action(const Action& a) { return torch_ir::cell(torch_ir::from_action(a)); }

std::vector<std::vector<std::string>> pytorch_rows(const Plan& plan, PytorchCsvFormat format) {
  if (static_cast<int>(plan.schedule.size()) != plan.num_devices())
    throw InputError("pytorch csv: the plan's schedule has " + std::to_string(plan.schedule.size()) +
                     " device lists but its placement has " + std::to_string(plan.num_devices()) + " devices");
  const Plan runnable = prepare_for_torch(plan, "pytorch csv");
  const torch_ir::Rows actions = format == PytorchCsvFormat::ComputeComms ? torch_ir::lower_to_compute_comms(runnable)
                                                                          : torch_ir::compute_rows(runnable);
  std::vector<std::vector<std::string>> rows;
  for (const auto& list : actions) {
    std::vector<std::string> row;
    for (const auto& a : list) row.push_back(torch_ir::cell(a));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string format_pytorch_csv(const Plan& plan, PytorchCsvFormat format) {
  std::string out;
  for (const auto& row : pytorch_rows(plan, format)) {
    for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + row[i];
    out += "\n";
  }
  return out;
}

void save_pytorch_csv(const Plan& plan, const std::string& path, PytorchCsvFormat format) {
  write_text_file(path, format_pytorch_csv(plan, format));
}

Plan parse_pytorch_csv(const std::string& text, const PytorchCsvImport& opt, const std::string& origin) {
  auto rows = split_csv(without_utf8_bom(text), origin);
  if (rows.empty()) throw InputError(origin + ": no rows; expected one row of actions per rank");
  auto where = [&](const Cell& c) {
    return origin + ": row " + std::to_string(c.row) + " (rank " + std::to_string(c.row - 1) + "), column " +
           std::to_string(c.col);
  };

  std::vector<std::vector<Action>> schedule(rows.size());
  std::vector<Comm> comms;
  std::vector<int> stage_rank;
  std::vector<Cell> stage_first;  // where each stage was first seen
  int max_mb = -1;

  auto place_stage = [&](int stage, int rank, const Cell& c) {
    if (stage >= static_cast<int>(stage_rank.size())) {
      stage_rank.resize(stage + 1, -1);
      stage_first.resize(stage + 1);
    }
    if (stage_rank[stage] < 0) {
      stage_rank[stage] = rank;
      stage_first[stage] = c;
    } else if (stage_rank[stage] != rank) {
      throw InputError(where(c) + ": stage " + std::to_string(stage) + " also appears on rank " +
                       std::to_string(stage_rank[stage]) + " (row " + std::to_string(stage_first[stage].row) +
                       ", column " + std::to_string(stage_first[stage].col) +
                       "); each stage must run on exactly one rank");
    }
  };
  Cell max_mb_cell;
  size_t num_actions = 0;
  // Where each compute action is: (F or backward, stage, mb) -> cell, for the SEND/RECV checks.
  std::map<std::tuple<bool, int, int>, Cell> compute_cell;
  auto add_compute = [&](Action a, int rank, const Cell& c) {
    if (a.stage >= kMaxStages)
      throw InputError(where(c) + ": cell '" + c.text + "': stage " + std::to_string(a.stage) + " is beyond " +
                       std::to_string(kMaxStages - 1));
    if (++num_actions > static_cast<size_t>(kMaxPlanActions))
      throw InputError(where(c) + ": the file holds more than " + std::to_string(kMaxPlanActions) + " actions");
    place_stage(a.stage, rank, c);
    if (a.mb > max_mb) {
      max_mb = a.mb;
      max_mb_cell = c;
    }
    if (a.op != Op::W) compute_cell.emplace(std::make_tuple(a.op == Op::F, a.stage, a.mb), c);
    schedule[rank].push_back(a);
  };

  for (size_t r = 0; r < rows.size(); ++r) {
    for (const Cell& raw : rows[r]) {
      Cell c = raw;
      c.text = trim(raw.text);
      if (c.text.empty()) continue;
      const std::string at = where(c);
      // The longest action, "(99999F999999999;99999I999999999)OVERLAP_F_B", has 44 characters; a
      // longer cell is not one, and quoting it whole in messages would echo megabytes.
      if (c.text.size() > 64)
        throw InputError(at + ": a cell of " + std::to_string(c.text.size()) + " characters ('" + c.text.substr(0, 40) +
                         "...') is not an action");
      if (c.text[0] == '(') {
        size_t close = c.text.find(')');
        if (close == std::string::npos) throw InputError(at + ": cell '" + c.text + "': missing ')'");
        std::string type = trim(c.text.substr(close + 1));
        if (type != "OVERLAP_F_B")
          throw InputError(at + ": cell '" + c.text + "': unknown compound action type '" + type +
                           "' (only (a;b)OVERLAP_F_B is supported)");
        std::vector<std::string> subs;
        std::string inner = c.text.substr(1, close - 1), cur;
        for (char ch : inner) {
          if (ch == ';') {
            subs.push_back(trim(cur));
            cur.clear();
          } else {
            cur += ch;
          }
        }
        subs.push_back(trim(cur));
        subs.erase(std::remove(subs.begin(), subs.end(), std::string()), subs.end());
        if (subs.size() != 2)
          throw InputError(at + ": cell '" + c.text + "': OVERLAP_F_B needs exactly two sub-actions, got " +
                           std::to_string(subs.size()));
        for (size_t k = 0; k < 2; ++k) {
          ParsedAction p = parse_simple(subs[k], at);
          if (p.kind != CellKind::Compute)
            throw InputError(at + ": cell '" + c.text + "': sub-action '" + subs[k] +
                             "' of OVERLAP_F_B must be a compute action (F, I, W or B)");
          p.action.overlap_prev = k == 1;
          add_compute(p.action, static_cast<int>(r), c);
        }
        continue;
      }
      ParsedAction p = parse_simple(c.text, at);
      if (p.kind == CellKind::Compute) add_compute(p.action, static_cast<int>(r), c);
      else if (p.kind != CellKind::Ignored) comms.push_back({p, c, static_cast<int>(r)});
    }
  }

  const int S = static_cast<int>(stage_rank.size());
  if (S == 0) throw InputError(origin + ": no compute actions (F, I, W, B) in any row");
  for (int s = 0; s < S; ++s)
    if (stage_rank[s] < 0)
      throw InputError(origin + ": stage " + std::to_string(s) + " has no actions, but stages up to " +
                       std::to_string(S - 1) + " do; stages must be numbered 0.." + std::to_string(S - 1));

  // SEND names the sending stage, RECV the receiving one; both must sit on the row's rank.
  for (const Comm& cm : comms) {
    const Action& a = cm.p.action;
    const std::string at = where(cm.cell);
    int peer = cm.p.kind != CellKind::Recv ? (cm.p.forward ? a.stage + 1 : a.stage - 1)
                                           : (cm.p.forward ? a.stage - 1 : a.stage + 1);
    if (a.stage >= S || peer < 0 || peer >= S)
      throw InputError(at + ": cell '" + cm.cell.text + "': names stage " + std::to_string(a.stage) +
                       " with no peer stage " + std::to_string(peer) + " (the schedule has stages 0.." +
                       std::to_string(S - 1) + ")");
    if (stage_rank[a.stage] != cm.rank)
      throw InputError(at + ": cell '" + cm.cell.text + "': stage " + std::to_string(a.stage) + " runs on rank " +
                       std::to_string(stage_rank[a.stage]) + ", not on this row's rank " + std::to_string(cm.rank));
  }

  Plan plan;
  plan.name = opt.name;
  plan.num_microbatches = opt.num_microbatches > 0 ? opt.num_microbatches : max_mb + 1;
  if (max_mb >= plan.num_microbatches)
    throw InputError(where(max_mb_cell) + ": cell '" + max_mb_cell.text + "' uses micro-batch " +
                     std::to_string(max_mb) + " but " + std::to_string(plan.num_microbatches) +
                     " micro-batches were given");
  // Every stage runs one F per micro-batch, so the file itself bounds the micro-batch count: check
  // it before anything is sized by it (one cell "0F1000000" must not allocate a million of anything).
  {
    std::vector<long long> forwards(S, 0);
    for (const auto& [key, cell] : compute_cell)
      if (std::get<0>(key)) ++forwards[std::get<1>(key)];
    for (int s = 0; s < S; ++s) {
      if (forwards[s] >= plan.num_microbatches) continue;
      int missing = 0;
      while (compute_cell.count({true, s, missing})) ++missing;
      throw InputError((opt.num_microbatches > 0
                            ? origin + ": " + std::to_string(plan.num_microbatches) + " micro-batches were given"
                            : where(max_mb_cell) + ": cell '" + max_mb_cell.text + "' uses micro-batch " +
                                  std::to_string(max_mb)) +
                       ", but stage " + std::to_string(s) + " has no forward (F) for micro-batch " +
                       std::to_string(missing) + " (the file has F actions for " + std::to_string(forwards[s]) +
                       " of its " + std::to_string(plan.num_microbatches) +
                       " micro-batches); every stage needs one F per micro-batch, numbered from 0");
    }
  }
  std::vector<Comm> paired;
  for (const Comm& cm : comms)
    if (cm.p.kind != CellKind::WaitSend) paired.push_back(cm);
  if (!paired.empty()) check_comms_pair_up(paired, compute_cell, stage_rank, plan.num_microbatches, where);
  plan.placement.device_stages.assign(rows.size(), {});
  for (int s = 0; s < S; ++s) plan.placement.device_stages[stage_rank[s]].push_back(s);
  if (!opt.partition.empty()) {
    if (static_cast<int>(opt.partition.size()) != S)
      throw InputError(origin + ": the schedule has " + std::to_string(S) + " stages but the partition gives " +
                       std::to_string(opt.partition.size()) + " (layers per stage)");
    plan.partition = Partition::from_sizes(opt.partition);
  } else {
    if (opt.num_layers < 0)
      throw InputError(origin + ": a PyTorch CSV does not say which layers each stage holds; give the partition "
                       "or the model (costs or a model spec) for an even split");
    if (opt.num_layers < S)
      throw InputError(origin + ": the schedule has " + std::to_string(S) + " stages but the model has only " +
                       std::to_string(opt.num_layers) + " layers; every stage needs at least one");
    plan.partition = even_partition(opt.num_layers, S);
  }
  plan.schedule = std::move(schedule);
  require_valid_plan(plan, opt.num_layers, origin);
  return plan;
}

Plan load_pytorch_csv(const std::string& path, const PytorchCsvImport& opt) {
  return parse_pytorch_csv(read_text_file(path), opt, path);
}

std::string pytorch_csv_memory_note(const Plan& plan) {
  if (!has_memory_policy(plan)) return "";
  return "the PyTorch schedule CSV has no recompute (R) or offload actions: R actions were left out (PyTorch "
         "recomputes inside the backward of a checkpointed stage) and the per-stage memory policies (" +
         describe_memory(plan.memory) +
         ") must be applied when building each stage's module: torch.utils.checkpoint around the recomputed layers "
         "(torchtitan: [activation_checkpoint]), torch.autograd.graph.save_on_cpu for offload" +
         (plan.units.empty() ? std::string()
                             : std::string("; per-unit checkpointing applies to the listed units only: checkpoint a "
                                           "stage's forward for those micro-batches (the unit order file gives "
                                           "which is which) and run the others plainly"));
}

}  // namespace adaptis
