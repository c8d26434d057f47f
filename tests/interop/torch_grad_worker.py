"""One rank of a gloo world that runs exported adaptis schedules in PyTorch's pipelining runtime.

For every case of the manifest (all cases of one world size) this rank builds the stages the
schedule CSV puts on it, loads the CSV into torch.distributed.pipelining's _PipelineScheduleRuntime
(the runtime torchtitan uses for `pipeline_parallel_schedule_csv`), runs one step() and compares the
gradients of its stages with a single-process run of the same model on the same micro-batches
(float64, scale_grads=False: both are the sum over micro-batches of each micro-batch's gradient).

Two model kinds:
  plain       one Linear+tanh block per adaptis layer; stage s holds the layers of the plan's
              partition (the layers follow the plan exactly);
  torchtitan  a torchtitan-style LLM (tok_embeddings, layers.<i>, norm, output) split by the
              TOML's module_fqns_per_model_part, stages assigned to ranks the way torchtitan
              assigns them (looped, or V for the V schedules), micro-batch count from the TOML.

Writes one JSON line per case to --out: {"case", "rank", "ok", "max_abs_diff", "error"}; a line
{"case", "rank", "started": true} is written before a case starts so the driver can name a case
that hung or crashed. Exits 3 at the first case that raises (the world is then unusable).
"""

import argparse
import copy
import csv
import datetime
import json
import os
import sys
import traceback

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed.pipelining import PipelineStage
from torch.distributed.pipelining.schedules import (
    ScheduleDualPipeV,
    ScheduleZBVZeroBubble,
    _Action,
    _PipelineScheduleRuntime,
    get_schedule_class,
)

DTYPE = torch.float64
HIDDEN = 6
MB_SIZE = 2
SEQ = 3
VOCAB = 11
TOLERANCE = 1e-6


def csv_stage_ranks(path):
    """Stage -> rank as PyTorch infers it: the row its actions appear in."""
    ranks = {}
    with open(path, newline="") as f:
        for rank, row in enumerate(csv.reader(f)):
            for cell in row:
                a = _Action.from_str(cell)
                if a is None:
                    continue
                for sub in a.sub_actions or (a,):
                    ranks.setdefault(sub.stage_index, rank)
    return ranks


# ---- plain model: the plan's layers as tiny blocks ----------------------------------------------


class Block(nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.lin = nn.Linear(HIDDEN, HIDDEN, dtype=DTYPE)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(HIDDEN, HIDDEN, generator=gen, dtype=DTYPE) * 0.5)
            self.lin.bias.copy_(torch.randn(HIDDEN, generator=gen, dtype=DTYPE) * 0.1)

    def forward(self, x):
        return torch.tanh(self.lin(x)) + 0.5 * x


def plain_loss(out, target):
    return ((out - target) ** 2).sum()


def run_plain(case, rank, world, group):
    bounds = [0]
    for n in case["partition"]:
        bounds.append(bounds[-1] + n)
    num_layers, num_stages, m = bounds[-1], len(case["partition"]), case["microbatches"]
    gen = torch.Generator().manual_seed(case["seed"])
    layers = [Block(gen) for _ in range(num_layers)]
    xs = [torch.randn(MB_SIZE, HIDDEN, generator=gen, dtype=DTYPE) for _ in range(m)]
    ys = [torch.randn(MB_SIZE, HIDDEN, generator=gen, dtype=DTYPE) for _ in range(m)]

    # Single-process reference: the sum over micro-batches of each micro-batch's loss.
    ref = nn.Sequential(*copy.deepcopy(layers))
    total = sum(plain_loss(ref(x), y) for x, y in zip(xs, ys))
    total.backward()

    stage_rank = csv_stage_ranks(case["csv"])
    mine = sorted(s for s, r in stage_rank.items() if r == rank)
    # Static metadata (no shape inference over the wire). It must say which tensors require grad,
    # as the real activations do: a stage whose input is marked otherwise sends no input gradient,
    # and gloo then pairs its peer's receive with the next unrelated message.
    example_first = torch.zeros(MB_SIZE, HIDDEN, dtype=DTYPE)
    example_act = torch.zeros(MB_SIZE, HIDDEN, dtype=DTYPE, requires_grad=True)
    stages, submods = [], {}
    for s in mine:
        sub = nn.Sequential(*copy.deepcopy(layers[bounds[s] : bounds[s + 1]]))
        submods[s] = sub
        stages.append(
            PipelineStage(sub, s, num_stages, torch.device("cpu"), input_args=example_first if s == 0 else example_act,
                          output_args=example_act, group=group)
        )
    schedule = _PipelineScheduleRuntime(stages, n_microbatches=m, loss_fn=plain_loss, scale_grads=False)
    schedule._load_csv(case["csv"], format=case["format"])
    schedule.step(arg_mbs=[(x,) for x in xs], target_mbs=list(ys))

    worst = 0.0
    for s, sub in submods.items():
        for k, layer in enumerate(sub):
            want = ref[bounds[s] + k]
            for (name, p), (_, q) in zip(layer.named_parameters(), want.named_parameters()):
                if p.grad is None:
                    raise AssertionError(f"stage {s} layer {bounds[s] + k} {name}: no gradient")
                worst = max(worst, (p.grad - q.grad).abs().max().item())
    return worst, len(mine)


