"""From a request to a plan: the words, the emotion and the style choose the composer's parameters, then it composes.

How a request becomes :class:`~audiogen.compose.composer.PieceParams` (explicit arguments always win):

- **genre** (the composer's eight templates): an explicit ``genre``; else a genre style tag, or a genre word in the
  text (mapped onto the templates by :data:`GENRE_OF_TAG`); else the template whose description the shipped MiniLM
  finds closest to the text (when it is clearly closest); else the emotion's default (:func:`default_genre`).
- **instruments**: instrument tags and instrument words in the text, in order: the first plays the melody, a second
  the chords (or the pad, for strings, choir, pads and organ); the genre's habits fill the rest.
- **mode**: an explicit mode (or a key such as ``"A minor"``); else major for positive valence, minor for negative.
- **tempo**: explicit; else the genre's range, placed by arousal. **key**: explicit; else drawn from the seed.
- **dynamics, register, note density, tension, drums**: from valence and arousal, as the composer's labels define
  them (:func:`audiogen.compose.composer.sample_params`), with the seed's small variations.

Everything is drawn from a generator seeded by the request's seed, so a plan is deterministic per seed.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import asdict, dataclass, replace
from dataclasses import fields as dataclass_fields

import numpy as np

from audiogen.compose import composer
from audiogen.compose.genres import GENRE_TEMPLATES
from audiogen.compose.plan import ChordSpan, Part, Plan, Section
from audiogen.conditioning.validate import TEMPO_RANGE, check_key_mode
from audiogen.music import DEFAULT_DURATION, to_names
from audiogen.request_fields import PLAN, check_request, names

# Style-vocabulary genres -> the composer's templates.
GENRE_OF_TAG: dict[str, str] = {
    "pop": "pop", "rock": "rock", "metal": "rock", "punk": "rock", "blues": "jazz", "funk": "jazz", "soul": "jazz",
    "jazz": "jazz", "ambient": "ambient", "new-age": "ambient", "experimental": "ambient", "piano-solo": "ambient",
    "cinematic": "cinematic", "orchestral": "cinematic", "classical": "cinematic", "chamber": "cinematic",
    "choral": "cinematic", "march": "cinematic", "waltz": "cinematic", "game": "cinematic", "epic": "cinematic",
    "electronic": "electronic", "techno": "electronic", "house": "electronic", "trance": "electronic",
    "drum-and-bass": "electronic", "dubstep": "electronic", "synthwave": "electronic", "chiptune": "electronic",
    "industrial": "electronic", "8-bit": "electronic", "hip-hop": "lofi", "lo-fi": "lofi", "folk": "folk",
    "country": "folk", "celtic": "folk", "world": "folk", "latin": "folk", "reggae": "folk", "acoustic": "folk",
}  # fmt: skip

# What the MiniLM compares a prompt with, per template.
GENRE_DESCRIPTIONS: dict[str, str] = {  # no generic words ("track", "song", "music"): they match every prompt
    "pop": "upbeat catchy pop, bright and cheerful, a steady drum beat",
    "rock": "rock with distorted electric guitars, a driving bass and loud drums",
    "ambient": "slow ambient, soft evolving pads, floating and spacious",
    "cinematic": "an orchestral film score, strings, brass, horns and timpani, epic and dramatic",
    "jazz": "swinging jazz, piano, saxophone, walking double bass and ride cymbal",
    "electronic": "electronic dance, synthesizers, a four on the floor kick and claps",
    "lofi": "mellow lo-fi hip hop, electric piano, a lazy swung groove, relaxed and chill",
    "folk": "folk with strummed acoustic guitar, fiddle and a simple melody",
}
MINILM_MARGIN = 0.03  # the best description must beat the second by this much (cosine) to decide

# Instrument tags -> (melody program, chords program or None, plays the pad instead of the chords).
PROGRAMS: dict[str, tuple[int, int | None, bool]] = {
    "piano": (0, 0, False), "strings": (40, 48, True), "guitar": (25, 25, False),
    "acoustic-guitar": (25, 25, False), "electric-guitar": (27, 27, False), "synth": (81, 90, False),
    "pad": (91, 89, True), "organ": (16, 16, True), "brass": (56, 61, False), "woodwinds": (71, None, False),
    "flute": (73, None, False), "clarinet": (71, None, False), "saxophone": (65, None, False),
    "trumpet": (56, None, False), "horn": (60, 61, False), "choir": (52, 52, True), "vocals": (52, 52, True),
    "harp": (46, 46, False), "bells": (9, None, False), "harpsichord": (6, 6, False),
    "accordion": (21, 21, False), "marimba": (12, 12, False),
}  # fmt: skip

_NUMERALS = ("I", "bII", "II", "bIII", "III", "IV", "#IV", "V", "bVI", "VI", "bVII", "VII")
DEFAULT_POINT = (0.3, 0.0)  # valence/arousal of a request that names no emotion
PULSE_ARPS = (46, 0, 11)  # harp, piano, vibraphone: the arpeggio of a drumless plan whose genre names none


def default_genre(valence: float, arousal: float) -> str:
    """The template for an emotion when nothing in the request names one."""
    if arousal >= 0.5:
        return "electronic" if valence >= 0.3 else "rock" if valence >= -0.3 else "cinematic"
    if arousal >= 0.0:
        return "pop" if valence >= 0.0 else "cinematic"
    if valence >= 0.3:
        return "ambient" if arousal < -0.55 else "lofi"
    return "cinematic" if valence < -0.3 else "lofi"


def _words(text: str | None) -> list[str]:
    """Words and adjacent word pairs of the text, as style tags where they are (``"lo fi"`` -> ``"lo-fi"``)."""
    from audiogen.conditioning.styles import canonical_tag

    if not text:
        return []
    tokens = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower())
    found = []
    for i, tok in enumerate(tokens):
        pair = canonical_tag(f"{tok}-{tokens[i + 1]}") if i + 1 < len(tokens) else None
        for cand in (pair, canonical_tag(tok)):
            if cand is not None and cand not in found:
                found.append(cand)
    return found


@functools.lru_cache(maxsize=1)
def _genre_embeddings():
    from audiogen.conditioning.text import get_text_encoder

    enc = get_text_encoder("minilm", 64)  # the same frozen encoder (and load) as the LM's text conditioner
    return enc, enc.sentence_embedding(list(GENRE_DESCRIPTIONS.values()))


def rank_genres(text: str) -> list[tuple[str, float]]:
    """The templates ranked by MiniLM cosine similarity of their descriptions to ``text`` (best first)."""
    enc, table = _genre_embeddings()
    sims = (table @ enc.sentence_embedding([text])[0]).tolist()
    return sorted(zip(GENRE_DESCRIPTIONS, sims, strict=True), key=lambda x: -x[1])


def choose_genre(text: str | None, tags: tuple[str, ...], valence: float, arousal: float, use_minilm: bool = True):
    """``(genre, reason)`` for a request (see the module docstring)."""
    for where, words in (("style tag", list(tags)), ("word in the text", _words(text))):
        for w in words:
            if w in GENRE_OF_TAG:
                return GENRE_OF_TAG[w], f"{where} '{w}'"
    if text and use_minilm:
        ranked = rank_genres(text)
        if ranked[0][1] - ranked[1][1] >= MINILM_MARGIN:
            return ranked[0][0], f"text closest to the {ranked[0][0]} description (MiniLM)"
    return default_genre(valence, arousal), "the emotion's default"


def choose_instruments(text: str | None, tags: tuple[str, ...], genre: str, rng: np.random.Generator) -> dict:
    """Programs per role: named instruments first (tags, then text words), the genre's habits for the rest."""
    g = GENRE_TEMPLATES[genre]
    named = list(dict.fromkeys([t for t in tags if t in PROGRAMS] + [w for w in _words(text) if w in PROGRAMS]))
    inst = {role: int(rng.choice(getattr(g, role))) for role in composer.ROLES[:3]}
    for role, p in (("pad", 0.5), ("arp", 0.45)):
        if getattr(g, role) and rng.random() < p:
            inst[role] = int(rng.choice(getattr(g, role)))
    if named:
        melody, chords, as_pad = PROGRAMS[named[0]]
        inst["melody"] = melody
        if chords is not None and not as_pad:
            inst["chords"] = chords
    if len(named) > 1:
        _, chords, as_pad = PROGRAMS[named[1]]
        if chords is not None:
            inst["pad" if as_pad else "chords"] = chords
    return inst


