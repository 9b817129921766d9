"""The jobs file of a batch render: one brief per record, checked completely before anything is rendered.

Fields (``id`` and ``duration`` are required, a video job's duration is its video's length; at least one of text,
emotion, valence/arousal, style, reference, image or video):

==========  =====================================================================================================
id          unique name of the brief (also the default output name)
text        what the music should be, in words
emotion     an emotion label (see :mod:`audiogen.conditioning.emotions`), or give ``valence`` and ``arousal``
style       style tags separated by ``;`` or ``,`` (a list in JSON/YAML); see :mod:`audiogen.conditioning.styles`
reference   a reference clip whose style to follow; a path relative to the jobs file
image       a picture whose colours set the mood and style the brief leaves open; a path relative to the jobs file
video       a video to score (sections change on its cuts); a path relative to the jobs file; not with ``image``
            or ``ending`` ``loop``; ``duration`` may be left out (a given one must match the video's length)
tempo       beats per minute, 40–220
key         e.g. ``A minor``, ``F#``, ``Bb major``, ``Am``
duration    seconds, 1–600
variants    how many different renders of the brief (1–100, default 1); each gets its own seed
seed        random seed of the first variant (0 ≤ seed < 2**32; default: derived from the id)
loudness    ``streaming`` (−14 LUFS, default), ``ebu-r128`` (−23), ``atsc-a85`` (−24), or a LUFS number in [−40, −5]
ending      ``fade`` (default), ``none`` or ``loop``
bitrate     MP3 kbps (default 192), one of :data:`audiogen.audio.MP3_BITRATES`
originality the check against the model's training music: ``check``, ``strict`` (a flagged track is made again
            with the next seed) or ``off``; default: the command's ``--originality``, else the model's (``check``)
output      output file name without folder (default: the id); ``.mp3`` is added, and ``-v1``, ``-v2``, ... when
            there are several variants
notes       free text carried into the manifest
==========  =====================================================================================================

The request's fields (text to duration, and seed) take their ranges and messages from the request's table
(:mod:`audiogen.request_fields`); the rest are the batch's own.

Output names are plain file names: no folders, no ``..``, no control or reserved characters, so nothing can be
written outside the output folder; two jobs may not produce the same file name (compared case-insensitively).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiogen import request_fields
from audiogen.audio import MP3_BITRATES, AudioError, audio_info
from audiogen.conditioning.emotions import check_point
from audiogen.conditioning.styles import check_tag
from audiogen.fileio import file_sha256
from audiogen.mastering.spec import ENDINGS, LOUDNESS_PRESETS, MasteringSpec, resolve_loudness
from audiogen.render.names import check_output_name, name_from_id
from audiogen.render.originality import check_mode
from audiogen.render.readers import Issue, JobsFileError, RawRecord, read_records

# a job: its id, the request's fields (audiogen/request_fields.py), then how many, how and where it is written
FIELDS = ("id", *request_fields.names(request_fields.JOBS), "variants", "seed", "loudness", "ending", "bitrate",
          "originality", "output", "notes")  # fmt: skip
REQUIRED = ("id", "duration")
NEEDS = "id and duration (a video job: id and video)"
ALIASES = {"output_name": "output", "prompt": "text", "tags": "style", "bpm": "tempo", "lufs": "loudness"}
CONDITIONING = tuple(f for f in request_fields.CONDITIONING if f in FIELDS)
# request fields every job passes to generate, set or not (its ledger identity: see Item.params)
_ALWAYS_PASSED = ("text", "emotion", "valence", "arousal", "style", "reference", "tempo", "key", "duration")
VARIANTS_RANGE = (1, 100)
SEED_RANGE = request_fields.SEED_RANGE
MAX_TEXT = 2000


@dataclass(frozen=True)
class Job:
    """One validated brief. ``line`` (or ``record``) says where it is in the jobs file."""

    id: str
    duration: float
    text: str | None = None
    emotion: str | None = None
    valence: float | None = None
    arousal: float | None = None
    style: tuple[str, ...] | None = None
    reference: Path | None = None
    image: Path | None = None
    video: Path | None = None
    tempo: float | None = None
    key: str | None = None
    variants: int = 1
    seed: int = 0
    loudness: str | float = "streaming"
    ending: str = "fade"
    bitrate: int = 192
    originality: str | None = None
    output: str = ""
    notes: str | None = None
    line: int | None = None
    record: int = 0

    def mastering(self) -> MasteringSpec:
        """The mastering settings of every variant: loudness target, −1 dBTP ceiling, exact length, ending."""
        return MasteringSpec(loudness=self.loudness, duration=self.duration, ending=self.ending)

    def items(self) -> list[Item]:
        """The job's variants, each with its own seed and file name."""
        width = len(str(self.variants))

        def file(v: int) -> str:
            return f"{self.output}-v{v:0{width}d}.mp3" if self.variants > 1 else f"{self.output}.mp3"

        return [Item(self, v, variant_seed(self.seed, v), file(v)) for v in range(1, self.variants + 1)]


