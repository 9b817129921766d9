"""Pieces from music21's bundled corpus, orchestrated with General MIDI instruments and labelled by score analysis.

Only corpus folders whose works are out of copyright and whose encodings carry no restriction beyond the corpus'
general notice are used (:data:`CORPUS_FOLDERS`); :data:`EXCLUDED` says why the others are left out (the Palestrina
and CCARH Humdrum encodings reserve derivative formats, the Essen collection is licensed for non-commercial use
only, the Monteverdi encodings are copyright UT Orpheus, Schoenberg and Webern are 20th-century works). Each
piece gets a seeded ensemble (strings, organ, winds...), its tempo from the score's metronome mark or a seeded
default for its kind, its key and mode from music21's key analysis, and an emotion derived from mode, tempo and
note rate (``label_method = "score-analysis"``). Pieces longer than the requested length are cut at a bar line
(an "excerpt"); shorter ones are kept whole.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi

from audiogen.compose.composer import KEYS
from audiogen.compose.genres import INSTRUMENT_NAMES
from audiogen.conditioning.emotions import nearest_label

# corpus folder -> kind of music
CORPUS_FOLDERS: dict[str, str] = {
    "bach": "chorale",
    "ryansMammoth": "folk", "oneills1850": "folk", "airdsAirs": "folk", "miscFolk": "folk",
    "mozart": "classical", "haydn": "classical", "beethoven": "classical", "schumann_robert": "classical",
    "schumann_clara": "classical", "schubert": "classical", "handel": "classical", "corelli": "classical",
    "cpebach": "classical", "joplin": "classical", "beach": "classical", "liliuokalani": "classical",
    "johnson_j_r": "classical", "verdi": "classical", "weber": "classical",
    "trecento": "early music", "ciconia": "early music", "luca": "early music", "lusitano": "early music",
}  # fmt: skip
EXCLUDED: dict[str, str] = {
    "palestrina": "Humdrum encodings under a licence that reserves derivative electronic formats",
    "monteverdi": "encodings (c) UT Orpheus Edizioni",
    "essenFolksong": "permission for non-commercial use only",
    "leadSheet": "contains 'All Rights Reserved' material",
    "schoenberg": "20th-century works still in copyright in many countries",
    "webern": "20th-century works still in copyright in many countries",
    "*.krn": "CCARH Humdrum encodings reserve derivative electronic formats",
}
_SUFFIXES = (".mxl", ".xml", ".musicxml", ".abc")
LICENCE = "public domain (composition; encoding from the music21 corpus, see music21/corpus/license.txt)"
COMPOSERS = {
    "bach": "J. S. Bach", "mozart": "Mozart", "haydn": "Haydn", "beethoven": "Beethoven", "schubert": "Schubert",
    "schumann_robert": "Robert Schumann", "schumann_clara": "Clara Schumann", "handel": "Handel",
    "corelli": "Corelli", "cpebach": "C. P. E. Bach", "joplin": "Scott Joplin", "beach": "Amy Beach",
    "liliuokalani": "Liliuokalani", "johnson_j_r": "J. Rosamond Johnson", "verdi": "Verdi", "weber": "Weber",
    "ciconia": "Ciconia", "luca": "Luca", "lusitano": "Lusitano",
}  # fmt: skip
# Ensembles (top voice first) per kind of music; a piece's parts take programs from top to bottom.
ENSEMBLES: dict[str, tuple[int, ...]] = {
    "strings": (40, 40, 41, 42, 43), "organ": (19,), "piano": (0,), "woodwinds": (73, 68, 71, 70),
    "brass": (56, 60, 57, 58), "choir": (52,), "recorders": (74, 74, 71, 70), "harpsichord": (6,),
    "guitars": (24, 24, 25), "mixed": (73, 40, 42, 70),
}  # fmt: skip
KIND_ENSEMBLES = {
    "chorale": ("strings", "organ", "woodwinds", "brass", "choir", "piano"),
    "classical": ("strings", "piano", "woodwinds", "mixed", "harpsichord"),
    "early music": ("recorders", "choir", "strings", "organ", "guitars"),
}
FOLK_SOLO = (40, 73, 78, 21, 22, 0, 46, 105, 24, 71, 74)
# Seeded default tempo (beats per minute of the time signature's beat) when a score has no metronome mark.
DEFAULT_TEMPO = {"chorale": (60, 88), "folk": (92, 128), "classical": (66, 120), "early music": (56, 84)}
INSTRUMENT_NAMES_EXTRA = {6: "harpsichord", 19: "church organ"}


class ScoreError(ValueError):
    """A corpus file that cannot be parsed or holds nothing playable."""


@dataclass
class Piece:
    """A score made playable: its MIDI, length and the labels read from it."""

    midi: pretty_midi.PrettyMIDI
    duration: float
    tempo: float
    key: str
    mode: str
    key_strength: float
    valence: float
    arousal: float
    emotion: str
    dynamics: int
    programs: list[int]
    ensemble: str
    complete: bool
    title: str
    note_rate: float


def corpus_root() -> Path:
    """The folder of music21's bundled corpus."""
    from music21 import corpus

    return Path(corpus.__file__).parent


