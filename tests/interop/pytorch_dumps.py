"""Writes the schedule CSVs PyTorch's own generators produce, as PyTorch itself dumps them.

Every schedule class of torch.distributed.pipelining that can dump a CSV (the multi-stage
_PipelineScheduleRuntime ones) is built for rank 0 of a fake process group (the schedule computes
every rank's order), then `_dump_csv` writes it in both formats: compute_only (the compute actions,
with empty cells for its bubbles) and compute_comms (after its own lowering). The single-stage
1F1B and GPipe have no `_dump_csv` (their `_get_pipeline_order()` is a visualisation that names
micro-batches past the last and is not loadable), so they are not among them.

Usage: python pytorch_dumps.py OUT_DIR  -> OUT_DIR/<name>.co.csv, <name>.cc.csv and manifest.json
"""

import json
import os
import sys
import warnings

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.distributed.pipelining import PipelineStage
from torch.distributed.pipelining._utils import generate_rank_to_stage_mapping
from torch.distributed.pipelining.schedules import _PipelineScheduleRuntime, get_schedule_class
from torch.testing._internal.distributed.fake_pg import FakeStore

# (PyTorch schedule name, adaptis schedule name, stages per rank, micro-batches per rank count)
CASES = [
    ("LoopedBFS", "looped-bfs", 2, lambda p: 2 * p),
    ("LoopedBFS", "looped-bfs", 3, lambda p: p),
    ("Interleaved1F1B", "interleaved-1f1b-torch", 2, lambda p: 2 * p),
    ("Interleaved1F1B", "interleaved-1f1b-torch", 3, lambda p: p),
    ("InterleavedZeroBubble", "interleaved-zb", 2, lambda p: 2 * p),
    ("InterleavedZeroBubble", "interleaved-zb", 4, lambda p: p),
    ("ZBVZeroBubble", "zb-v", 2, lambda p: 2 * p),
    ("DualPipeV", "dualpipev", 2, lambda p: 2 * p),
]


def dump(out_dir, p):
    entries = []
    for torch_name, ours, v, m_of in CASES:
        m = m_of(p)
        S = p * v
        cls = get_schedule_class(torch_name)
        style = "v" if torch_name in ("ZBVZeroBubble", "DualPipeV") else "loop"
        mine = generate_rank_to_stage_mapping(p, S, style)[0]
        x = torch.zeros(2, 4)
        stages = [PipelineStage(nn.Linear(4, 4), s, S, torch.device("cpu"), input_args=x, output_args=x) for s in mine]
        name = f"{torch_name}-p{p}-v{v}-m{m}"
        co, cc = os.path.join(out_dir, name + ".co.csv"), os.path.join(out_dir, name + ".cc.csv")
        loss = lambda a, b: a.sum()  # noqa: E731
        sched = cls(stages, n_microbatches=m, loss_fn=loss)
        if not isinstance(sched, _PipelineScheduleRuntime):
            raise AssertionError(f"{torch_name} is not a _PipelineScheduleRuntime")
        sched._dump_csv(co, format="compute_only")
        sched._dump_csv(cc, format="compute_comms")
        entries.append({"name": name, "torch": torch_name, "adaptis": ours, "ranks": p, "chunks": v,
                        "microbatches": m, "stages": S, "compute_only": co, "compute_comms": cc})
    return entries


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    warnings.filterwarnings("ignore")
    entries = []
    for p in (2, 4):
        dist.init_process_group("fake", rank=0, world_size=p, store=FakeStore())
        entries += dump(out_dir, p)
        dist.destroy_process_group()
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(entries, f, indent=1)
    print(f"wrote {len(entries)} PyTorch schedules to {out_dir}")


if __name__ == "__main__":
    main()
