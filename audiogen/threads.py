"""How many threads the command line gives torch: the cores actually free, not all of them.

torch starts one thread per core. On a machine where another process is already busy, those threads compete with it
and with each other, and waiting threads spin: a 120 s track that takes a minute on an idle 2-core machine took 16
minutes beside one CPU-bound process. The policy here (:func:`pick_threads`):

1. ``--threads N`` (or a caller's explicit number) wins;
2. else ``AUDIOGEN_THREADS`` from the environment;
3. else the cores this process may run on (its CPU affinity) minus the other tasks running right now (the kernel's
   count of runnable tasks in ``/proc/loadavg``, less this one), at least one.

An asked-for number above the cores this process may run on is lowered to that count, with a one-line warning on
stderr: more threads than cores only wait on each other (1000 threads on 2 cores made a 3 s track take 237 s
instead of a few). The choice is made once, when a command starts.
"""

from __future__ import annotations

import os
import sys

ENV = "AUDIOGEN_THREADS"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask; ``os.cpu_count()`` where that is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_elsewhere() -> int:
    """Tasks other than this one running or runnable right now (0 where the system does not say)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - 1)


def pick_threads(requested: int | None = None, warn: bool = True) -> int:
    """The thread count by the policy of the module docstring; raises ``ValueError`` for a bad request. A request
    above :func:`usable_cores` is lowered to it (said on stderr when ``warn``)."""
    if requested is None and os.environ.get(ENV, "").strip():
        raw = os.environ[ENV].strip()
        try:
            requested = int(raw)
        except ValueError:
            raise ValueError(f"{ENV}={raw[:20]!r} is not a whole number of threads") from None
        where = ENV
    else:
        where = "--threads"
    if requested is not None:
        if isinstance(requested, bool) or not 1 <= int(requested) <= 1024:
            raise ValueError(f"{where} must be a whole number in [1, 1024], got {requested!r}")
        cores = usable_cores()
        if int(requested) > cores:
            if warn:
                print(f"audiogen: warning: {where} {int(requested)} is more than the {cores} core(s) this process may "
                      f"use; using {cores}", file=sys.stderr)  # fmt: skip
            return cores
        return int(requested)
    return max(1, usable_cores() - busy_elsewhere())


def apply_threads(requested: int | None = None) -> int:
    """Set torch's intra-op thread count by :func:`pick_threads`; returns it."""
    import torch

    n = pick_threads(requested, warn=False)  # the command warned when it checked the request
    torch.set_num_threads(n)
    return n
