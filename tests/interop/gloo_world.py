"""Runs cases in gloo worlds of torch_grad_worker.py processes, one process per rank.

A world runs many cases in one launch (the processes import torch once). When a rank fails, its
peers may be blocked in a receive, so the whole world is stopped, the case that was running is
recorded as failed, and a new world takes the remaining cases.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(python, cases, world, workdir, timeout_s):
    manifest = os.path.join(workdir, f"manifest-{world}-{time.monotonic_ns()}.json")
    with open(manifest, "w") as f:
        json.dump(cases, f)
    port = free_port()
    outs = [os.path.join(workdir, f"rank{r}-{os.path.basename(manifest)}.jsonl") for r in range(world)]
    logs = [open(o + ".log", "w") for o in outs]
    procs = [
        subprocess.Popen(
            [python, os.path.join(HERE, "torch_grad_worker.py"), "--manifest", manifest, "--rank", str(r), "--world",
             str(world), "--port", str(port), "--out", outs[r]],
            stdout=logs[r], stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS="1"))
        for r in range(world)
    ]
    deadline = time.monotonic() + timeout_s
    failed = False
    while True:
        codes = [p.poll() for p in procs]
        if any(c not in (None, 0) for c in codes):
            failed = True
            break
        if all(c == 0 for c in codes):
            break
        if time.monotonic() > deadline:
            failed = True
            break
        time.sleep(0.1)
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()
    for log in logs:
        log.close()
    records = []
    for o in outs:
        if os.path.exists(o):
            with open(o) as f:
                records += [json.loads(line) for line in f if line.strip()]
    tails = []
    for o in outs:
        if os.path.exists(o + ".log"):
            with open(o + ".log") as f:
                tails.append(f.read()[-1500:])
    return records, failed, tails


def run_cases(python, cases, world, workdir=None, timeout_s=900):
    """Returns {case name: {"ok": bool, "detail": str}} for every case (all of `world` ranks)."""
    workdir = workdir or tempfile.mkdtemp(prefix="adaptis-interop-")
    os.makedirs(workdir, exist_ok=True)
    results = {}
    todo = list(cases)
    while todo:
        t0 = time.monotonic()
        records, failed, tails = _launch(python, todo, world, workdir, timeout_s)
        per_case = {}
        started = []
        for rec in records:
            if rec.get("started"):
                if rec["case"] not in started:
                    started.append(rec["case"])
                continue
            per_case.setdefault(rec["case"], []).append(rec)
        done_names = []
        for case in todo:
            recs = per_case.get(case["name"], [])
            if len(recs) == world:
                ok = all(r["ok"] for r in recs)
                worst = max(r.get("max_abs_diff", float("inf")) for r in recs)
                errors = [f"rank {r['rank']}: {r['error']}" for r in recs if "error" in r]
                detail = f"max |grad diff| {worst:.2e}" if not errors else "; ".join(errors)
                results[case["name"]] = {"ok": ok, "detail": detail}
                done_names.append(case["name"])
            elif recs or (failed and case["name"] in started):
                errors = [f"rank {r['rank']}: {r['error']}" for r in recs if "error" in r]
                if not errors:
                    errors = ["a rank stopped or hung while running it: " + " | ".join(t.strip()[-400:] for t in tails if t.strip())]
                results[case["name"]] = {"ok": False, "detail": "; ".join(errors)}
                done_names.append(case["name"])
                break  # the cases after it did not run in this world
        remaining = [c for c in todo if c["name"] not in results]
        if failed and len(remaining) == len(todo):
            # Nothing ran at all (e.g. the processes could not start): report and stop.
            for c in remaining:
                results[c["name"]] = {"ok": False, "detail": "the gloo world failed to start: " +
                                      " | ".join(t.strip()[-600:] for t in tails if t.strip())}
            remaining = []
        todo = remaining
        print(f"  gloo world of {world}: {len(done_names)} case(s) in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return results
