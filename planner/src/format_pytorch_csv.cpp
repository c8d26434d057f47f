#include "adaptis/planner/pytorch_csv.h"

#include <algorithm>
#include <cctype>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/torch_rules.h"
#include "adaptis/planner/validator.h"
#include "torch_lowering.h"

namespace adaptis {

namespace {

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

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

enum class CellKind { Compute, Send, Recv, Ignored };

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
    // Waits on an earlier send of the same stage: checked like that send, otherwise ignored.
    p.kind = CellKind::Send;
    p.forward = type.back() == 'F';
    if (digits.empty()) throw bad("missing the micro-batch number");
    p.action.stage = stage;
    p.action.mb = std::stoi(digits);
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
  auto rows = split_csv(text, origin);
  if (rows.empty()) throw InputError(origin + ": no rows; expected one row of actions per rank");
  auto where = [&](const Cell& c) {
    return origin + ": row " + std::to_string(c.row) + " (rank " + std::to_string(c.row - 1) + "), column " +
           std::to_string(c.col);
  };

  struct Comm {
    ParsedAction p;
    Cell cell;
    int rank;
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
  auto add_compute = [&](Action a, int rank, const Cell& c) {
    if (a.stage > 100000) throw InputError(where(c) + ": cell '" + c.text + "': stage index too large");
    place_stage(a.stage, rank, c);
    max_mb = std::max(max_mb, a.mb);
    schedule[rank].push_back(a);
  };

  for (size_t r = 0; r < rows.size(); ++r) {
    for (const Cell& raw : rows[r]) {
      Cell c = raw;
      c.text = trim(raw.text);
      if (c.text.empty()) continue;
      const std::string at = where(c);
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
    int peer = cm.p.kind == CellKind::Send ? (cm.p.forward ? a.stage + 1 : a.stage - 1)
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
    throw InputError(origin + ": uses micro-batch " + std::to_string(max_mb) + " but " +
                     std::to_string(plan.num_microbatches) + " micro-batches were given");
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
                       "(--partition) or the model (--costs/--model) for an even split");
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
         "(torchtitan: [activation_checkpoint]), torch.autograd.graph.save_on_cpu for offload";
}

}  // namespace adaptis
