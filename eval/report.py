"""Writing results into BENCHMARKS.md: one script owns one ``## Section`` and rewrites only that section."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
from pathlib import Path


def machine() -> str:
    """One line describing this machine: CPU model, core count, load average."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{model}, {os.cpu_count()} cores, load average {load} at start"


def today() -> str:
    return dt.date.today().isoformat()


def command_line(program: str, argv: list[str]) -> str:
    """The command as a user would type it: ``program`` followed by the quoted arguments, with absolute paths cut to
    their last two parts (``/data/corpus/debian/manifest.jsonl`` -> ``.../debian/manifest.jsonl``) so that nothing
    machine-specific lands in the benchmarks file."""
    return " ".join([program, *(shlex.quote(_short_path(a)) for a in argv)])


def _short_path(arg: str) -> str:
    prefix, sep, value = arg.partition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
    if value.startswith("/") and len(Path(value).parts) > 3:
        value = ".../" + "/".join(Path(value).parts[-2:])
    return prefix + sep + value


def replace_section(path: str | os.PathLike, heading: str, body: list[str]) -> Path:
    """Replace the section that starts with the line ``heading`` (e.g. ``"## Codec"``) up to the next heading of the
    same or a higher level with ``body``; append the section when absent. Other sections are kept byte for byte.
    The file is created (with a ``# Benchmarks`` title) if missing and written atomically."""
    path = Path(path)
    if not heading.startswith("#"):
        raise ValueError(f"heading must be a markdown heading such as '## Codec', got {heading!r}")
    level = len(heading) - len(heading.lstrip("#"))
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    lines = text.splitlines()
    block = [heading, "", *body]
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *block]
    else:
        end = start + 1
        while end < len(lines) and not _is_heading_at_most(lines[end], level):
            end += 1
        tail = lines[end:]
        lines = [*lines[:start], *block, *([""] if tail else []), *tail]
    while lines and not lines[-1].strip():
        lines.pop()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _is_heading_at_most(line: str, level: int) -> bool:
    stripped = line.lstrip("#")
    n = len(line) - len(stripped)
    return 0 < n <= level and stripped.startswith(" ")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table as lines."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]
