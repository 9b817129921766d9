"""A procedural composer whose parameters are the labels.

:func:`sample_params` draws a :class:`PieceParams` for a genre and an emotion; :func:`compose` turns it into a
``pretty_midi.PrettyMIDI``, deterministically for a given seed. Emotions map to music the way the
music-psychology literature on emotional cues describes: valence sets the mode (major for positive), the register
(higher for positive) and the amount of dissonance (chromatic notes, diminished and Neapolitan chords for negative,
aroused emotions); arousal sets the tempo within the genre's range, the loudness (velocity), the note density and
whether the drummer plays and how busily.

A piece is a song form: an optional intro, four-bar phrases in an A/B pattern (A A B A..., the AABA chorus
repeating for as long as a long piece lasts), whose melody repeats when its letter repeats, a cadence (V or the
genre's habit) into a final tonic chord held under a ritardando, and a release tail, so that a model trained on the
audio can learn how pieces end.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass

import numpy as np
import pretty_midi

from audiogen.compose import parts
from audiogen.compose.genres import GENRE_TEMPLATES, TENSE_PROGRESSIONS
from audiogen.conditioning.emotions import EMOTIONS
from audiogen.music import NAMES

KEYS = NAMES
MODES = ("major", "minor")
ROLES = ("melody", "chords", "bass", "pad", "arp")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

_NUMERALS = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}
_CHORD_RE = re.compile(r"^([b#]?)(VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(°|ø|\+)?(maj7|7|sus2|sus4|add9)?$")


def parse_chord(symbol: str) -> tuple[int, tuple[int, ...]]:
    """A Roman numeral (``"V7"``, ``"bVI"``, ``"iiø7"``) → ``(root semitones above the tonic, intervals)``."""
    m = _CHORD_RE.match(symbol)
    if not m:
        raise ValueError(f"cannot read chord symbol {symbol!r}; expected a Roman numeral such as 'I', 'vi7', 'bVII'")
    acc, num, quality, ext = m.groups()
    root = (_NUMERALS[num.lower()] + {"b": -1, "#": 1, "": 0}[acc]) % 12
    minor = num.islower()
    third = 3 if minor else 4
    triad = {"°": (0, 3, 6), "ø": (0, 3, 6), "+": (0, 4, 8)}.get(quality, (0, third, 7))
    if ext == "7":
        seventh = {"°": 9, "ø": 10}.get(quality, 10)
        return root, (*triad, seventh)
    if ext == "maj7":
        return root, (*triad, 11)
    if ext in ("sus2", "sus4"):
        return root, (0, 2 if ext == "sus2" else 5, 7)
    if ext == "add9":
        return root, (*triad, 14)
    return root, triad


@dataclass
class PieceParams:
    """Everything that decides a piece, and therefore its labels.

    ``valence``/``arousal`` in [-1, 1]; ``tempo`` BPM in [40, 220] (the beat is a quarter note); ``key`` the tonic
    (one of :data:`KEYS`); ``dynamics`` the mean MIDI velocity in [20, 120]; ``register`` in [-2, 2] moves the
    melody, chords and arpeggios by a fifth per step (pads by a fourth); ``density`` the melody's notes per beat in
    [0.1, 4]; ``instruments`` maps roles (:data:`ROLES`, the first three required) to GM programs 0-127;
    ``tension`` in [0, 1] the share of chromatic and dissonant
    material; ``meter`` beats per bar (3 or 4); ``duration`` seconds in [2, 600]; ``loop``: the piece is whole bars
    filling ``duration`` exactly, without cadence, ritardando or final chord, its last bar leading back to its first;
    ``pulse``: keep an audible beat at any arousal (sustained comping plays on the beat, at least half notes).
    """

    genre: str
    emotion: str
    valence: float
    arousal: float
    tempo: float
    key: str
    mode: str
    dynamics: int
    register: int
    density: float
    instruments: dict[str, int]
    drums: bool
    duration: float = 30.0
    seed: int = 0
    meter: int = 4
    tension: float = 0.0
    loop: bool = False
    pulse: bool = False

    def __post_init__(self) -> None:
        _check_choice("genre", self.genre, tuple(GENRE_TEMPLATES))
        _check_choice("emotion", self.emotion, tuple(EMOTIONS))
        _check_choice("key", self.key, KEYS)
        _check_choice("mode", self.mode, MODES)
        _check_choice("meter", self.meter, (3, 4))
        for name, lo, hi in (
            ("valence", -1, 1), ("arousal", -1, 1), ("tempo", 40, 220), ("dynamics", 20, 120),
            ("register", -2, 2), ("density", 0.1, 4), ("duration", 2, 600), ("tension", 0, 1),
        ):  # fmt: skip
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ValueError(f"{name} must be a number in [{lo}, {hi}], got {v!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        missing = [r for r in ROLES[:3] if r not in self.instruments]
        unknown = [r for r in self.instruments if r not in ROLES]
        if missing or unknown:
            raise ValueError(
                f"instruments needs roles {ROLES[:3]} (optional {ROLES[3:]}); missing {missing}, unknown {unknown}"
            )
        for role, prog in self.instruments.items():
            if not isinstance(prog, int) or not 0 <= prog <= 127:
                raise ValueError(f"instrument program for {role!r} must be an integer in [0, 127], got {prog!r}")

    def to_dict(self) -> dict:
        """The parameters as plain JSON-ready values."""
        return asdict(self)


def _check_choice(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


def sample_params(
    rng: np.random.Generator, genre: str | None = None, emotion: str | None = None, duration: float = 30.0
) -> PieceParams:
    """Draw the parameters of one piece; genre and emotion are drawn uniformly when not given.

    The emotion's (valence, arousal) point, jittered slightly, drives the musical parameters: P(major) is a
    logistic function of valence; arousal places the tempo in the genre's range and raises velocity, note density
    and drum activity; valence and arousal together raise the register; negative valence with high arousal adds
    tension (chromaticism, dissonant chords).
    """
    genre = genre if genre is not None else str(rng.choice(list(GENRE_TEMPLATES)))
    emotion = emotion if emotion is not None else str(rng.choice(list(EMOTIONS)))
    _check_choice("genre", genre, tuple(GENRE_TEMPLATES))
    _check_choice("emotion", emotion, tuple(EMOTIONS))
    g = GENRE_TEMPLATES[genre]
    v0, a0 = EMOTIONS[emotion]
    v = float(np.clip(v0 + rng.normal(0, 0.05), -1, 1))
    a = float(np.clip(a0 + rng.normal(0, 0.05), -1, 1))
    mode = "major" if rng.random() < 1 / (1 + math.exp(-8 * v)) else "minor"
    pos = float(np.clip((a + 1) / 2 + rng.normal(0, 0.08), 0, 1))
    tempo = float(round(g.tempo[0] + pos * (g.tempo[1] - g.tempo[0])))
    arousal01 = (a + 1) / 2
    instruments = {role: int(rng.choice(getattr(g, role))) for role in ROLES[:3]}
    for role, p in (("pad", 0.5), ("arp", 0.6 - 0.3 * arousal01)):
        if getattr(g, role) and rng.random() < p:
            instruments[role] = int(rng.choice(getattr(g, role)))
    return PieceParams(
        genre=genre,
        emotion=emotion,
        valence=round(v, 3),
        arousal=round(a, 3),
        tempo=tempo,
        key=str(rng.choice(KEYS)),
        mode=mode,
        dynamics=int(np.clip(round(66 + 36 * a + rng.normal(0, 5)), 30, 115)),
        register=int(np.clip(round(0.8 * v + 0.5 * a + rng.normal(0, 0.35)), -1, 1)),
        density=round(float(np.clip(g.density * 2 ** (0.9 * a + rng.normal(0, 0.15)), 0.2, 4)), 3),
        instruments=instruments,
        drums=g.drums is not None and a >= g.drum_min_arousal,
        duration=float(duration),
        seed=int(rng.integers(0, 2**31 - 1)),
        meter=int(rng.choice(g.meters)),
        tension=round(float(np.clip(max(0.0, -v) * arousal01**1.5 + rng.normal(0, 0.03), 0, 1)), 3),
    )


class Timeline:
    """Beats → seconds: constant tempo, swung off-beat eighths, and a linear ritardando over the closing bars.

    ``swing`` 0..1 moves the off-beat eighth from 1/2 to 2/3 of the beat. Between ``rit_start`` and
    ``rit_start + rit_len`` beats the tempo falls linearly to ``(1 - rit)`` of its value and stays there.
    """

    def __init__(self, tempo: float, swing: float = 0.0, rit_start: float = 1e9, rit_len: float = 1.0, rit=0.0):
        self.spb = 60.0 / tempo
        self.swing = swing / 6.0
        self.rit_start, self.rit_len, self.rit = rit_start, max(rit_len, 1e-6), rit

    def _swung(self, beat: float) -> float:
        whole = math.floor(beat + 1e-9)
        f = beat - whole
        s = self.swing
        f = f * (0.5 + s) / 0.5 if f < 0.5 else 0.5 + s + (f - 0.5) * (0.5 - s) / 0.5
        return whole + f

    def time(self, beat: float) -> float:
        """Seconds at ``beat`` (beats counted from 0)."""
        b = self._swung(beat) if self.swing else beat
        if b <= self.rit_start or self.rit == 0:
            return b * self.spb
        k = self.rit / self.rit_len
        u = min(b, self.rit_start + self.rit_len) - self.rit_start
        t = self.rit_start * self.spb - self.spb / k * math.log(1 - k * u)
        if b > self.rit_start + self.rit_len:
            t += (b - self.rit_start - self.rit_len) * self.spb / (1 - self.rit)
        return t


@dataclass
class Bar:
    """One bar of the plan: its chord, its section letter, its place in its phrase."""

    chord: tuple[int, tuple[int, ...]]
    section: str
    phrase: int
    pos: int
    length: int
    next_root: int = 0


RIT_LONG_BARS = 8  # pieces of this many bars or more slow down over their last two bars, shorter ones over one


def release_seconds(duration: float) -> float:
    """Silence-bound tail left after the last note-off so instruments can ring out (seconds)."""
    return float(np.clip(0.05 * duration, 0.25, 1.5))


def fit_bars(p: PieceParams) -> tuple[int, Timeline, float]:
    """How many bars fit before the final chord: ``(n_bars, timeline, end_time)``.

    The final tonic chord starts on the downbeat after ``n_bars`` and lasts at least a beat (or a second) until
    ``end_time = duration - release``. The closing bars slow down (more for calm pieces): the last bar of a piece
    shorter than :data:`RIT_LONG_BARS` bars, else the last two, so that the piece keeps its asked tempo nearly
    throughout (a 10 s piece at 71 BPM has three bars; slowing two of them by 30 % left no beat at 71 BPM).
    """
    g = GENRE_TEMPLATES[p.genre]
    if p.loop:
        n = loop_bars(p.tempo, p.meter, p.duration)
        return n, Timeline(loop_tempo(p.tempo, p.meter, p.duration), g.swing), p.duration
    end_time = p.duration - release_seconds(p.duration)
    spb = 60.0 / p.tempo
    rit = 0.03 if p.genre == "electronic" else (0.18 if p.arousal < 0.3 else 0.1)
    min_final = min(max(spb, 1.0), 0.45 * end_time)
    for n in range(int(end_time / (spb * p.meter)) + 1, -1, -1):
        k = min(n, 1 if n < RIT_LONG_BARS else 2)
        tl = Timeline(p.tempo, g.swing, rit_start=(n - k) * p.meter, rit_len=k * p.meter, rit=rit)
        if tl.time(n * p.meter) + min_final <= end_time:
            return n, tl, end_time
    return 0, Timeline(p.tempo), end_time


def loop_bars(tempo: float, meter: int, duration: float) -> int:
    """Whole bars of a loop of ``duration`` seconds near ``tempo`` BPM (at least one), so many that the loop's tempo
    stays in 40–220 BPM where a whole number of bars allows (15 s at 40 BPM is 2.5 bars: 3, at 48 BPM, not 2 at
    32)."""
    n = max(1, round(duration * tempo / (60.0 * meter)))
    while n > 1 and n * meter * 60.0 / duration > 220.0:
        n -= 1
    while n * meter * 60.0 / duration < 40.0:
        n += 1
    return n


def loop_tempo(tempo: float, meter: int, duration: float) -> float:
    """The tempo nearest ``tempo`` at which :func:`loop_bars` bars last exactly ``duration`` seconds."""
    return loop_bars(tempo, meter, duration) * meter * 60.0 / duration


SHORT_FORMS = ("A", "AB", "AAB", "AABA", "AABAB", "AABABA", "AABABBA", "AABABBAA")  # by number of phrases
LONG_FORM = "AABA"  # the chorus that longer pieces repeat


def form_letters(n_phrases: int) -> list[str]:
    """The section letter of each of ``n_phrases`` phrases.

    Up to ``len(SHORT_FORMS)`` phrases take their own short song form; longer pieces repeat the 32-bar ``AABA``
    chorus for as long as they last (a ten-minute piece at a fast tempo has well over a hundred phrases), the way
    long-form music returns to its sections rather than inventing new ones. The form has no length limit.
    """
    if n_phrases <= 0:
        return []
    if n_phrases <= len(SHORT_FORMS):
        return list(SHORT_FORMS[n_phrases - 1])
    return list(itertools.islice(itertools.cycle(LONG_FORM), n_phrases))


def plan_form(p: PieceParams, n_bars: int, rng: np.random.Generator) -> list[Bar]:
    """Lay ``n_bars`` out as intro + four-bar phrases (A A B A ..., see :func:`form_letters`) with chords, ending
    on a cadence bar."""
    g = GENRE_TEMPLATES[p.genre]
    pool = list(g.major if p.mode == "major" else g.minor)
    prog_a, prog_b = (pool[int(i)] for i in rng.choice(len(pool), size=2, replace=len(pool) < 2))
    if p.mode == "minor" and p.tension > 0.3:
        prog_b = str(rng.choice(TENSE_PROGRESSIONS))
        if rng.random() < p.tension:
            prog_a = str(rng.choice(TENSE_PROGRESSIONS))
    progs = {"A": [parse_chord(s) for s in prog_a.split()], "B": [parse_chord(s) for s in prog_b.split()]}
    intro = 2 if n_bars >= 12 else 0
    n_phrases, rest = divmod(n_bars - intro, 4)
    lengths = [4] * n_phrases
    if rest == 1 and n_phrases:
        intro += 1
    elif rest:
        lengths.append(rest)  # a short closing phrase (or the only one in a very short piece)
    letters = form_letters(len(lengths))
    bars = [Bar(progs["A"][i % len(progs["A"])], "intro", -1, i, intro) for i in range(intro)]
    for ph, (letter, length) in enumerate(zip(letters, lengths, strict=True)):
        prog = progs[letter]
        for pos in range(length):
            bars.append(Bar(prog[(pos // g.harmonic_rhythm) % len(prog)], letter, ph, pos, length))
    if bars and lengths and not p.loop:
        cad = g.cadence if p.mode == "major" else {"IV": "iv"}.get(g.cadence, g.cadence)
        bars[-1].chord = parse_chord(cad)
    for k, b in enumerate(bars):
        b.next_root = bars[k + 1].chord[0] if k + 1 < len(bars) else 0
    return bars


def final_chord(p: PieceParams) -> tuple[int, tuple[int, ...]]:
    """The closing tonic chord in the genre's colour (``I``, ``Imaj7``, ``i7``...)."""
    g = GENRE_TEMPLATES[p.genre]
    return parse_chord(("I" if p.mode == "major" else "i") + ("7" if p.mode == "minor" and g.final else g.final))


