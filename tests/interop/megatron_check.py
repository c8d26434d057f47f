"""Checks adaptis' Megatron-LM exports with megatron-core itself.

For every case (an `adaptis export --megatron` text and the plan it came from) and every flag set
in the text (the recommended flags and the explicit-layout form): the flags are turned into
megatron-core's TransformerConfig the way Megatron-LM maps its command line (its own validation of
--pipeline-model-parallel-layout, first/last stage layer counts and virtual stages runs there), and
megatron-core's get_transformer_layer_offset / get_num_layers_to_build give the decoder layers of
every (pipeline rank, virtual stage); they must equal the plan's stages. The micro-batch count the
batch flags give must be the plan's. With `check_order`, the plan's per-device order must be the one
Megatron runs: built from megatron-core's own schedule table and warm-up counts. With
`expect_order_note` (a plan whose order Megatron does not run), the export must say so.

Usage: python megatron_check.py MANIFEST.json  -> prints one line per case, exit 1 on a failure.
"""

import json
import shlex
import sys
import warnings

warnings.filterwarnings("ignore")

import torch  # noqa: E402
from megatron.core import parallel_state  # noqa: E402
from megatron.core.pipeline_parallel.schedules import get_pp_rank_microbatches, get_schedule_table  # noqa: E402
from megatron.core.transformer.enums import LayerType  # noqa: E402
from megatron.core.transformer.transformer_block import get_num_layers_to_build  # noqa: E402
from megatron.core.transformer.transformer_config import TransformerConfig  # noqa: E402
from megatron.core.transformer.transformer_layer import get_transformer_layer_offset  # noqa: E402

KNOWN = {
    "--pipeline-model-parallel-size", "--num-layers", "--mtp-num-layers", "--pipeline-model-parallel-layout",
    "--num-layers-per-virtual-pipeline-stage", "--num-virtual-stages-per-pipeline-rank",
    "--decoder-first-pipeline-num-layers", "--decoder-last-pipeline-num-layers",
    "--microbatch-group-size-per-virtual-pipeline-stage", "--micro-batch-size", "--global-batch-size", "--seq-length",
}


