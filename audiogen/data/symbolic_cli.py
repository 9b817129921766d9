"""``audiogen data build-symbolic``: rendered symbolic music with exact labels.

Two sources: the procedural composer (:mod:`audiogen.compose.composer`), whose parameters are the labels, balanced
over every genre × emotion cell, and pieces from music21's bundled corpus (:mod:`audiogen.data.symbolic`),
labelled by score analysis. Audio goes to ``OUT/composer/`` and ``OUT/music21/``, the records to
``OUT/manifest.jsonl``. Everything follows from the seed. A rerun with the same arguments skips pieces already
rendered; the manifest is rewritten atomically every few pieces and at the end.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiogen.audio import SAMPLE_RATE, save_audio
from audiogen.conditioning.emotions import EMOTIONS
from audiogen.data.manifest import Record, iter_manifest, split_for_track, write_manifest

FORMATS = ("flac", "ogg", "wav")
GENRE_WORDS = {"lofi": "lo-fi", "cinematic": "cinematic orchestral"}
_SAVE_EVERY = 20


@dataclass(frozen=True)
class BuildConfig:
    """Where and how pieces are rendered."""

    out: Path
    seed: int = 0
    duration: float = 30.0
    soundfonts: tuple[str, ...] = ()  # SF2 files; empty: pretty_midi's TimGM6mb
    fmt: str = "flac"
    valid_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.fmt!r}")
        if not 2 <= self.duration <= 600:
            raise ValueError(f"duration must be in [2, 600] seconds, got {self.duration}")
        if not 0 <= self.valid_fraction < 1:
            raise ValueError(f"valid fraction must be in [0, 1), got {self.valid_fraction}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not self.soundfonts:
            from audiogen.data.render import default_soundfont

            object.__setattr__(self, "soundfonts", (str(default_soundfont()),))


def register(data_sub) -> None:
    """Add ``build-symbolic`` to the ``audiogen data`` group."""
    p = data_sub.add_parser(
        "build-symbolic",
        help="render composer and music21 pieces to audio with exact labels",
        description="Compose pieces balanced over genres x emotions and render them (plus, optionally, music21 "
        "corpus pieces) to 32 kHz mono audio under OUT, with OUT/manifest.jsonl. Reruns skip finished pieces.",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--hours", type=float, default=1.0, help="hours of composer pieces (default 1)")
    p.add_argument("--pieces", type=int, default=None, help="number of composer pieces (overrides --hours)")
    p.add_argument("--music21-hours", type=float, default=0.0, help="hours of music21 corpus pieces (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed: the same seed rebuilds the same corpus (default 0)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per piece (default 30)")
    p.add_argument(
        "--soundfont",
        action="append",
        default=None,
        metavar="SF2",
        help="SoundFont(s); each piece picks one (seeded). 'default' = pretty_midi's TimGM6mb. "
        "Repeatable (default: default)",
    )
    p.add_argument("--format", default="flac", choices=FORMATS, help="audio format (default flac)")
    p.add_argument("--valid-fraction", type=float, default=0.1, help="share of pieces held out (default 0.1)")
    p.add_argument("--jobs", type=int, default=1, help="rendering processes (default 1)")
    p.set_defaults(func=_build_command)


def _build_command(args: argparse.Namespace) -> int:
    from audiogen.data.render import check_soundfont, default_soundfont

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    if args.hours < 0 or args.music21_hours < 0:
        raise ValueError("--hours and --music21-hours must be >= 0")
    fonts = tuple(
        str(default_soundfont() if s == "default" else check_soundfont(s)) for s in args.soundfont or ["default"]
    )
    cfg = BuildConfig(args.out, args.seed, args.duration, fonts, args.format, args.valid_fraction)
    n = args.pieces if args.pieces is not None else math.ceil(args.hours * 3600 / args.duration)
    if n < 0:
        raise ValueError(f"--pieces must be >= 0, got {n}")
    summary = build(cfg, n, args.music21_hours * 3600, jobs=args.jobs)
    print(
        f"wrote {summary['records']} records ({summary['hours']:.2f} h) to {cfg.out / 'manifest.jsonl'}; "
        f"rendered {summary['rendered']}, reused {summary['reused']}, music21 skipped {summary['skipped']}"
    )
    for reason in summary["skip_reasons"][:20]:
        print(f"skipped {reason}")
    return 0


def composer_cells(n: int, seed: int) -> list[tuple[str, str]]:
    """``(genre, emotion)`` for pieces 0..n-1: every genre × emotion cell once per round, rounds shuffled."""
    from audiogen.compose.genres import GENRE_TEMPLATES

    cells = [(g, e) for e in EMOTIONS for g in GENRE_TEMPLATES]
    out: list[tuple[str, str]] = []
    for r in range(math.ceil(n / len(cells))):
        perm = np.random.default_rng([seed, r, 7]).permutation(len(cells))
        out += [cells[int(k)] for k in perm]
    return out[:n]


def article(word: str) -> str:
    """'a' or 'an' for ``word`` (by its first letter)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def composer_caption(p, insts: list[str], rng: np.random.Generator) -> str:
    """A caption from the parameters, e.g. 'a happy pop track in G major at 124 BPM with piano and drums'."""
    from audiogen.data.symbolic import join_words

    genre, key = GENRE_WORDS.get(p.genre, p.genre), f"{p.key} {p.mode}"
    what = join_words(insts)
    feel = "soft " if p.dynamics < 52 else ("loud " if p.dynamics > 92 else "")
    waltz = " in 3/4 time" if p.meter == 3 else ""
    templates = (
        f"{article(p.emotion)} {p.emotion} {genre} track in {key} at {round(p.tempo)} BPM with {what}",
        f"{feel}{p.emotion} {genre} music with {what}, {round(p.tempo)} BPM, {key}{waltz}",
        f"{article(genre)} {genre} piece that feels {p.emotion}: {what}, {key}, {round(p.tempo)} BPM",
    )
    return templates[int(rng.integers(len(templates)))]