@dataclass(frozen=True)
class PlanRequest:
    """What a plan is composed from: the request's fields as the composer reads them (one definition for the
    planner, the transfer from a clip and their callers). ``valence``/``arousal`` in [-1, 1] (or an ``emotion``
    label, whose point is used when no point is given); ``style_tags`` vocabulary tags; ``key`` a key as a request
    spells it (``"F major"``, ``"D#"``, ``"Am"``; kept as a tonic of :data:`~audiogen.music.NAMES`); ``mode``
    "major"/"minor"; ``genre`` one of the composer's templates; ``ending`` "cadence" or "loop"; ``seed`` makes the
    plan reproducible. Ranges, defaults and messages are the request's (:mod:`audiogen.request_fields`)."""

    text: str | None = None
    valence: float | None = None
    arousal: float | None = None
    emotion: str | None = None
    style_tags: tuple[str, ...] = ()
    tempo: float | None = None
    key: str | None = None
    mode: str | None = None
    genre: str | None = None
    duration: float = DEFAULT_DURATION
    ending: str = "cadence"
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "style_tags", tuple(self.style_tags or ()))
        own = {"style": self.style_tags, "key": None, "mode": None}  # the key and mode are checked together below
        check_request({n: own[n] if n in own else getattr(self, n) for n in names(PLAN, part=None)})
        if self.key is not None:  # any spelling a request takes ("F major", "D#", "Am"), in the composer's
            tonic, mode = check_key_mode(self.key, self.mode)
            object.__setattr__(self, "key", to_names(tonic))
            object.__setattr__(self, "mode", mode)
        if self.ending not in ("cadence", "loop"):
            raise ValueError(f"ending must be 'cadence' or 'loop', got {self.ending!r}")

    @classmethod
    def of(cls, text: str | None = None, **fields) -> PlanRequest:
        """Build from keyword fields; an unknown one is a ``ValueError`` naming the allowed."""
        known = {f.name for f in dataclass_fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"unknown request field(s) {unknown}; allowed: {sorted(known)}")
        return cls(text=text, **fields)

    def to_dict(self) -> dict:
        """JSON-ready fields (what a plan records as its ``request``)."""
        d = asdict(self)
        d["style_tags"] = list(self.style_tags)
        return d