def plan(p: PieceParams) -> tuple[list[Bar], Timeline, float, np.random.Generator]:
    """The piece's bars, timeline and end time, and the random generator positioned after planning."""
    rng = np.random.default_rng(p.seed)
    n_bars, tl, end_time = fit_bars(p)
    return plan_form(p, n_bars, rng), tl, end_time, rng


def describe(p: PieceParams) -> dict:
    """Facts about the composed form for the manifest: bars before the final chord and the section pattern."""
    bars, _, end_time, _ = plan(p)
    phrases = [b.section for b in bars if b.pos == 0 and b.section != "intro"]
    intro = sum(b.section == "intro" for b in bars)
    return {
        "bars": len(bars) + 1,
        "form": ("intro " if intro else "") + "".join(phrases) + " end",
        "end_time": round(end_time, 3),
    }


def compose(p: PieceParams, layout: tuple | None = None, melody=None) -> pretty_midi.PrettyMIDI:
    """Write the piece described by ``p`` as MIDI (deterministic for ``p.seed``).

    Returns a ``PrettyMIDI`` with one instrument per role in ``p.instruments`` (named after the role), a drum
    track when ``p.drums``, the tempo, time signature and key signature set, and no note sounding after
    ``p.duration - release_seconds(p.duration)``. ``layout`` ``(bars, timeline, end_time)`` replaces the planned
    form (a progression taken from a clip); ``melody`` (``pretty_midi.Note`` list) replaces the composed tune.
    """
    bars, tl, end_time, rng = plan(p)
    if layout is not None:
        bars, tl, end_time = layout
    ctx = parts.Context(
        p=p,
        genre=GENRE_TEMPLATES[p.genre],
        tl=tl,
        bars=bars,
        end_time=end_time,
        rng=rng,
        tonic=KEYS.index(p.key),
        scale=SCALES[p.mode],
        final=final_chord(p),
    )
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(p.tempo))
    pm.time_signature_changes.append(pretty_midi.TimeSignature(p.meter, 4, 0.0))
    pm.key_signature_changes.append(pretty_midi.KeySignature(ctx.tonic + (12 if p.mode == "minor" else 0), 0.0))
    for role in ROLES:
        if role in p.instruments:
            inst = pretty_midi.Instrument(p.instruments[role], name=role)
            inst.notes = list(melody) if role == "melody" and melody is not None else parts.WRITERS[role](ctx)
            pm.instruments.append(inst)
    if p.drums:
        drums = pretty_midi.Instrument(0, is_drum=True, name="drums")
        drums.notes = parts.drums(ctx)
        pm.instruments.append(drums)
    parts.finish(pm, ctx)
    return pm
