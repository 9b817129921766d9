"""Generation on a busy machine: our thread policy against torch's default, idle and beside a CPU-bound process.

Each run is a fresh ``audiogen generate`` process (a 30 s track, the shipped model, a fixed seed) timed for wall
and CPU seconds (its own and its children's). "busy" runs start one pure-Python busy loop first (one core taken)
and stop it after. The policies: ``ours`` (no ``--threads``: the cores not busy elsewhere, :mod:`audiogen.threads`)
and ``torch default`` (``--threads`` = every core, what torch picks by itself).

    python -m audiogen.eval.bench_threads
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADING = "## Generation on a busy machine (thread policy)"
COLUMNS = ["policy", "idle wall s", "idle CPU s", "busy wall s", "busy CPU s", "busy / idle wall (goal ≤ 2.5×)"]


def timed_run(argv: list[str], env: dict) -> tuple[float, float]:
    """``(wall s, CPU s)`` of a child process running ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.bench_threads", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--benchmarks", default="BENCHMARKS.md")
    args = ap.parse_args(argv)

    from audiogen.eval.report import command_line, machine, replace_section, table, today

    cores = len(os.sched_getaffinity(0))
    env = {k: v for k, v in os.environ.items() if k != "AUDIOGEN_THREADS"}
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "t.mp3")
        base = [sys.executable, "-m", "audiogen.cli", "generate", "a busy day", "--emotion", "happy", "--duration",
                str(args.duration), "--seed", "3", "-o", out, "--no-progress"]  # fmt: skip
        if args.model:
            base += ["--model", args.model]
        for load in ("idle", "busy"):
            hog = None
            if load == "busy":
                hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(1.0)
            try:
                for policy, extra in (("ours", []), ("torch default", ["--threads", str(cores)])):
                    results[(load, policy)] = timed_run(base + extra, env)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    for policy in ("ours", "torch default"):
        idle, busy = results[("idle", policy)], results[("busy", policy)]
        rows.append([policy, f"{idle[0]:.1f}", f"{idle[1]:.1f}", f"{busy[0]:.1f}", f"{busy[1]:.1f}",
                     f"{busy[0] / idle[0]:.2f}×"])  # fmt: skip
    lines = [
        f"Command: `{command_line('python -m audiogen.eval.bench_threads', argv)}`  ",
        f"Machine: {machine()}; date {today()}. A {args.duration:g} s track per run, a fresh process each.",
        "",
        *table(COLUMNS, rows),
    ]
    replace_section(args.benchmarks, HEADING, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