def piece_params(req: PlanRequest, use_minilm: bool = True) -> tuple[composer.PieceParams, dict]:
    """The composer's parameters for a request, and ``why`` (what chose the genre and instruments)."""
    from audiogen.conditioning.emotions import nearest_label

    text, emotion, tempo, key, mode, genre = req.text, req.emotion, req.tempo, req.key, req.mode, req.genre
    rng = np.random.default_rng([int(req.seed), 0x9A17])
    from audiogen.conditioning.emotions import resolve

    point = resolve(emotion, req.valence, req.arousal)
    v, a = (point.valence, point.arousal) if point is not None else DEFAULT_POINT
    tags = req.style_tags
    why = {}
    if genre is None:
        genre, why["genre"] = choose_genre(text, tags, v, a, use_minilm)
    else:
        why["genre"] = "given"
    g = GENRE_TEMPLATES[genre]
    if mode is None:
        mode = "major" if v > 0.1 else "minor" if v < -0.1 else str(rng.choice(composer.MODES))
    pos = float(np.clip((a + 1) / 2 + rng.normal(0, 0.06), 0, 1))
    bpm = float(tempo) if tempo is not None else float(round(g.tempo[0] + pos * (g.tempo[1] - g.tempo[0])))
    a01 = (a + 1) / 2
    # A generated track keeps a pulse: the genre's drummer plays at every arousal (calm thins the groove), where the
    # training corpus's composer lets calm pieces go without.
    drums = g.drums is not None
    if any(t in ("drums", "percussion") for t in (*tags, *_words(text))):
        drums = g.drums is not None or drums
    instruments = choose_instruments(text, tags, genre, rng)
    if not drums and "arp" not in instruments:  # no drummer: broken chords in eighths keep the pulse audible
        instruments["arp"] = int(rng.choice(g.arp or PULSE_ARPS))
    why["instruments"] = {r: p for r, p in instruments.items()}
    params = composer.PieceParams(
        genre=genre,
        emotion=emotion if emotion is not None else nearest_label(v, a),
        valence=round(float(v), 3),
        arousal=round(float(a), 3),
        tempo=bpm,
        key=key if key is not None else str(rng.choice(composer.KEYS)),
        mode=mode,
        dynamics=int(np.clip(round(66 + 36 * a + rng.normal(0, 3)), 30, 115)),
        register=int(np.clip(round(0.8 * v + 0.5 * a + rng.normal(0, 0.25)), -1, 1)),
        density=round(float(np.clip(g.density * 2 ** (0.9 * a + rng.normal(0, 0.1)), 0.2, 4)), 3),
        instruments=instruments,
        drums=drums,
        duration=float(max(req.duration, 2.0)),
        seed=int(rng.integers(0, 2**31 - 1)),
        meter=int(rng.choice(g.meters)),
        tension=round(float(np.clip(max(0.0, -v) * a01**1.5 + rng.normal(0, 0.02), 0, 1)), 3),
        loop=req.ending == "loop",
        pulse=True,
    )
    return params, why


def numeral(root_offset: int, intervals) -> str:
    """A Roman numeral for a chord ``root_offset`` semitones above the tonic (lower case for a minor third)."""
    name = _NUMERALS[root_offset % 12]
    iv = set(intervals)
    if 3 in iv and 4 not in iv:
        name = name.replace("I", "i").replace("V", "v")
        if 6 in iv:
            name += "°"
    return name