def flag_sets(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        flags = {}
        for i in range(0, len(words), 2):
            if words[i] not in KNOWN:
                raise AssertionError(f"unknown Megatron flag {words[i]!r} in: {line}")
            flags[words[i]] = words[i + 1]
        out.append(flags)
    if not out:
        raise AssertionError("no flag line in the export")
    return out


def config_from_flags(flags):
    p = int(flags["--pipeline-model-parallel-size"])
    n = int(flags["--num-layers"])
    kw = dict(num_layers=n, hidden_size=64, num_attention_heads=4, pipeline_model_parallel_size=p,
              pipeline_dtype=torch.float32)
    if "--mtp-num-layers" in flags:
        kw["mtp_num_layers"] = int(flags["--mtp-num-layers"])
    if "--pipeline-model-parallel-layout" in flags:
        kw["pipeline_model_parallel_layout"] = flags["--pipeline-model-parallel-layout"]
    if "--num-virtual-stages-per-pipeline-rank" in flags:
        kw["virtual_pipeline_model_parallel_size"] = int(flags["--num-virtual-stages-per-pipeline-rank"])
    if "--num-layers-per-virtual-pipeline-stage" in flags:
        per = int(flags["--num-layers-per-virtual-pipeline-stage"])
        if n % (p * per):
            raise AssertionError(f"--num-layers {n} is not a multiple of p x layers per virtual stage ({p} x {per})")
        kw["virtual_pipeline_model_parallel_size"] = n // p // per  # as Megatron-LM converts it
    if "--decoder-first-pipeline-num-layers" in flags:
        kw["num_layers_in_first_pipeline_stage"] = int(flags["--decoder-first-pipeline-num-layers"])
    if "--decoder-last-pipeline-num-layers" in flags:
        kw["num_layers_in_last_pipeline_stage"] = int(flags["--decoder-last-pipeline-num-layers"])
    if "--microbatch-group-size-per-virtual-pipeline-stage" in flags:
        kw["microbatch_group_size_per_vp_stage"] = int(flags["--microbatch-group-size-per-virtual-pipeline-stage"])
    return TransformerConfig(**kw)


def megatron_stage_layers(cfg):
    """Decoder layer ids of flat stage k = vp * p + rank, as megatron-core builds them."""
    p = cfg.pipeline_model_parallel_size
    v = cfg.virtual_pipeline_model_parallel_size or 1
    parallel_state.set_pipeline_model_parallel_world_size(p)
    parallel_state.set_virtual_pipeline_model_parallel_world_size(cfg.virtual_pipeline_model_parallel_size)
    stages = [None] * (p * v)
    for rank in range(p):
        parallel_state.set_pipeline_model_parallel_rank(rank)
        for vp in range(v):
            vp_arg = vp if cfg.virtual_pipeline_model_parallel_size is not None else None
            n = get_num_layers_to_build(cfg, vp_stage=vp_arg, pp_rank=rank)
            off = get_transformer_layer_offset(cfg, vp_stage=vp_arg, pp_rank=rank)
            stages[vp * p + rank] = list(range(off, off + n))
    return stages, v


def megatron_order(p, v, m, g, rank):
    """The (op, stage, micro-batch) sequence Megatron runs on `rank` (F forward, BW backward)."""

    class Group:
        def size(self):
            return p

        def rank(self):
            return rank

    class Comm:
        pp_group = Group()
        virtual_pipeline_model_parallel_size = v if v > 1 else None

    if v == 1:
        warm = min(p - rank - 1, m)
        fwd = [("F", rank, k) for k in range(m)]
        bwd = [("BW", rank, k) for k in range(m)]
    else:
        table = get_schedule_table(m, v, g)
        total, _, warm, _ = get_pp_rank_microbatches(m, v, g, p2p_communicator=Comm())
        fwd = [("F", c * p + rank, mb) for mb, c in table]
        bwd = [("BW", (v - 1 - c) * p + rank, mb) for mb, c in table]
    total = len(fwd)
    order = fwd[:warm]
    for k in range(total - warm):
        order += [fwd[k + warm], bwd[k]]
    order += bwd[total - warm:]
    return order


def parse_action(text):
    text = text.lstrip("&")
    op = "BW" if text.startswith("BW") else text[0]
    stage, mb = text[len(op):].split(".")
    return (op, int(stage), int(mb))


def check(case):
    with open(case["export"]) as f:
        text = f.read()
    with open(case["plan"]) as f:
        plan = json.load(f)
    p = len(plan["placement"])
    want = case["stage_decoder_layers"]
    sets = flag_sets(text)
    for flags in sets:
        cfg = config_from_flags(flags)
        if cfg.pipeline_model_parallel_size != p:
            raise AssertionError(f"pipeline size {cfg.pipeline_model_parallel_size} != plan devices {p}")
        got, v = megatron_stage_layers(cfg)
        if got != want:
            raise AssertionError(f"flags {flags}: megatron-core builds decoder layers {got}, the plan has {want}")
        layout = cfg.pipeline_model_parallel_layout
        if layout is not None:
            if LayerType.embedding not in layout.layout[0][0] or LayerType.loss not in layout.layout[p - 1][v - 1]:
                raise AssertionError("the layout does not put E in the first stage and L in the last")
        mbs, gbs = int(flags["--micro-batch-size"]), int(flags["--global-batch-size"])
        if gbs % mbs or gbs // mbs != plan["microbatches"] * case.get("data_parallel", 1):
            raise AssertionError(f"--global-batch-size {gbs} / --micro-batch-size {mbs} does not give "
                                 f"{plan['microbatches']} micro-batches per pipeline")
    if case.get("expect_order_note") and "will not be reproduced" not in text:
        raise AssertionError("the plan's order is not Megatron's, but the export does not say so")
    if case.get("check_order"):
        flags = sets[0]
        v = len(plan["partition"]) // p
        g = int(flags.get("--microbatch-group-size-per-virtual-pipeline-stage", p))
        for rank in range(p):
            got = [parse_action(a) for a in plan["schedule"][rank]]
            expect = megatron_order(p, v, plan["microbatches"], g, rank)
            if got != expect:
                i = next((k for k, (a, b) in enumerate(zip(got, expect)) if a != b), min(len(got), len(expect)))
                raise AssertionError(f"rank {rank}: the plan's order differs from Megatron's (v={v}, g={g}) at action "
                                     f"{i}: plan {got[i:i + 3]}, Megatron {expect[i:i + 3]}")
    return f"{len(sets)} flag set(s) parsed, {len(want)} stages match"


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    failed = 0
    for case in cases:
        try:
            print(json.dumps({"case": case["name"], "ok": True, "detail": check(case)}))
        except Exception as e:  # report and go on with the next case
            failed += 1
            print(json.dumps({"case": case["name"], "ok": False, "detail": f"{type(e).__name__}: {e}"}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