# ---- torchtitan-style model ---------------------------------------------------------------------


class TitanLike(nn.Module):
    """The module names torchtitan's pipeline split works with; tolerates deleted parts."""

    def __init__(self, n_layers, gen):
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, HIDDEN, dtype=DTYPE)
        self.layers = nn.ModuleDict({str(i): Block(gen) for i in range(n_layers)})
        self.norm = nn.LayerNorm(HIDDEN, dtype=DTYPE)
        self.output = nn.Linear(HIDDEN, VOCAB, dtype=DTYPE)
        with torch.no_grad():
            self.tok_embeddings.weight.copy_(torch.randn(VOCAB, HIDDEN, generator=gen, dtype=DTYPE))
            self.norm.weight.copy_(1 + 0.1 * torch.randn(HIDDEN, generator=gen, dtype=DTYPE))
            self.output.weight.copy_(torch.randn(VOCAB, HIDDEN, generator=gen, dtype=DTYPE) * 0.5)
            self.output.bias.copy_(torch.randn(VOCAB, generator=gen, dtype=DTYPE) * 0.1)
            self.norm.bias.copy_(0.1 * torch.randn(HIDDEN, generator=gen, dtype=DTYPE))

    def forward(self, h):
        if self.tok_embeddings is not None:
            h = self.tok_embeddings(h)
        for layer in self.layers.values():
            h = layer(h)
        if self.norm is not None:
            h = self.norm(h)
        if self.output is not None:
            h = self.output(h)
        return h


def titan_loss(logits, target):
    return F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum")


def keep_only(model, names):
    """torchtitan's split: keep the listed modules, drop the other layers, None the other parts."""
    part = copy.deepcopy(model)
    keep = set(names)
    for key in list(part.layers.keys()):
        if f"layers.{key}" not in keep:
            del part.layers[key]
    for attr in ("tok_embeddings", "norm", "output"):
        if attr not in keep:
            setattr(part, attr, None)
    return part


def torchtitan_stage_ids(schedule_name, rank, degree, num_stages):
    """The stages torchtitan builds on a rank: looped, or V for the V schedules."""
    style = "v" if get_schedule_class(schedule_name) in (ScheduleZBVZeroBubble, ScheduleDualPipeV) else "loop"
    if num_stages % degree:
        raise AssertionError(f"{num_stages} stages are not divisible by pipeline_parallel_degree {degree}")
    per_rank = num_stages // degree
    if style == "loop":
        return [rank + k * degree for k in range(per_rank)]
    if per_rank != 2:
        raise AssertionError(f"V schedules need 2 stages per rank, got {per_rank}")
    return [rank, num_stages - 1 - rank]


