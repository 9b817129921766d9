"""``audiogen eval``: the evaluation command of the ``audiogen`` CLI (see :mod:`audiogen.eval.runner`)."""

from __future__ import annotations

import argparse
import sys


def _run(args: argparse.Namespace) -> int:
    from audiogen.eval import runner

    argv = sys.argv[1:]
    argv = argv[argv.index("eval") + 1 :] if "eval" in argv else []
    return runner.run(args, argv, program="audiogen eval")


def register(sub) -> None:
    """Add ``audiogen eval`` to the CLI's subparsers."""
    from audiogen.eval import runner

    p = sub.add_parser("eval", help="regenerate the codec and generation benchmarks (BENCHMARKS.md, plots)")
    runner.add_arguments(p)
    p.set_defaults(func=_run)
