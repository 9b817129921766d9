"""The ``audiogen`` command line. Each area registers its own subcommands from its ``cli`` module."""

from __future__ import annotations

import argparse
import importlib
import sys

from audiogen import __version__

# Modules that define ``register(subparsers)``; each adds its subcommands. Missing ones are skipped so the CLI
# grows with the package.
_COMMAND_MODULES = (
    "audiogen.codec.cli",
    "audiogen.generate_cli",
    "audiogen.analyze_cli",
    "audiogen.render",
    "audiogen.eval.cli",
    "audiogen.studio.cli",
    "audiogen.originality.cli",
)
# Modules that define ``register(data_subparsers)`` for ``audiogen data ...`` (corpus builders and tools).
_DATA_MODULES = (
    "audiogen.data.cli",
    "audiogen.data.symbolic_cli",
)


class CLIError(Exception):
    """A user error reported as one line on stderr with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiogen", description="Generate finished music tracks.")
    parser.add_argument("--version", action="version", version=f"audiogen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    data = sub.add_parser("data", help="build and inspect training corpora")
    data_sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    data.set_defaults(func=lambda _args: data.print_help() or 1)
    for names, target in ((_COMMAND_MODULES, sub), (_DATA_MODULES, data_sub)):
        for name in names:
            module = _optional_module(name)
            if module is not None:
                module.register(target)
    return parser


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name == name:
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status: 0 done, 1 nothing to do or some jobs failed, 2 a user error or an
    output that cannot be written (one line on stderr, no traceback), 130 interrupted (Ctrl+C; nothing half-written
    is left behind), 141 the reader of ``generate --stream -`` closed the pipe (the generation is cancelled, nothing
    is written)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print("audiogen: interrupted", file=sys.stderr)
        return 130
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"audiogen {args.command}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, FileNotFoundError) as err:
        print(f"audiogen {args.command}: error: {err}", file=sys.stderr)
        return 2
    except RecursionError:
        print(f"audiogen {args.command}: error: an input is nested too deeply to read", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a read-only folder, a permission: said in one line, not a traceback
        from audiogen.fileio import OutputError

        if isinstance(err, OutputError):
            print(f"audiogen {args.command}: error: {err}", file=sys.stderr)
            return 2
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"audiogen {args.command}: error: {err.strerror or _one_line(err)}{where}", file=sys.stderr)
        return 2


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if len(lines) <= 1 else f"{lines[0]} (+{len(lines) - 1} more lines)"


if __name__ == "__main__":
    sys.exit(main())