def run_torchtitan(case, rank, world, group):
    with open(case["toml"], "rb") as f:
        cfg = tomllib.load(f)
    par, training = cfg["parallelism"], cfg["training"]
    if par["pipeline_parallel_degree"] != world:
        raise AssertionError(f"pipeline_parallel_degree {par['pipeline_parallel_degree']} != world {world}")
    m = training["local_batch_size"] // par["pipeline_parallel_microbatch_size"]
    fqns = par["module_fqns_per_model_part"]
    num_stages = len(fqns)
    layer_ids = [int(n.split(".")[1]) for stage in fqns for n in stage if n.startswith("layers.")]
    if layer_ids != list(range(len(layer_ids))):
        raise AssertionError(f"module_fqns_per_model_part does not list layers.0.. in order: {layer_ids}")
    csv_path = par["pipeline_parallel_schedule_csv"]
    mine = torchtitan_stage_ids(par["pipeline_parallel_schedule"], rank, world, num_stages)
    inferred = csv_stage_ranks(csv_path)
    for s in mine:
        if inferred.get(s) != rank:
            raise AssertionError(f"torchtitan builds stage {s} on rank {rank} but the CSV runs it on {inferred.get(s)}")

    gen = torch.Generator().manual_seed(case["seed"])
    model = TitanLike(len(layer_ids), gen)
    toks = [torch.randint(0, VOCAB, (MB_SIZE, SEQ), generator=gen) for _ in range(m)]
    tgts = [torch.randint(0, VOCAB, (MB_SIZE, SEQ), generator=gen) for _ in range(m)]
    ref = copy.deepcopy(model)
    sum(titan_loss(ref(t), y) for t, y in zip(toks, tgts)).backward()
    ref_grads = {n: p.grad for n, p in ref.named_parameters()}

    hidden = torch.zeros(MB_SIZE, SEQ, HIDDEN, dtype=DTYPE, requires_grad=True)
    stages, parts = [], []
    for s in sorted(mine):
        part = keep_only(model, fqns[s])
        inp = torch.zeros(MB_SIZE, SEQ, dtype=torch.long) if s == 0 else hidden
        shape = (MB_SIZE, SEQ, VOCAB) if s == num_stages - 1 else (MB_SIZE, SEQ, HIDDEN)
        out = torch.zeros(*shape, dtype=DTYPE, requires_grad=True)
        stages.append(PipelineStage(part, s, num_stages, torch.device("cpu"), input_args=inp, output_args=out, group=group))
        parts.append(part)
    schedule = _PipelineScheduleRuntime(stages, n_microbatches=m, loss_fn=titan_loss, scale_grads=False)
    schedule._load_csv(csv_path)
    schedule.step(arg_mbs=[(t,) for t in toks], target_mbs=list(tgts))
    worst = 0.0
    for part in parts:
        for name, p in part.named_parameters():
            if p.grad is None:
                raise AssertionError(f"{name}: no gradient")
            worst = max(worst, (p.grad - ref_grads[name]).abs().max().item())
    return worst, len(mine)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--rank", type=int, required=True)
    ap.add_argument("--world", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout-s", type=float, default=120)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with open(args.manifest) as f:
        cases = json.load(f)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{args.port}",
        rank=args.rank,
        world_size=args.world,
        timeout=datetime.timedelta(seconds=args.timeout_s),
    )
    group = dist.group.WORLD
    with open(args.out, "a") as out:
        for case in cases:
            out.write(json.dumps({"case": case["name"], "rank": args.rank, "started": True}) + "\n")
            out.flush()
            # Every parameter comes from the case's generator; the global RNG is seeded too so that
            # nothing a rank did before can make its model differ from its peers'.
            torch.manual_seed(case["seed"])
            try:
                run = run_torchtitan if case["kind"] == "torchtitan" else run_plain
                worst, nstages = run(case, args.rank, args.world, group)
                rec = {"case": case["name"], "rank": args.rank, "ok": worst <= TOLERANCE, "max_abs_diff": worst,
                       "stages": nstages}
            except Exception as e:  # the world cannot go on: its peers may wait on this rank
                rec = {"case": case["name"], "rank": args.rank, "ok": False, "error": f"{type(e).__name__}: {e}",
                       "trace": traceback.format_exc(limit=4)}
                out.write(json.dumps(rec) + "\n")
                out.flush()
                os._exit(3)
            out.write(json.dumps(rec) + "\n")
            out.flush()
            dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