def composer_record(i: int, cell: tuple[str, str], cfg: BuildConfig) -> Record:
    """Compose, render and save composer piece ``i``; return its manifest record."""
    from audiogen.compose.composer import compose, describe, sample_params
    from audiogen.data.render import loudness_target, normalise, render_midi, soundfont_licence
    from audiogen.data.symbolic import instrument_words

    genre, emotion = cell
    p = sample_params(np.random.default_rng([cfg.seed, i]), genre, emotion, duration=cfg.duration)
    font = cfg.soundfonts[int(np.random.default_rng([cfg.seed, i, 1]).integers(len(cfg.soundfonts)))]
    rel = f"composer/{i:05d}-{genre}-{emotion}.{cfg.fmt}"
    pm = compose(p)
    audio, info = normalise(render_midi(pm, p.duration, soundfont=font), loudness_target(p.dynamics))
    save_audio(cfg.out / rel, audio)
    insts = instrument_words(
        [p.instruments[r] for r in ("melody", "chords", "pad", "arp", "bass") if r in p.instruments]
    )
    insts += ["drums"] if p.drums else []
    track = f"composer-{cfg.seed}-{i:05d}"
    tags = list(dict.fromkeys([genre, *insts, emotion]))
    melody = next(inst for inst in pm.instruments if inst.name == "melody")
    desc = {**p.to_dict(), **describe(p), "melody_notes": len(melody.notes), "soundfont": Path(font).name, **info}
    return Record(
        path=rel,
        duration=p.duration,
        sample_rate=SAMPLE_RATE,
        source="composer",
        licence=f"CC0-1.0 (generated); rendered with {soundfont_licence(font)}",
        split=split_for_track(track, cfg.valid_fraction),
        track=track,
        title=f"composer piece {i} ({genre}, {emotion})",
        caption=composer_caption(p, insts, np.random.default_rng([cfg.seed, i, 2])),
        emotion=emotion,
        valence=p.valence,
        arousal=p.arousal,
        tempo=p.tempo,
        key=p.key,
        mode=p.mode,
        tags=tags,
        label_method="composer-parameters",
        descriptors=desc,
    )


def music21_record(j: int, kind: str, relpath: str, cfg: BuildConfig) -> Record | str:
    """Render corpus work ``relpath`` as piece ``j``; return its record, or the reason it was skipped."""
    from audiogen.data import symbolic
    from audiogen.data.render import loudness_target, normalise, render_midi, soundfont_licence

    rng = np.random.default_rng([cfg.seed, 21, j])
    font = cfg.soundfonts[int(np.random.default_rng([cfg.seed, 21, j, 1]).integers(len(cfg.soundfonts)))]
    try:
        piece = symbolic.make_piece(symbolic.parse_work(relpath, rng), kind, rng, max_seconds=cfg.duration)
        audio, info = normalise(
            render_midi(piece.midi, piece.duration, soundfont=font), loudness_target(piece.dynamics)
        )
    except (symbolic.ScoreError, ValueError) as err:
        return f"{relpath}: {err}"
    stem = Path(relpath).with_suffix("").name.replace(" ", "_")
    rel = f"music21/{j:05d}-{stem}.{cfg.fmt}"
    save_audio(cfg.out / rel, audio)
    title, caption, tags = symbolic.describe_piece(piece, kind, relpath)
    track = f"music21:{relpath}"
    desc = {
        "kind": kind,
        "corpus_path": relpath,
        "ensemble": piece.ensemble,
        "programs": piece.programs,
        "dynamics": piece.dynamics,
        "key_strength": piece.key_strength,
        "note_rate": piece.note_rate,
        "complete": piece.complete,
        "soundfont": Path(font).name,
        **info,
    }
    return Record(
        path=rel,
        duration=piece.duration,
        sample_rate=SAMPLE_RATE,
        source="music21",
        licence=f"{symbolic.LICENCE}; rendered with {soundfont_licence(font)}",
        split=split_for_track(track, cfg.valid_fraction),
        track=track,
        title=title,
        caption=caption,
        emotion=piece.emotion,
        valence=piece.valence,
        arousal=piece.arousal,
        tempo=piece.tempo,
        key=piece.key,
        mode=piece.mode,
        tags=tags,
        label_method="score-analysis",
        descriptors=desc,
    )