@dataclass(frozen=True)
class Item:
    """One track to render: a job's ``variant`` (1-based) with its ``seed`` and output ``file`` name."""

    job: Job
    variant: int
    seed: int
    file: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.job.id, self.variant)

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``MusicGenerator.generate`` (mastering included)."""
        job = self.job
        kwargs: dict[str, Any] = {}
        for name in request_fields.names(request_fields.JOBS):
            value = getattr(job, name)
            if isinstance(value, Path):
                value = str(value)
            elif name == "style":
                value = list(value) if value else None
            # fields added since the first ledgers only when given, so other briefs' identities stay as they were
            if name in _ALWAYS_PASSED or value is not None:
                kwargs[name] = value
        if job.originality not in (None, "check"):  # the default left out: ledger identities stay as they were
            kwargs["originality"] = job.originality
        return {**kwargs, "seed": self.seed, "mastering": job.mastering(), "progress": False}

    def params(self, model: str) -> str:
        """Everything the rendered file depends on, as canonical JSON: a changed brief or model is rendered anew."""
        kw = self.generate_kwargs()
        kw.update(mastering=kw["mastering"].to_dict(), bitrate=self.job.bitrate, file=self.file, model=model)
        del kw["progress"]
        for name in ("reference", "image", "video"):
            source = getattr(self.job, name)
            if source is not None:
                kw[f"{name}_sha256"] = file_sha256(source)
        return json.dumps(kw, sort_keys=True)


def variant_seed(seed: int, variant: int) -> int:
    """Seed of ``variant`` (1-based): the job seed itself for variant 1 (so a single render can be reproduced with
    the same seed elsewhere), a hash of (seed, variant) in [0, 2**31) for the others."""
    if variant == 1:
        return seed
    digest = hashlib.sha256(f"{seed}:{variant}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def default_seed(job_id: str) -> int:
    """The seed of a job that gives none: a checksum of its id, stable across runs and machines."""
    return zlib.crc32(job_id.encode("utf-8")) & 0x7FFFFFFF


# ---- value checks: each takes a raw value (a string from CSV, a JSON/YAML value otherwise) ----


def _validate():
    """:mod:`audiogen.conditioning.validate`, imported when first needed (it imports torch, which worker processes
    that only unpickle jobs should not pay for)."""
    from audiogen.conditioning import validate

    return validate


MAX_MESSAGE = 300  # characters of one problem's message: a bad value is quoted as an excerpt, never whole


def excerpt(value: Any, limit: int = 60) -> str:
    """A bounded ``repr`` of a bad value for a message (containers are never expanded)."""
    if isinstance(value, (dict, list, tuple, set)):
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _string(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    raise ValueError(f"expected text, got {type(value).__name__}")


def _number(value: Any, allowed: str) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{excerpt(value)} is not a number; allowed: {allowed}")


def _integer(value: Any, low: int, high: int) -> int:
    allowed = f"a whole number in [{low}, {high}]"
    number = _number(value, allowed)
    if not number.is_integer() or not low <= number <= high:
        raise ValueError(f"{excerpt(value)} is not allowed; allowed: {allowed}")
    return int(number)


def _check_id(value: Any, _base: Path) -> str:
    text = _string(value)
    if len(text) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("an id must be at most 200 printable characters")
    return text


def _check_text(value: Any, _base: Path) -> str:
    text = _string(value)
    if len(text) > MAX_TEXT:
        raise ValueError(f"text is {len(text)} characters long; allowed: at most {MAX_TEXT}")
    return text


def _check_unit(value: Any, _base: Path) -> float:
    return _number(value, "a number in [-1, 1]")  # the range is checked with its partner (check_point)


def _check_style(value: Any, _base: Path) -> tuple[str, ...]:
    parts = value if isinstance(value, list) else _string(value).replace(";", ",").split(",")
    tags = [_string(p) for p in parts if _string(p)]
    if not tags:
        raise ValueError("no tags given; separate several tags with ';' or ','")
    return tuple(dict.fromkeys(check_tag(t) for t in tags))


def _check_reference(value: Any, base: Path) -> Path:
    path = Path(_string(value)).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise ValueError(f"no such clip: {path} (a reference is an audio file, relative to the jobs file)")
    try:
        audio_info(path)
    except AudioError as err:
        raise ValueError(f"not a readable audio clip ({err})") from None
    return path


def _brief_path(value: Any, base: Path) -> Path:
    path = Path(_string(value)).expanduser()
    return path if path.is_absolute() else base / path


def _check_image(value: Any, base: Path) -> Path:
    from audiogen.brief.image import read_image

    path = _brief_path(value, base)
    read_image(path)  # a missing, unsupported or unreadable picture: a ValueError saying what is allowed
    return path


def _check_video(value: Any, base: Path) -> Path:
    from audiogen.brief.video import read_video

    path = _brief_path(value, base)
    read_video(path)  # decoded now (and kept): a bad video is reported before anything is rendered
    return path


def _check_key(value: Any, _base: Path) -> str:
    tonic, mode = _validate().check_key_mode(_string(value), None)
    return f"{tonic} {mode}" if mode else tonic


def _check_loudness(value: Any, _base: Path) -> str | float:
    resolve_loudness(value)
    text = _string(value).lower()
    return text if text in LOUDNESS_PRESETS else float(text)


def _check_ending(value: Any, _base: Path) -> str:
    text = _string(value).lower()
    if text not in ENDINGS:
        raise ValueError(f"unknown ending {excerpt(value)}; allowed: {', '.join(ENDINGS)}")
    return text


def _check_bitrate(value: Any, _base: Path) -> int:
    text = _string(value).lower().removesuffix("kbps").removesuffix("k").strip()
    allowed = f"MP3 kbps, one of {', '.join(map(str, MP3_BITRATES))}"
    if _number(text, allowed) not in MP3_BITRATES:
        raise ValueError(f"bitrate {excerpt(value)} is not allowed; allowed: {allowed}")
    return int(float(text))


def _request_number(name: str):
    """The check of a numeric request field: the request's own (:mod:`audiogen.request_fields`), on a number read
    from the file."""
    field = request_fields.BY_NAME[name]
    return lambda value, _base: field.checked(_number(value, field.allowed))


CHECKS = {
    "id": _check_id,
    "text": _check_text,
    "emotion": lambda v, _b: request_fields.check_field("emotion", _string(v)),
    "valence": _check_unit,
    "arousal": _check_unit,
    "style": _check_style,
    "reference": _check_reference,
    "image": _check_image,
    "video": _check_video,
    "tempo": _request_number("tempo"),
    "key": _check_key,
    "duration": _request_number("duration"),
    "variants": lambda v, _b: _integer(v, *VARIANTS_RANGE),
    "seed": _request_number("seed"),
    "loudness": _check_loudness,
    "ending": _check_ending,
    "bitrate": _check_bitrate,
    "originality": lambda v, _b: check_mode(v),
    "output": lambda v, _b: check_output_name(_string(v)),
    "notes": lambda v, _b: _string(v),
}


def _unknown_field(name: str) -> str:
    near = difflib.get_close_matches(name, [*FIELDS, *ALIASES], n=1, cutoff=0.6)
    hint = f" Did you mean '{ALIASES.get(near[0], near[0])}'?" if near else ""
    return f"unknown field.{hint} Allowed fields: {', '.join(FIELDS)}"


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


class _Checker:
    """Checks one record, collecting every problem as an :class:`Issue`."""

    def __init__(self, record: RawRecord, base: Path, missing_columns: set[str]):
        self.record, self.base, self.missing_columns = record, base, missing_columns
        self.issues: list[Issue] = []
        self.present: set[str] = set()  # canonical names of the fields the record has (even if empty)
        self.given: set[str] = set()  # ... and of those with a value (even if invalid)
        raw_id = record.fields.get("id")
        self.job_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else None

    def issue(self, name: str | None, message: str) -> None:
        line = self.record.line_of(name) if name else self.record.line
        name = name if name is None or len(name) <= 60 else name[:57] + "..."
        message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
        job = self.job_id if self.job_id is None or len(self.job_id) <= 60 else self.job_id[:57] + "..."
        self.issues.append(Issue(line, name, message, record=self.record.number, job=job))

    def values(self) -> dict[str, Any]:
        """Canonical values of the fields given (problems recorded, bad fields left out)."""
        out: dict[str, Any] = {}
        for raw_name, value in self.record.fields.items():
            name = ALIASES.get(raw_name, raw_name)
            if name not in CHECKS:
                self.issue(raw_name, _unknown_field(raw_name))
                continue
            if name in self.present:
                self.issue(raw_name, f"'{name}' is given twice (also under another name); give it once")
                continue
            self.present.add(name)
            if _is_empty(value):
                continue
            self.given.add(name)
            try:
                out[name] = CHECKS[name](value, self.base)
            except ValueError as err:
                self.issue(name, str(err))
        for name in REQUIRED:
            if name == "duration" and "video" in self.given:
                continue  # a video job lasts as long as its video
            if name not in self.present and name not in self.missing_columns:
                self.issue(name, f"missing; every job needs {NEEDS}")
            elif name in self.present and name not in self.given:
                self.issue(name, f"empty; every job needs {NEEDS}")
        return out

    def _check_brief(self, values: dict[str, Any]) -> None:
        """An image or a video job: not both, a video's length as the duration, no loop ending with a video."""
        if "image" in self.given and "video" in self.given:
            self.issue("video", "give image (a picture) or video (a video), not both")
            return
        if "video" not in values:
            return
        from audiogen.brief.video import read_video

        length = read_video(values["video"]).duration
        if "duration" in values and abs(values["duration"] - length) > 0.5 / max(read_video(values["video"]).fps, 1):
            self.issue("duration", f"{values['duration']:g} s differs from the video's length ({length:.3f} s); "
                       "leave it empty for a video job")  # fmt: skip
        values["duration"] = length
        if values.get("ending") == "loop":
            self.issue("ending", "a video job ends on the video's last frame; allowed: fade, none")

    def _check_emotion_point(self, values: dict[str, Any]) -> None:
        if ("valence" in self.given) != ("arousal" in self.given):
            missing = "arousal" if "valence" in self.given else "valence"
            self.issue(missing, "give both valence and arousal (each in [-1, 1]), or neither")
        elif "valence" in values and "arousal" in values:
            for name in ("valence", "arousal"):
                try:
                    check_point(values[name], 0.0)
                except ValueError:
                    self.issue(name, f"{name} must be a number in [-1, 1], got {values[name]:g}")

    def job(self) -> Job | None:
        """The validated job, or None if the record has problems."""
        values = self.values()
        self._check_emotion_point(values)
        self._check_brief(values)
        if not self.given & set(CONDITIONING):
            self.issue(None, "nothing to render from: give at least one of " + ", ".join(CONDITIONING))
        if "output" not in self.given and "id" in values:
            try:
                values["output"] = name_from_id(values["id"])
            except ValueError as err:
                self.issue("id", f"{err}; give an 'output' name for this job")
        if self.issues or not all(name in values for name in (*REQUIRED, "output")):
            return None
        values.setdefault("seed", default_seed(values["id"]))
        return Job(**values, line=self.record.line, record=self.record.number)