def list_works(root: Path | None = None) -> dict[str, list[str]]:
    """Corpus files we may use, grouped by kind: ``{kind: [path relative to the corpus root]}`` (sorted)."""
    root = root or corpus_root()
    works: dict[str, list[str]] = {}
    for folder, kind in CORPUS_FOLDERS.items():
        if (root / folder).is_dir():
            files = [p for p in (root / folder).rglob("*") if p.suffix.lower() in _SUFFIXES and p.is_file()]
            works.setdefault(kind, []).extend(str(p.relative_to(root)) for p in files)
    return {k: sorted(v) for k, v in works.items()}


def work_order(works: dict[str, list[str]], seed: int) -> list[tuple[str, str]]:
    """All works as ``[(kind, relpath)]``: shuffled within each kind (seeded), then interleaved kind by kind."""
    rng = np.random.default_rng([seed, 21])
    queues = {k: [v[i] for i in rng.permutation(len(v))] for k, v in sorted(works.items())}
    order = []
    for i in range(max((len(q) for q in queues.values()), default=0)):
        order += [(k, q[i]) for k, q in queues.items() if i < len(q)]
    return order


def parse_work(relpath: str, rng: np.random.Generator, root: Path | None = None):
    """Parse one corpus file to a music21 Score (one seeded tune of a multi-tune ABC book); ScoreError on failure."""
    from music21 import converter, stream

    path = (root or corpus_root()) / relpath
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = converter.parse(str(path))
    except Exception as err:  # music21 raises many exception types on malformed files
        raise ScoreError(f"{relpath}: cannot parse ({type(err).__name__}: {err})") from err
    if isinstance(s, stream.Opus):
        scores = list(s.scores)
        if not scores:
            raise ScoreError(f"{relpath}: the book holds no tunes")
        s = scores[int(rng.integers(len(scores)))]
    return s


def _tempo(score, kind: str, rng: np.random.Generator) -> tuple[float, float, bool]:
    """``(beats per minute, quarter lengths per beat, from the score?)`` for the score's time-signature beat."""
    from music21 import meter, tempo

    ts = next(iter(score.recurse().getElementsByClass(meter.TimeSignature)), None)
    beat_ql = float(ts.beatDuration.quarterLength) if ts is not None else 1.0
    mm = next(iter(score.recurse().getElementsByClass(tempo.MetronomeMark)), None)
    quarter_bpm = mm.getQuarterBPM() if mm is not None else None  # also reads "playback only" (sounding) marks
    if quarter_bpm:
        bpm = float(quarter_bpm) / beat_ql
        if 30 <= bpm <= 240:
            return round(bpm, 1), beat_ql, True
    lo, hi = DEFAULT_TEMPO[kind]
    return float(rng.integers(lo, hi + 1)), beat_ql, False


def emotion_from_score(mode: str, key_strength: float, bpm: float, note_rate: float) -> tuple[float, float, str]:
    """Valence/arousal and label from mode (valence sign, scaled by key clarity), tempo and notes per second.

    valence = ±(0.25 + 0.35·clarity); arousal = 0.65·tanh((bpm − 100)/40) + 0.35·tanh((notes/s − 4)/3).
    """
    clarity = float(np.clip(key_strength, 0, 1))
    v = (1 if mode == "major" else -1) * (0.25 + 0.35 * clarity)
    a = 0.65 * math.tanh((bpm - 100) / 40) + 0.35 * math.tanh((note_rate - 4) / 3)
    v, a = round(float(np.clip(v, -1, 1)), 3), round(float(np.clip(a, -1, 1)), 3)
    return v, a, nearest_label(v, a)


