#!/usr/bin/env python3
"""Proof by running: adaptis plans in PyTorch's pipelining runtime, torchtitan's config, megatron-core.

  1. Every built-in schedule on 2, 4 and 8 ranks with 1-4 chunks per rank (where the schedule takes
     them), and optimizer plans (two AdaPtis peer profiles and one sample model; unconstrained,
     --target torch and --target torchtitan) are exported as PyTorch CSVs (compute_only, and
     compute_comms for 2-4 ranks and the optimizer plans) and run for one step() in
     _PipelineScheduleRuntime with one gloo process per rank on CPU; every rank's gradients must
     equal a single-process run of the same float64 model on the same micro-batches to 1e-6.
  2. A negative control: an optimizer CSV with two micro-batches' labels swapped (the last stage no
     longer runs its forwards in order) must fail in PyTorch.
  3. torchtitan job configs (TOML) parse with tomllib, use only keys torchtitan reads, and run: the
     stages torchtitan would build from them, with the CSV they point at, give the same gradients.
  4. Every CSV PyTorch's own generators dump (both formats) imports into adaptis, and re-exporting it
     gives PyTorch's file back (compute_only without its empty bubble cells; compute_comms exactly);
     adaptis' own built-ins export the same actions as PyTorch's generators.
  5. Megatron exports (built-in 1F1B/interleaved plans and --target megatron plans) parse in
     megatron-core with the plan's decoder layers per stage, and --target megatron plans run
     Megatron's own order.

Prints one line per check and a final "N passed, M failed"; exits 1 when any check failed.
Usage: run_interop.py --adaptis BUILD/bin/adaptis --source REPO [--shared DIR] [--work DIR] [--quick]
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gloo_world  # noqa: E402

# The keys torchtitan's TOML job configs read that an adaptis export may set (torchtitan v0.2.x
# JobConfig: [job], [parallelism], [training]).
TORCHTITAN_KEYS = {
    "job": {"description"},
    "parallelism": {"pipeline_parallel_degree", "pipeline_parallel_schedule", "pipeline_parallel_schedule_csv",
                    "pipeline_parallel_microbatch_size", "module_fqns_per_model_part"},
    "training": {"local_batch_size", "seq_len"},
}


class Report:
    def __init__(self):
        self.passed, self.failed = 0, []

    def check(self, name, ok, detail=""):
        print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""), flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)


class Adaptis:
    def __init__(self, binary, work):
        self.binary, self.work, self.calls = binary, work, 0

    def run(self, *args, check=True):
        self.calls += 1
        p = subprocess.run([self.binary, *map(str, args)], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"adaptis {' '.join(map(str, args))} -> exit {p.returncode}: {p.stderr.strip()[-800:]}")
        return p

    def path(self, name):
        return os.path.join(self.work, name)


def read_rows(path):
    with open(path, newline="") as f:
        return [row for row in csv.reader(f)]


def stage_layer_symbols(kinds):
    """Megatron symbols (E, t, m, L) of each layer kind: an independent reading of the same rules."""
    out, prev_l = [], False
    for kind in kinds:
        parts = kind.split("+") if "+" in kind and len(kind) > 1 else [kind]
        e = body = l_ = ""
        for part in parts:
            low = part.lower()
            if part == "E" or low in ("embedding", "embeddings", "embed", "word_embeddings"):
                e += "E"
            elif part in ("H", "L") or low in ("lm_head", "loss", "head", "output", "output_layer"):
                l_ = "L"
            elif low == "mtp":
                body += "m"
            else:
                body += "t"
        syms = e + body + l_
        if syms == "L" and prev_l:
            syms = ""
        prev_l = syms.endswith("L")
        out.append(syms)
    return out


def decoder_layers_per_stage(partition, kinds):
    syms = stage_layer_symbols(kinds)
    out, nxt, l = [], 0, 0
    for size in partition:
        ids = []
        for _ in range(size):
            for c in syms[l]:
                if c == "t":
                    ids.append(nxt)
                    nxt += 1
            l += 1
        out.append(ids)
    return out


# ---- case generation ----------------------------------------------------------------------------


def builtin_plans(ad, model, quick):
    names = [s["name"] for s in json.loads(ad.run("schedules", "--json").stdout)]
    plans = []
    for p in ((2, 4) if quick else (2, 4, 8)):
        for name in names:
            for v in (1, 2, 3, 4):
                tag = f"{name}-p{p}-v{v}"
                plan = ad.path(tag + ".json")
                r = ad.run("export", "--model", model, "--devices", p, "--schedule", name, "-m", 2 * p, "-v", v,
                           "--plan-json", plan, check=False)
                if r.returncode != 0:
                    continue  # the schedule's own constraint on chunks / micro-batches
                plans.append({"tag": tag, "schedule": name, "ranks": p, "chunks": v, "plan": plan})
    return plans


def export_csvs(ad, model_args, plan_path, tag, with_comms):
    out = {}
    co = ad.path(tag + ".co.csv")
    ad.run("export", *model_args, "--plan", plan_path, "--pytorch-csv", co)
    out["compute_only"] = co
    if with_comms:
        cc = ad.path(tag + ".cc.csv")
        ad.run("export", *model_args, "--plan", plan_path, "--pytorch-csv", cc, "--with-comms")
        out["compute_comms"] = cc
    return out


def grad_case(name, plan_path, csv_path, fmt, seed):
    with open(plan_path) as f:
        plan = json.load(f)
    return {"name": name, "kind": "plain", "partition": plan["partition"], "microbatches": plan["microbatches"],
            "csv": csv_path, "format": fmt, "seed": seed, "ranks": len(plan["placement"])}


def swap_microbatches(src, dst, a, b):
    """Renames micro-batches a <-> b in every cell (a mislabelled schedule, valid otherwise)."""
    import re

    def fix(cell):
        def sub(m):
            mb = int(m.group(3))
            return m.group(1) + m.group(2) + str(b if mb == a else a if mb == b else mb)
        return re.sub(r"(\d+)(F|I|W|B)(\d+)", sub, cell)

    rows = [[fix(c) for c in row] for row in read_rows(src)]
    with open(dst, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--adaptis", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--shared", default="")
    ap.add_argument("--work", default="")
    ap.add_argument("--quick", action="store_true", help="2 and 4 ranks only, fewer optimizer plans")
    ap.add_argument("--max-evaluations", type=int, default=1500)
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="adaptis-interop-")
    os.makedirs(work, exist_ok=True)
    ad = Adaptis(os.path.abspath(args.adaptis), work)
    rep = Report()
    t_start = time.monotonic()
    python = sys.executable
    src = os.path.abspath(args.source)
    profiles = args.shared if args.shared and os.path.isdir(os.path.join(args.shared, "peer-profiles")) else \
        os.path.join(src, "samples", "costs")
    builtin_model = os.path.join(src, "samples", "models", "llama-2-7b.json")
    sample_model = os.path.join(src, "samples", "models", "nemotron-h-8b.json")

    # ---- 1. built-in schedules -------------------------------------------------------------------
    t0 = time.monotonic()
    grad_cases, megatron_cases, titan_cases = [], [], []
    builtins = builtin_plans(ad, builtin_model, args.quick)
    rep.check("built-in plans exported", len(builtins) >= (40 if args.quick else 60), f"{len(builtins)} plans")
    kinds_llama = [l["kind"] for l in json.loads(ad.run("costs", "--model", builtin_model, "--json").stdout)["layers"]]

    def data_parallel(model_path):  # the model spec's data-parallel size: Megatron's batch flags include it
        with open(model_path) as f:
            return int(json.load(f).get("data_parallel", 1))
    seed = 1
    for b in builtins:
        with_comms = b["ranks"] <= 4
        csvs = export_csvs(ad, ["--model", builtin_model], b["plan"], b["tag"], with_comms)
        for fmt, path in csvs.items():
            grad_cases.append(grad_case(f"pytorch builtin {b['tag']} {fmt}", b["plan"], path, fmt, seed))
            seed += 1
        if b["schedule"] in ("1f1b", "interleaved-1f1b"):
            meg = ad.path(b["tag"] + ".megatron.txt")
            ad.run("export", "--model", builtin_model, "--plan", b["plan"], "--megatron", meg)
            with open(b["plan"]) as f:
                part = json.load(f)["partition"]
            megatron_cases.append({"name": f"megatron builtin {b['tag']}", "export": meg, "plan": b["plan"],
                                   "stage_decoder_layers": decoder_layers_per_stage(part, kinds_llama),
                                   # interleaved 1F1B with one chunk is not what Megatron runs (it
                                   # runs plain 1F1B there): the export must say so instead.
                                   "check_order": b["schedule"] == "1f1b" or b["chunks"] > 1,
                                   "expect_order_note": b["schedule"] != "1f1b" and b["chunks"] == 1,
                                   "data_parallel": data_parallel(builtin_model)})
        if b["tag"] in ("1f1b-p2-v1", "interleaved-1f1b-torch-p4-v2", "zb-v-p4-v2", "dualpipev-p4-v2",
                        "interleaved-zb-p4-v3"):
            toml = ad.path(b["tag"] + ".toml")
            titan_csv = ad.path(b["tag"] + ".titan.csv")
            ad.run("export", "--model", builtin_model, "--plan", b["plan"], "--pytorch-csv", titan_csv,
                   "--torchtitan", toml)
            titan_cases.append({"name": f"torchtitan builtin {b['tag']}", "toml": toml, "ranks": b["ranks"]})
    print(f"  built-in exports: {len(builtins)} plans, {ad.calls} adaptis calls, {time.monotonic() - t0:.1f} s",
          file=sys.stderr)

    # ---- optimizer plans ---------------------------------------------------------------------------
    t0 = time.monotonic()
    inputs = [
        ("nemotron-nano-v2-9B", ["--costs", os.path.join(profiles, "peer-profiles", "nemotron-nano-v2-9B.json"),
                                 "--devices", "4", "--comm-latency-ms", "0"], 8),
        ("gpt-oss-20B", ["--costs", os.path.join(profiles, "peer-profiles", "gpt-oss-20B.json"),
                         "--devices", "4", "--comm-latency-ms", "0"], 8),
        ("nemotron-h-8b", ["--model", sample_model, "--devices", "8"], 16),
    ]
    search = ["--max-evaluations", str(args.max_evaluations), "--time-limit-s", "600", "--threads", "2", "-q"]
    negative = None
    for label, inp, m in inputs[: 2 if args.quick else 3]:
        # What `costs` takes: the cost file, or the model and its devices.
        costs_args = inp[:2] if inp[0] == "--costs" else inp[:4]
        kinds = [l["kind"] for l in json.loads(ad.run("costs", *costs_args, "--json").stdout)["layers"]]
        native = ad.path(f"opt-{label}-adaptis.json")
        ad.run("optimize", *inp, "-m", m, *search, "--out", native)
        targets = [("adaptis", native)]
        for target in ("torch", "torchtitan", "megatron"):
            if target == "torchtitan" and label == "nemotron-h-8b":
                continue
            out = ad.path(f"opt-{label}-{target}.json")
            r = ad.run("optimize", *inp, "-m", m, *search, "--target", target, "--native-plan", native, "--out", out,
                       "--json")
            tj = json.loads(r.stdout)["target"]
            rep.check(f"optimize --target {target} {label} reports its cost",
                      tj["name"] == target and tj["native_iteration_ms"] > 0 and tj["slowdown_vs_native"] > 0,
                      f"{tj['slowdown_vs_native']:.3f}x vs adaptis-native ({tj['iteration_ms']:.1f} vs "
                      f"{tj['native_iteration_ms']:.1f} ms)")
            targets.append((target, out))
        for target, plan in targets:
            tag = f"opt-{label}-{target}"
            if target == "megatron":
                meg = ad.path(tag + ".megatron.txt")
                ad.run("export", *inp, "--plan", plan, "--megatron", meg)
                with open(plan) as f:
                    part = json.load(f)["partition"]
                megatron_cases.append({"name": f"megatron {tag}", "export": meg, "plan": plan,
                                       "stage_decoder_layers": decoder_layers_per_stage(part, kinds),
                                       "check_order": True,
                                       "data_parallel": data_parallel(inp[1]) if inp[0] == "--model" else 1})
                continue
            if target == "torchtitan":
                toml, titan_csv = ad.path(tag + ".toml"), ad.path(tag + ".titan.csv")
                ad.run("export", *inp, "--plan", plan, "--pytorch-csv", titan_csv, "--torchtitan", toml)
                titan_cases.append({"name": f"torchtitan {tag}", "toml": toml, "ranks": 4})
                continue
            csvs = export_csvs(ad, inp, plan, tag, True)
            for fmt, path in csvs.items():
                grad_cases.append(grad_case(f"pytorch {tag} {fmt}", plan, path, fmt, seed))
                seed += 1
            if target == "adaptis" and negative is None:
                negative = (plan, csvs["compute_only"], tag, inp)
    print(f"  optimizer plans: {time.monotonic() - t0:.1f} s", file=sys.stderr)

    # ---- 3. torchtitan configs are valid TOML with torchtitan's keys -----------------------------
    for c in titan_cases:
        try:
            with open(c["toml"], "rb") as f:
                cfg = tomllib.load(f)
            unknown = [f"{sec}.{k}" for sec, vals in cfg.items() for k in vals if k not in TORCHTITAN_KEYS.get(sec, ())]
            par = cfg["parallelism"]
            ok = not unknown and par["pipeline_parallel_degree"] == c["ranks"] and os.path.isfile(
                par["pipeline_parallel_schedule_csv"])
            rep.check(f"{c['name']} TOML", ok, f"unknown keys {unknown}" if unknown else
                      f"{len(par['module_fqns_per_model_part'])} stages, schedule {par['pipeline_parallel_schedule']}")
        except Exception as e:
            rep.check(f"{c['name']} TOML", False, f"{type(e).__name__}: {e}")
        grad_cases.append({"name": c["name"] + " run", "kind": "torchtitan", "toml": c["toml"], "ranks": c["ranks"],
                           "seed": seed})
        seed += 1

    # ---- 1+3. run everything in gloo worlds ----------------------------------------------------------
    t0 = time.monotonic()
    by_world = {}
    for c in grad_cases:
        by_world.setdefault(c["ranks"], []).append(c)
    for world in sorted(by_world):
        results = gloo_world.run_cases(python, by_world[world], world, os.path.join(work, f"world{world}"))
        for c in by_world[world]:
            r = results[c["name"]]
            rep.check(c["name"], r["ok"], r["detail"])
    print(f"  PyTorch runs: {len(grad_cases)} cases, {time.monotonic() - t0:.1f} s", file=sys.stderr)

    # ---- 2. negative control: swapped labels must fail in PyTorch --------------------------------
    if negative:
        plan, co, tag, inp = negative
        bad = ad.path(tag + ".swapped.csv")
        swap_microbatches(co, bad, 0, 1)
        case = grad_case(f"negative control {tag} (micro-batches 0 and 1 swapped)", plan, bad, "compute_only", 99)
        res = gloo_world.run_cases(python, [case], case["ranks"], os.path.join(work, "negative"), timeout_s=300)
        r = res[case["name"]]
        rep.check(case["name"] + " fails in PyTorch", not r["ok"], r["detail"][:300])
        # adaptis reads it back and its export puts the last stage in order again.
        back = ad.path(tag + ".swapped.plan.json")
        with open(plan) as f:
            partition = ",".join(map(str, json.load(f)["partition"]))
        ad.run("import", *inp, "--pytorch-csv", bad, "--partition", partition, "-o", back)
        fixed = ad.path(tag + ".swapped.fixed.csv")
        ad.run("export", *inp, "--plan", back, "--pytorch-csv", fixed)
        rep.check(f"negative control {tag}: re-export restores the original labels",
                  read_rows(fixed) == read_rows(co))

    # ---- 4. PyTorch's own dumps import and round-trip -------------------------------------------
    t0 = time.monotonic()
    dumps = os.path.join(work, "pytorch-dumps")
    subprocess.run([python, os.path.join(HERE, "pytorch_dumps.py"), dumps], check=True, capture_output=True)
    with open(os.path.join(dumps, "manifest.json")) as f:
        entries = json.load(f)
    nemotron = ["--costs", os.path.join(profiles, "peer-profiles", "nemotron-nano-v2-9B.json")]
    for e in entries:
        for fmt in ("compute_only", "compute_comms"):
            path = e[fmt]
            if path is None:
                continue
            name = f"import PyTorch {e['name']} {fmt}"
            try:
                back = ad.path(f"{e['name']}.{fmt}.plan.json")
                ad.run("import", *nemotron, "--pytorch-csv", path, "-o", back)
                again = ad.path(f"{e['name']}.{fmt}.again.csv")
                ad.run("export", *nemotron, "--plan", back, "--pytorch-csv", again,
                       *(["--with-comms"] if fmt == "compute_comms" else []))
                theirs = [[c for c in row if c.strip()] for row in read_rows(path)]
                ours = read_rows(again)
                rep.check(name + " round-trips", ours == theirs,
                          "" if ours == theirs else f"first rows differ: ours {ours[0][:8]} vs PyTorch {theirs[0][:8]}")
            except Exception as ex:
                rep.check(name + " round-trips", False, str(ex)[:400])
        # adaptis' own generator of the same schedule exports PyTorch's actions.
        name = f"adaptis {e['adaptis']} p{e['ranks']} v{e['chunks']} m{e['microbatches']} equals PyTorch {e['torch']}"
        try:
            mine = ad.path(f"{e['name']}.ours.csv")
            ad.run("export", *nemotron, "--devices", e["ranks"], "--schedule", e["adaptis"], "-m", e["microbatches"], "-v", e["chunks"],
                   "--pytorch-csv", mine)
            theirs = [[c for c in row if c.strip()] for row in read_rows(e["compute_only"])]
            rep.check(name, read_rows(mine) == theirs)
        except Exception as ex:
            rep.check(name, False, str(ex)[:400])
    print(f"  PyTorch dumps: {len(entries)} schedules, {time.monotonic() - t0:.1f} s", file=sys.stderr)

    # ---- 5. Megatron exports in megatron-core ---------------------------------------------------
    t0 = time.monotonic()
    manifest = os.path.join(work, "megatron-cases.json")
    with open(manifest, "w") as f:
        json.dump(megatron_cases, f, indent=1)
    p = subprocess.run([python, os.path.join(HERE, "megatron_check.py"), manifest], capture_output=True, text=True)
    seen = set()
    for line in p.stdout.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        seen.add(rec["case"])
        rep.check(rec["case"], rec["ok"], rec["detail"])
    for c in megatron_cases:
        if c["name"] not in seen:
            rep.check(c["name"], False, "megatron_check.py did not report it: " + p.stderr.strip()[-600:])
    print(f"  megatron-core checks: {len(megatron_cases)} exports, {time.monotonic() - t0:.1f} s", file=sys.stderr)

    total = time.monotonic() - t_start
    print(f"interop: {ad.calls} adaptis calls, {total:.0f} s, work dir {work}", file=sys.stderr)
    for name in rep.failed:
        print(f"failed: {name}", file=sys.stderr)
    print(f"{rep.passed} passed, {len(rep.failed)} failed")
    if not args.work and not rep.failed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