def _where(job: Job) -> str:
    return f"line {job.line}" if job.line is not None else f"record {job.record}"


def _duplicates(jobs: list[Job]) -> list[Issue]:
    """Two jobs with one id, or two tracks with one file name (case-insensitive: some file systems ignore case)."""
    issues: list[Issue] = []
    ids: dict[str, Job] = {}
    files: dict[str, Job] = {}
    for job in jobs:
        first = ids.setdefault(job.id, job)
        if first is not job:
            msg = f"id '{job.id}' is already used ({_where(first)}); ids must be unique"
            issues.append(Issue(job.line, "id", msg, job.record, job.id))
            continue
        for item in job.items():
            other = files.setdefault(item.file.casefold(), job)
            if other is not job:
                msg = (
                    f"file name '{item.file}' is also produced by job '{other.id}' ({_where(other)}); "
                    "output names must be unique (case is ignored)"
                )
                issues.append(Issue(job.line, "output", msg, job.record, job.id))
                break
    return issues


def load_jobs(path: str | Path) -> list[Job]:
    """Read and check a whole jobs file (CSV, JSON lines or YAML, by extension).

    Returns:
        the jobs in file order.

    Raises:
        JobsFileError: with every problem found (line or record, field, what is allowed), not only the first.
        FileNotFoundError: the jobs file does not exist.
    """
    path = Path(path)
    records, issues = read_records(path)
    base = path.resolve().parent
    missing_columns: set[str] = set()
    header_line = records[0].header_line
    if header_line is not None:  # CSV: report a missing column once, at the header
        columns = {ALIASES.get(name, name) for name in records[0].fields}
        missing_columns = {name for name in REQUIRED if name not in columns}
        if "video" in columns:  # video jobs need no duration column; a job without a video is told per line
            missing_columns.discard("duration")
        for name in sorted(missing_columns, key=REQUIRED.index):
            issues.append(Issue(header_line, name, f"missing column; the header must name {' and '.join(REQUIRED)}"))
    jobs: list[Job] = []
    for record in records:
        checker = _Checker(record, base, missing_columns)
        job = checker.job()
        issues += checker.issues
        if job is not None:
            jobs.append(job)
    issues += _duplicates(jobs)
    if issues:
        raise JobsFileError(path, sorted(issues, key=lambda i: (i.line or 0, i.record or 0)))
    return jobs


def expand(jobs: list[Job]) -> list[Item]:
    """Every job × variant, in file order."""
    return [item for job in jobs for item in job.items()]
