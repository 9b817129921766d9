"""Reading a jobs file into raw records that remember where each value came from.

Three formats, picked by extension: CSV (``.csv``; one header row, one job per row), JSON lines (``.jsonl``,
``.ndjson``; one object per line; ``.json`` holds one array of objects) and YAML (``.yaml``, ``.yml``; a list of
mappings, or a mapping whose ``jobs`` key holds that list). Field names are normalised (case, spaces and hyphens →
``_``) so a spreadsheet header "Output name" means ``output_name``. Nothing is validated here beyond the syntax:
:mod:`audiogen.render.jobs` checks the values.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}


@dataclass
class RawRecord:
    """One job as read: ``fields`` maps normalised field names to values (strings from CSV, JSON/YAML types
    otherwise); ``lines`` gives the line of each field where it is known; ``where`` names the record in messages."""

    number: int
    line: int | None
    fields: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)
    header_line: int | None = None  # CSV: the header's line, where a missing column is reported

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"record {self.number}"

    def line_of(self, name: str) -> int | None:
        return self.lines.get(name, self.line)


@dataclass(frozen=True)
class Issue:
    """A problem found in a jobs file: where it is, which field, and what is wrong and allowed."""

    line: int | None
    field: str | None
    message: str
    record: int | None = None
    job: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"record {self.record}" if self.record else "file"
        if self.job:
            where += f" (job '{self.job}')"
        return f"{where}, field '{self.field}': {self.message}" if self.field else f"{where}: {self.message}"


class JobsFileError(ValueError):
    """The jobs file cannot be used; ``issues`` lists every problem found (line, field, what is allowed)."""

    def __init__(self, path: Path, issues: list[Issue]):
        self.path = Path(path)
        self.issues = list(issues)
        count = f"{len(self.issues)} problem" + ("s" if len(self.issues) != 1 else "")
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"{self.path}: {count} in the jobs file; nothing was rendered:\n{lines}")


def normalize_field(name: Any) -> str:
    """``" Output Name"`` → ``"output_name"``: lower case, runs of spaces/hyphens/underscores → one ``_``."""
    return re.sub(r"[\s\-_]+", "_", str(name).strip().lower()).strip("_")


def read_records(path: Path) -> tuple[list[RawRecord], list[Issue]]:
    """All readable job records of ``path`` in file order, and the syntax problems of the others (a JSON line that
    does not parse, a CSV row with too many values; a YAML syntax error spoils the whole file).

    Raises:
        JobsFileError: unknown extension, unreadable file, or no job at all.
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        allowed = ", ".join(FORMATS)
        raise JobsFileError(path, [Issue(None, None, f"unknown jobs file type '{path.suffix}'; allowed: {allowed}")])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such jobs file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise JobsFileError(path, [Issue(None, None, f"cannot read the file as UTF-8 text ({err})")]) from err
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json, "yaml": _read_yaml}[kind]
    records, issues = reader(text)
    if not records:
        raise JobsFileError(path, issues or [Issue(None, None, "the file holds no jobs")])
    return records, issues


def _read_csv(text: str) -> tuple[list[RawRecord], list[Issue]]:
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    delimiter = ";" if ";" in first and "," not in first else ","  # spreadsheets in some locales write ';'
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    records: list[RawRecord] = []
    issues: list[Issue] = []
    try:
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            if reader.line_num > start:  # a quoted value ran over the end of its line
                extra = reader.line_num - start
                message = (f"a quoted value runs from line {start} over {extra} more line(s): an unterminated quote? "
                           'Each job must fit on one line (write a literal quote in a value as "")')  # fmt: skip
                issues.append(Issue(start, None, message))
                continue
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue  # blank row or comment
            if header is None:
                header, header_line = [normalize_field(c) for c in row], start
                issues += _header_issues(header, header_line)
                continue
            if len(row) > len(header):
                msg = f"has {len(row)} values but the header (line {header_line}) names {len(header)} columns"
                issues.append(Issue(start, None, msg + "; quote values that contain the delimiter"))
                continue
            values = {name: cell for name, cell in zip(header, row, strict=False) if name}
            records.append(RawRecord(len(records) + 1, start, values, header_line=header_line))
    except csv.Error as err:
        issues.append(Issue(reader.line_num, None, f"not valid CSV ({err})"))
    return records, issues


def _header_issues(header: list[str], line: int) -> list[Issue]:
    issues = []
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            issues.append(Issue(line, name, "the column appears twice in the header; each field once"))
        seen.add(name)
    return issues


def _object_record(obj: Any, number: int, line: int | None) -> tuple[RawRecord | None, Issue | None]:
    if not isinstance(obj, dict):
        return None, Issue(line, None, f"expected an object of fields, got {type(obj).__name__}", record=number)
    return RawRecord(number, line, {normalize_field(k): v for k, v in obj.items()}), None


def _read_jsonl(text: str) -> tuple[list[RawRecord], list[Issue]]:
    records: list[RawRecord] = []
    issues: list[Issue] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            issues.append(Issue(lineno, None, f"not valid JSON ({err.msg} at column {err.colno})"))
            continue
        except RecursionError:
            issues.append(Issue(lineno, None, "the JSON is nested too deeply; a job is one flat object"))
            continue
        record, issue = _object_record(obj, len(records) + 1, lineno)
        if record is not None:
            records.append(record)
        else:
            issues.append(issue)
    return records, issues


def _read_json(text: str) -> tuple[list[RawRecord], list[Issue]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return [], [Issue(err.lineno, None, f"not valid JSON ({err.msg} at column {err.colno})")]
    except RecursionError:
        return [], [Issue(None, None, "the JSON is nested too deeply; a jobs file is an array of flat objects")]
    if isinstance(data, dict) and isinstance(data.get("jobs"), list):
        data = data["jobs"]
    if not isinstance(data, list):
        return [], [Issue(None, None, 'a .json jobs file must hold an array of job objects (or {"jobs": [...]})')]
    records, issues = [], []
    for number, obj in enumerate(data, start=1):
        record, issue = _object_record(obj, number, None)
        records.append(record) if record is not None else issues.append(issue)
    return records, issues


def _read_yaml(text: str) -> tuple[list[RawRecord], list[Issue]]:
    import yaml

    try:
        for token in yaml.scan(text):
            if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
                line = token.start_mark.line + 1
                return [], [Issue(line, None, "YAML anchors and aliases (& and *) are not allowed in a jobs file; "
                                  "write every job out")]  # fmt: skip
    except yaml.YAMLError:
        pass  # the parser below reports the syntax error with its line
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return [], [Issue(line, None, f"not valid YAML ({getattr(err, 'problem', None) or err})")]
    finally:
        loader.dispose()
    if isinstance(data, dict) and isinstance(data.get("jobs"), list):
        node = next(v for k, v in node.value if k.value == "jobs")
        data = data["jobs"]
    if not isinstance(data, list):
        return [], [Issue(None, None, "a YAML jobs file must hold a list of jobs (or a mapping with a 'jobs' list)")]
    records, issues = [], []
    for number, (obj, item_node) in enumerate(zip(data, node.value, strict=True), start=1):
        record, issue = _object_record(obj, number, item_node.start_mark.line + 1)
        if record is None:
            issues.append(issue)
            continue
        if isinstance(item_node, yaml.MappingNode):
            record.lines = {normalize_field(k.value): v.start_mark.line + 1 for k, v in item_node.value}
        records.append(record)
    return records, issues