def _ordered(fn: Callable, tasks: Iterable[tuple], jobs: int) -> Iterator:
    """``fn(*task)`` for each task, results in task order; ``jobs`` > 1 runs them in worker processes."""
    if jobs == 1:
        for task in tasks:
            yield fn(*task)
        return
    with ProcessPoolExecutor(jobs) as pool:
        window: list = []
        try:
            for task in tasks:
                window.append(pool.submit(fn, *task))
                if len(window) >= 2 * jobs:
                    yield window.pop(0).result()
            while window:
                yield window.pop(0).result()
        finally:
            for f in window:
                f.cancel()


def build(cfg: BuildConfig, n_composer: int, music21_seconds: float = 0.0, jobs: int = 1, log=print) -> dict:
    """Render ``n_composer`` composer pieces and about ``music21_seconds`` of corpus pieces under ``cfg.out``.

    Pieces whose audio and record already exist (same path in an existing manifest) are reused. Returns a summary:
    records, hours, rendered, reused, skipped (corpus works that failed, with ``skip_reasons``).
    """
    manifest = cfg.out / "manifest.jsonl"
    old = {r.path: r for r in iter_manifest(manifest)} if manifest.is_file() else {}
    current = dict(old)
    stats = {"rendered": 0, "reused": 0, "skipped": 0, "skip_reasons": []}
    t0 = time.time()

    def keep(rec: Record, fresh: bool) -> None:
        current[rec.path] = rec
        stats["rendered" if fresh else "reused"] += 1
        if fresh and stats["rendered"] % _SAVE_EVERY == 0:
            write_manifest(manifest, sorted(current.values(), key=lambda r: r.path))
            log(f"{len(current)} records, {stats['rendered']} rendered in {time.time() - t0:.0f} s")

    chosen: list[str] = []
    todo = []
    for i, cell in enumerate(composer_cells(n_composer, cfg.seed)):
        rel = f"composer/{i:05d}-{cell[0]}-{cell[1]}.{cfg.fmt}"
        chosen.append(rel)
        if rel in old and (cfg.out / rel).is_file():
            keep(old[rel], False)
        else:
            todo.append((i, cell, cfg))
    for rec in _ordered(composer_record, todo, jobs):
        keep(rec, True)
    chosen += _music21(cfg, music21_seconds, old, keep, stats, jobs)
    records = [current[p] for p in chosen]
    write_manifest(manifest, records)
    hours = sum(r.duration for r in records) / 3600
    return {**stats, "records": len(records), "hours": hours, "seconds": round(time.time() - t0, 1)}


def _music21_piece(j: int, kind: str, rel: str, cfg: BuildConfig, reuse: Record | None):
    """``(record or skip reason, freshly rendered?)`` for corpus work ``rel`` (a worker-process entry point)."""
    return (reuse, False) if reuse is not None else (music21_record(j, kind, rel, cfg), True)


def _music21(cfg: BuildConfig, seconds: float, old: dict, keep, stats: dict, jobs: int) -> list[str]:
    """Corpus pieces in the seeded, kind-interleaved order until ``seconds`` of audio; returns their paths."""
    if seconds <= 0:
        return []
    from audiogen.data import symbolic

    by_track = {r.track: r for r in old.values() if r.source == "music21" and (cfg.out / r.path).is_file()}
    order = symbolic.work_order(symbolic.list_works(), cfg.seed)
    chosen: list[str] = []
    total = 0.0

    def tasks():  # lazy: stops once enough audio is in (pieces already in flight are kept)
        for j, (kind, rel) in enumerate(order):
            if total >= seconds:
                return
            yield j, kind, rel, cfg, by_track.get(f"music21:{rel}")

    for rec, fresh in _ordered(_music21_piece, tasks(), jobs):
        if total >= seconds:  # finished in parallel after the target was reached: drop, so any --jobs agrees
            if fresh and not isinstance(rec, str):
                (cfg.out / rec.path).unlink(missing_ok=True)
            continue
        if isinstance(rec, str):
            stats["skipped"] += 1
            stats["skip_reasons"].append(rec)
            continue
        keep(rec, fresh)
        chosen.append(rec.path)
        total += rec.duration
    return chosen