def _dynamic_curve(part) -> tuple[list[float], list[float]]:
    """Offsets and volume scalars (0..1) of the part's dynamic marks."""
    from music21 import dynamics

    marks = sorted((float(d.offset), float(d.volumeScalar or 0.5)) for d in part.getElementsByClass(dynamics.Dynamic))
    return [m[0] for m in marks], [m[1] for m in marks]


def _programs(n_parts: int, kind: str, rng: np.random.Generator) -> tuple[str, list[int]]:
    if kind == "folk" or (n_parts == 1 and rng.random() < 0.5):
        prog = int(rng.choice(FOLK_SOLO))
        return "solo", [prog] * n_parts
    name = str(rng.choice(KIND_ENSEMBLES.get(kind, KIND_ENSEMBLES["classical"])))
    ens = ENSEMBLES[name]
    idx = [0] if n_parts == 1 else [round(i * (len(ens) - 1) / (n_parts - 1)) for i in range(n_parts)]
    return name, [ens[i] for i in idx]


def score_to_midi(score, sec_per_ql: float, programs: list[int], velocity: int) -> pretty_midi.PrettyMIDI:
    """Score → PrettyMIDI at a fixed tempo: one instrument per part, ties joined, grace notes dropped, dynamic
    marks scaling ``velocity``, notes slightly detached (95 % of their value)."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=60.0 / sec_per_ql)
    parts = list(score.parts) or [score]
    for part, prog in zip(parts, programs, strict=True):
        flat = part.stripTies().flatten()
        offs, scal = _dynamic_curve(flat)
        inst = pretty_midi.Instrument(prog, name=str(part.partName or f"part {len(pm.instruments) + 1}"))
        for n in flat.notes:
            ql = float(n.quarterLength)
            if ql <= 0 or n.duration.isGrace or not hasattr(n, "pitches"):
                continue
            k = bisect.bisect_right(offs, float(n.offset)) - 1
            vel = int(np.clip(velocity + (80 * (scal[k] - 0.5) if k >= 0 else 0), 20, 120))
            start = float(n.offset) * sec_per_ql
            for pitch in n.pitches:
                inst.notes.append(pretty_midi.Note(vel, int(pitch.midi), start, start + 0.95 * ql * sec_per_ql))
        if inst.notes:
            pm.instruments.append(inst)
    return pm


def _skip_silences(pm: pretty_midi.PrettyMIDI, max_seconds: float, lead: float = 0.25, longest: float = 2.5) -> float:
    """Move the first note to ``lead`` seconds (opening rests dropped); return the shift in seconds.

    Raises ScoreError when the part that will be played falls silent for more than ``longest`` seconds (general
    pauses, unnotated chant between polyphonic sections): such stretches make poor training audio.
    """
    notes = sorted((n.start, n.end) for inst in pm.instruments for n in inst.notes)
    shift = max(0.0, notes[0][0] - lead)
    for inst in pm.instruments:
        for n in inst.notes:
            n.start, n.end = n.start - shift, n.end - shift
    reach = notes[0][1]
    for start, end in notes:
        if start - shift > max_seconds:
            break
        if start > reach + longest:
            raise ScoreError(f"a {start - reach:.1f} s silence at {reach - shift:.1f} s")
        reach = max(reach, end)
    return shift


def _cut(pm: pretty_midi.PrettyMIDI, bar_times: list[float], max_seconds: float, tail: float) -> tuple[float, bool]:
    """Cut ``pm`` at the last bar line that leaves ``tail`` seconds of release within ``max_seconds``.

    Returns ``(duration, complete)``; a piece that already fits is left whole (``complete``)."""
    end = pm.get_end_time()
    if end + tail <= max_seconds:
        return end + tail, True
    cands = [t for t in bar_times if max_seconds / 3 <= t <= max_seconds - tail]
    cut = max(cands) if cands else max_seconds - tail
    for inst in pm.instruments:
        inst.notes = [n for n in inst.notes if n.start < cut - 0.02]
        for n in inst.notes:
            n.end = min(n.end, cut)
    return cut + tail, False


def _head(score, max_ql: float):
    """The leading bars covering ``max_ql`` quarter lengths, plus two (the whole score if it is not longer).

    Taken before repeats are expanded and the key analysed, so a long movement costs what its opening costs.
    """
    part = score.parts[0] if len(score.parts) else score
    measures = list(part.getElementsByClass("Measure"))
    ends = [float(m.offset) + float(m.duration.quarterLength) for m in measures]
    n = next((i for i, e in enumerate(ends) if e >= max_ql), None)
    if n is None or n + 3 >= len(measures) or measures[0].number is None or measures[n + 2].number is None:
        return score
    return score.measures(measures[0].number, measures[n + 2].number)


def make_piece(score, kind: str, rng: np.random.Generator, max_seconds: float = 30.0, tail: float = 1.5) -> Piece:
    """Turn a parsed score into a playable, labelled :class:`Piece` (seeded instrumentation and default tempo)."""
    bpm, beat_ql, _ = _tempo(score, kind, rng)
    sec_per_ql = 60.0 / (bpm * beat_ql)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = _head(score, max_seconds / sec_per_ql)
        with contextlib.suppress(Exception):  # unexpandable repeat structures: play the score as written
            score = score.expandRepeats()
        k = score.analyze("key")  # of the part that is played
    n_parts = max(1, len(score.parts))
    ensemble, programs = _programs(n_parts, kind, rng)
    pm0 = score_to_midi(score, sec_per_ql, programs, 80)
    onsets = {round(n.start, 3) for i in pm0.instruments for n in i.notes}
    length = pm0.get_end_time()
    if not onsets or length < 4.0:
        raise ScoreError("fewer than 4 seconds of notes")
    note_rate = len(onsets) / length
    mode = k.mode if k.mode in ("major", "minor") else "major"
    v, a, label = emotion_from_score(mode, k.correlationCoefficient, bpm, note_rate)
    dyn = int(np.clip(round(66 + 36 * a + rng.normal(0, 5)), 30, 115))
    pm = score_to_midi(score, sec_per_ql, programs, dyn)
    measures = (score.parts[0] if len(score.parts) else score).getElementsByClass("Measure")
    shift = _skip_silences(pm, max_seconds)
    bar_times = [float(m.offset) * sec_per_ql - shift for m in measures]
    duration, complete = _cut(pm, bar_times, max_seconds, tail)
    md = score.metadata
    title = " ".join(str(md.title or md.movementName or "").split()) if md is not None else ""
    return Piece(
        pm,
        round(duration, 3),
        bpm,
        KEYS[k.tonic.pitchClass],
        mode,
        round(float(k.correlationCoefficient), 3),
        v,
        a,
        label,
        dyn,
        programs,
        ensemble,
        complete,
        title,
        round(note_rate, 3),
    )


def instrument_words(programs: list[int]) -> list[str]:
    """Distinct caption names of GM programs, in order."""
    names = {**INSTRUMENT_NAMES, **INSTRUMENT_NAMES_EXTRA}
    return list(dict.fromkeys(names.get(p, pretty_midi.program_to_instrument_name(p).lower()) for p in programs))


def join_words(words: list[str]) -> str:
    """``["a", "b", "c"]`` → ``"a, b and c"``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def describe_piece(piece: Piece, kind: str, relpath: str) -> tuple[str, str, list[str]]:
    """``(title, caption, tags)`` of a corpus piece."""
    folder = relpath.split("/")[0]
    composer = COMPOSERS.get(folder)
    what = {"chorale": "chorale", "folk": "folk tune", "classical": "classical piece", "early music": "medieval piece"}
    noun = what[kind] + (f" by {composer}" if composer and kind != "chorale" else "")
    if kind == "chorale":
        noun = "Bach chorale"
    stem = str(Path(relpath).with_suffix("")).split("/", 1)[-1].replace("/", " ").replace("_", " ")
    own = piece.title[: -len(Path(piece.title).suffix)] if Path(piece.title).suffix in _SUFFIXES else piece.title
    title = f"{own} ({stem})" if own and own.lower() not in stem.lower() else stem
    title = f"{composer}: {title}" if composer else title
    insts = instrument_words(piece.programs)
    excerpt = "" if piece.complete else ", an excerpt"
    an = "an" if piece.emotion[0] in "aeiou" else "a"
    caption = (
        f"{an} {piece.emotion} {noun} in {piece.key} {piece.mode} at {round(piece.tempo)} BPM played by "
        f"{join_words(insts)}{excerpt}"
    )
    tags = list(dict.fromkeys([kind, *insts, piece.emotion, "music21"] + ([composer] if composer else [])))
    return title, caption, tags
