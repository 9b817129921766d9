"""The ``audiogen`` command line. Each area registers its own subcommands from its ``cli`` module."""

from __future__ import annotations

import argparse
import importlib
import sys

from audiogen import __version__

# Modules that define ``register(subparsers)``; each adds its subcommands. Missing ones are skipped so the CLI
# grows with the package.
_COMMAND_MODULES = (
    "audiogen.data.cli",
    "audiogen.codec.cli",
    "audiogen.generate_cli",
    "audiogen.analyze_cli",
    "audiogen.render",
    "audiogen.eval.cli",
)


class CLIError(Exception):
    """A user error reported as one line on stderr with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiogen", description="Generate finished music tracks.")
    parser.add_argument("--version", action="version", version=f"audiogen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, FileNotFoundError) as err:
        print(f"audiogen {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
