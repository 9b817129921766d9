"""``python -m audiogen.eval``: see :mod:`audiogen.eval.runner`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None, generator=None) -> int:
    """Parse ``argv`` and run the evaluation; ``generator`` replaces the model (tests pass a stand-in)."""
    from audiogen.eval import runner

    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval", description=runner.__doc__.splitlines()[0])
    runner.add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        return runner.run(args, argv, generator)
    except (ValueError, FileNotFoundError) as err:
        print(f"audiogen eval: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