def plan_from_params(
    p: composer.PieceParams, request: dict | None = None, duration: float | None = None, layout=None, melody=None
) -> Plan:
    """Compose ``p`` and describe the result as a :class:`Plan` (``duration``: the plan's length, default
    ``p.duration``; a cadence's release tail runs to it). ``layout`` and ``melody``: as in
    :func:`~audiogen.compose.composer.compose` (a form and a tune taken from elsewhere)."""
    from audiogen.controls.chords import reduce_chord

    bars, tl, end_time, _ = composer.plan(p) if layout is None else (*layout, None)
    pm = composer.compose(p, layout, melody)
    m, tonic = p.meter, composer.KEYS.index(p.key)
    final_beat = len(bars) * m
    total = float(duration if duration is not None else p.duration)
    chords: list[ChordSpan] = []

    def span(start: float, end: float, chord) -> None:
        root = (tonic + chord[0]) % 12
        pcs = sorted({(root + i) % 12 for i in chord[1]})
        red_root, quality = reduce_chord(root, chord[1])
        if end > start:
            name = numeral(chord[0], chord[1])
            chords.append(ChordSpan(round(start, 4), round(end, 4), name, red_root, pcs, quality))

    for i, bar in enumerate(bars):
        for b in range(m):
            span(tl.time(i * m + b), tl.time(i * m + b + 1), bar.chord)
    n_beats = final_beat if p.loop else final_beat + 1
    beats = [round(tl.time(b), 4) for b in range(n_beats) if tl.time(b) < total]
    if not p.loop:
        span(tl.time(final_beat), end_time, composer.final_chord(p))
    sections = _sections(bars, tl, m, end_time if not p.loop else total, p.loop)
    parts = []
    for inst in pm.instruments:
        notes = [[round(n.start, 4), round(n.end, 4), int(n.pitch), int(n.velocity)] for n in inst.notes]
        parts.append(Part("drums" if inst.is_drum else inst.name, int(inst.program), bool(inst.is_drum), notes))
    gains = {"intro": -6, "A": 0, "B": 5, "end": -2}
    levels = [40 * math.log10(max(1, min(127, p.dynamics + gains.get(b.section, 0))) / 127) for b in bars]
    mean = float(np.mean(levels)) if levels else 0.0
    dynamics = [[round(tl.time(i * m), 4), round(lv - mean, 2)] for i, lv in enumerate(levels)]
    chords, sections, parts, dynamics = _inside(total, chords, sections, parts, dynamics)
    return Plan(
        duration=total,
        tempo=min(max(60.0 / tl.spb, TEMPO_RANGE[0]), TEMPO_RANGE[1]),  # 220.00000000000003 is 220
        meter=m,
        key=p.key,
        mode=p.mode,
        genre=p.genre,
        valence=p.valence,
        arousal=p.arousal,
        ending="loop" if p.loop else "cadence",
        seed=p.seed,
        beats=beats,
        downbeats=beats[::m],
        sections=sections,
        chords=chords,
        parts=parts,
        dynamics=dynamics,
        emotion=p.emotion,
        request=dict(request or {}),
        params=p.to_dict(),
    )


def _inside(total: float, chords: list, sections: list, parts: list, dynamics: list):
    """Everything cut at the plan's end ``total`` (a piece shorter than the shortest the composer writes, 2 s or a
    bar): what starts after it dropped, what runs past it ended there. Longer pieces end inside it already."""
    chords = [replace(c, end=min(c.end, total)) for c in chords if c.start < total]
    sections = [replace(s, end=min(s.end, total)) for s in sections if s.start < total]
    for part in parts:
        part.notes = [[s, min(e, total), p, v] for s, e, p, v in part.notes if s < total]
    return chords, sections, parts, [d for d in dynamics if d[0] < total]


def _sections(bars, tl, m: int, end_time: float, loop: bool) -> list[Section]:
    out: list[Section] = []
    for i, bar in enumerate(bars):
        name = bar.section
        if out and out[-1].name == name and (name == "intro" or bar.pos > 0):
            out[-1].bars += 1
            out[-1].end = round(tl.time((i + 1) * m), 4)
        else:
            out.append(Section(name, i, 1, round(tl.time(i * m), 4), round(tl.time((i + 1) * m), 4)))
    if not loop and bars:
        out.append(Section("end", len(bars), 1, round(tl.time(len(bars) * m), 4), round(end_time, 4)))
    return out


def compose_plan(text: str | None = None, *, use_minilm: bool = True, **fields) -> Plan:
    """Compose a plan for one request (deterministic for its ``seed``): ``fields`` are those of
    :class:`PlanRequest`. A loop ending fills the duration with whole bars exactly, moving the tempo as little as
    that needs. Returns a :class:`Plan` whose ``request`` records the fields and ``why`` (what chose the genre and
    instruments)."""
    req = PlanRequest.of(text, **fields)
    params, why = piece_params(req, use_minilm)
    return plan_from_params(params, {**req.to_dict(), "why": why}, duration=req.duration)
