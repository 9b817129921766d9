"""The composer's players: melody, accompaniment, bass, pad, arpeggio and drums, written bar by bar.

Each writer takes the shared :class:`Context` (parameters, genre, bar plan, timeline) and returns
``pretty_midi.Note`` objects in seconds. Rhythms are written in beats and mapped through the timeline, so swing
and the closing ritardando apply to every part alike. The final tonic chord starts on the downbeat after the last
bar and sounds until ``end_time``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pretty_midi

from audiogen.compose import genres

if TYPE_CHECKING:
    from audiogen.compose.composer import Bar, PieceParams, Timeline

Chord = tuple[int, tuple[int, ...]]
_VELOCITY = {"melody": 8, "chords": -8, "bass": 0, "pad": -16, "arp": -12}
_VOLUME = {"melody": 105, "chords": 88, "bass": 100, "pad": 74, "arp": 80, "drums": 96}
_SECTION_GAIN = {"intro": -6, "A": 0, "B": 5, "end": -2}

# Accompaniment rhythms on an eighth-note grid, for calm / moderate / aroused pieces, in 4/4 and 3/4.
_COMP = {
    "block": {4: ("x.......", "x...x...", "x..x..x."), 3: ("x.....", "x.x.x.", "x.xx.x")},
    "strum": {4: ("x...x...", "x.xx.xxx", "xxxxxxxx"), 3: ("x.x.x.", "x.xxxx", "xxxxxx")},
    "power": {4: ("x...x...", "x.x.x.x.", "xxxxxxxx"), 3: ("x.x.x.", "xxxxxx", "xxxxxx")},
    "pad": {4: ("x.......",) * 3, 3: ("x.....",) * 3},
    "stab": {4: ("x.......", ".x.x.x.x", ".x.x.x.x"), 3: ("x.....", ".x.x.x", ".x.x.x")},
    "lazy": {4: ("x.......", "x....x..", "x..x.x.."), 3: ("x.....", "x...x.", "x..x..")},
}
_SHORT = {"power", "stab"}  # styles whose hits are detached


@dataclass
class Context:
    """What every writer needs: parameters, genre, the bar plan and how beats map to seconds."""

    p: PieceParams
    genre: genres.Genre
    tl: Timeline
    bars: list[Bar]
    end_time: float
    rng: np.random.Generator
    tonic: int
    scale: tuple[int, ...]
    final: Chord

    @property
    def final_beat(self) -> int:
        """The beat on which the final chord starts."""
        return len(self.bars) * self.p.meter

    @property
    def level(self) -> int:
        """Arousal band: 0 calm, 1 moderate, 2 aroused."""
        a = self.p.arousal
        return 0 if a < -0.2 else (1 if a < 0.4 else 2)

    def pcs(self, chord: Chord) -> list[int]:
        """Pitch classes of ``chord`` in this key."""
        return [(self.tonic + chord[0] + i) % 12 for i in chord[1]]

    def scale_for(self, chord: Chord) -> set[int]:
        """Scale pitch classes adapted to the chord: chord tones foreign to the scale replace their neighbours."""
        sc = {(self.tonic + s) % 12 for s in self.scale}
        foreign = set(self.pcs(chord)) - sc
        clash = {x for x in sc if (x + 1) % 12 in foreign or (x - 1) % 12 in foreign}
        return (sc - clash) | set(self.pcs(chord))

    def vel(self, role_offset: int, section: str = "A") -> int:
        """A humanised velocity: the piece's dynamics + the role's and the section's offsets."""
        v = self.p.dynamics + role_offset + _SECTION_GAIN.get(section, 0) + self.rng.normal(0, 4)
        return int(np.clip(round(v), 1, 127))

    def note(self, beat: float, dur: float, pitch: int, vel: int, shift: float = 0.0) -> pretty_midi.Note | None:
        """A note at ``beat`` lasting ``dur`` beats (cut at ``end_time``); None if it would start too late."""
        jitter = 0.0 if self.p.genre == "electronic" else float(self.rng.normal(0, 0.006))
        start = max(0.0, self.tl.time(beat) + shift + jitter)
        end = min(self.tl.time(beat + dur) + shift, self.end_time)
        if start >= self.end_time - 0.05 or not 0 <= pitch <= 127:
            return None
        return pretty_midi.Note(int(vel), int(pitch), start, max(end, start + 0.03))


def _keep(notes: list) -> list[pretty_midi.Note]:
    return [n for n in notes if n is not None]


def voicing(pcs: list[int], center: int, prev: list[int] | None) -> list[int]:
    """Close-position voicing of ``pcs`` near ``center``, the inversion nearest the previous voicing."""
    best, best_cost = [], float("inf")
    for inv in range(len(pcs)):
        rot = pcs[inv:] + pcs[:inv]
        notes = [center - 6 + (rot[0] - (center - 6)) % 12]
        for pc in rot[1:]:
            notes.append(notes[-1] + 1 + (pc - notes[-1] - 1) % 12)
        ref = prev if prev else [center]
        cost = abs(np.mean(notes) - np.mean(ref)) + 0.3 * abs(notes[0] - ref[0])
        if cost < best_cost:
            best, best_cost = notes, cost
    return best


def _hits(pattern: str, meter: int) -> list[tuple[float, float]]:
    """Eighth-note pattern → ``[(onset, gap to next hit)]`` in beats."""
    on = [i / 2 for i, c in enumerate(pattern[: 2 * meter]) if c == "x"]
    return [(t, (on[j + 1] if j + 1 < len(on) else meter) - t) for j, t in enumerate(on)]


def _rhythm(rng: np.random.Generator, density: float, meter: int) -> list[tuple[float, float]]:
    """A one-bar melodic rhythm: ``[(onset, duration)]`` in beats, about ``density`` notes per beat."""
    grid = 4 if density > 1.5 else 2
    steps = meter * grid
    w = np.array(
        [1.0 if s == 0 else 0.7 if s % grid == 0 else 0.45 if (2 * s) % grid == 0 else 0.2 for s in range(steps)]
    )
    n = int(np.clip(round(density * meter + rng.normal(0, 0.6)), 1, steps))
    chosen = {0} if rng.random() < 0.85 else set()
    rest = [s for s in range(steps) if s not in chosen]
    if n > len(chosen):
        chosen |= {int(s) for s in rng.choice(rest, size=n - len(chosen), replace=False, p=w[rest] / w[rest].sum())}
    on = sorted(chosen)
    return [
        (s / grid, min(((on[j + 1] if j + 1 < len(on) else steps) - s) / grid, 2.0) * 0.92) for j, s in enumerate(on)
    ]


def _pick(rng: np.random.Generator, prev: int, cands: list[int], center: int) -> int:
    """Next melody pitch: stepwise motion preferred, repeated notes and leaps discouraged, pulled to the centre."""
    c = np.array(cands)
    d = np.abs(c - prev)
    w = np.exp(-d / 2.5) * np.where(d == 0, 0.3, 1.0) * np.where(d > 7, 0.3, 1.0) * np.exp(-np.abs(c - center) / 9)
    return int(rng.choice(c, p=w / w.sum()))


def _melody_bar(ctx: Context, rhythm, chord: Chord, prev: int, center: int, cadence: bool) -> list[tuple]:
    """Pitches for one bar's rhythm: chord tones on strong beats and long notes, scale (or chromatic) between."""
    lo, hi = center - 5, center + 12
    chord_pcs, scale_pcs = set(ctx.pcs(chord)), ctx.scale_for(chord)
    out = []
    for onset, dur in rhythm:
        strong = cadence or dur >= 1 or (onset % 1 == 0 and onset % 2 == 0)
        pcs = chord_pcs if strong else scale_pcs
        if not strong and ctx.rng.random() < 0.5 * ctx.p.tension:
            pcs = {(prev + d) % 12 for d in (-2, -1, 1, 2)}
        prev = _pick(ctx.rng, prev, [n for n in range(lo, hi + 1) if n % 12 in pcs], center)
        out.append((onset, dur, prev))
    return out


def melody(ctx: Context) -> list[pretty_midi.Note]:
    """The tune: two rhythm motifs per section letter, bars repeated when the letter repeats, cadences held."""
    p, rng = ctx.p, ctx.rng
    center = 67 + 7 * p.register + genres.MELODY_OFFSET.get(p.instruments["melody"], 0)
    motifs: dict[str, tuple] = {}
    material: dict[tuple[str, int], list[tuple]] = {}
    notes, prev = [], center
    for i, bar in enumerate(ctx.bars):
        if bar.section == "intro":
            continue
        cadence = bar.pos == bar.length - 1 and bar.length > 1
        events = None if cadence else material.get((bar.section, bar.pos))
        if events is None:
            if bar.section not in motifs:
                motifs[bar.section] = (_rhythm(rng, p.density, p.meter), _rhythm(rng, p.density, p.meter))
            if cadence:
                rhythm = [(0.0, p.meter - 0.1)] if rng.random() < 0.5 else [(0.0, 1.0), (1.0, p.meter - 1.1)]
            else:
                rhythm = motifs[bar.section][bar.pos % 2]
            shift = 3 if bar.section == "B" else 0
            events = _melody_bar(ctx, rhythm, bar.chord, prev, center + shift, cadence)
            material[(bar.section, bar.pos)] = events
        notes += [ctx.note(i * p.meter + t, d, n, ctx.vel(_VELOCITY["melody"], bar.section)) for t, d, n in events]
        prev = events[-1][2] if events else prev
    tonic = [n for n in range(center - 5, center + 13) if n % 12 == ctx.tonic]
    last = min(tonic, key=lambda n: abs(n - prev))
    notes.append(ctx.note(ctx.final_beat, 64, last, ctx.vel(_VELOCITY["melody"], "end")))
    return _keep(notes)


def _dissonance(ctx: Context, chord: Chord) -> list[int]:
    """Extra pitch classes for tense pieces: a minor ninth or a tritone above the root."""
    if ctx.rng.random() < ctx.p.tension:
        return [(ctx.tonic + chord[0] + int(ctx.rng.choice([1, 6]))) % 12]
    return []


def _chord_part(ctx: Context, role: str, style: str, center: int) -> list[pretty_midi.Note]:
    """Accompaniment in ``style`` (see ``_COMP``): voice-led chords on the style's rhythm, then the final chord."""
    p = ctx.p
    notes, prev = [], None
    for i, bar in enumerate([*ctx.bars, None]):
        chord = ctx.final if bar is None else bar.chord
        section = "end" if bar is None else bar.section
        v = voicing(ctx.pcs(chord) + (_dissonance(ctx, chord) if role == "pad" else []), center, prev)
        prev = v
        if style == "power":
            root = 40 + (ctx.tonic + chord[0] - 40) % 12
            v = [root, root + 7, root + 12]
        if bar is None:
            hits = [(0.0, 64.0)]
        elif style == "comp":
            hits = _jazz_comp(ctx)
        else:
            level = max(ctx.level, 1) if p.pulse else ctx.level
            hits = _hits(_COMP["block" if p.pulse and style == "pad" and role == "chords" else style][p.meter][level],
                         p.meter)  # fmt: skip
        for t, gap in hits:
            dur = 0.4 if style in _SHORT and ctx.level > 0 and bar is not None else gap * 0.95 + 0.05
            spread = 0.012 if style == "strum" else 0.0
            vel = ctx.vel(_VELOCITY[role], section)
            lazy = 0.03 if style == "lazy" else 0.0
            notes += [ctx.note(i * p.meter + t + lazy, dur, n, vel, shift=k * spread) for k, n in enumerate(v)]
    return _keep(notes)


def _jazz_comp(ctx: Context) -> list[tuple[float, float]]:
    """Two or three syncopated comping hits in a bar."""
    spots = [0.0, 1.5, 2.5, 3.5, 1.0, 3.0] if ctx.p.meter == 4 else [0.0, 1.5, 2.0, 1.0]
    k = int(ctx.rng.integers(2, 4))
    on = sorted(float(s) for s in ctx.rng.choice(spots, size=min(k, len(spots)), replace=False))
    return [(t, min(1.0, (on[j + 1] if j + 1 < len(on) else ctx.p.meter) - t)) for j, t in enumerate(on)]


def chords(ctx: Context) -> list[pretty_midi.Note]:
    """The genre's comping instrument (piano blocks, guitar strums, power chords, jazz comping...)."""
    style = ctx.genre.comping
    return _chord_part(ctx, "chords", style if style in _COMP or style == "comp" else "block", 57 + 7 * ctx.p.register)


def pad(ctx: Context) -> list[pretty_midi.Note]:
    """Sustained chords, one per bar, with added dissonance in tense pieces."""
    return _chord_part(ctx, "pad", "pad", 60 + 5 * ctx.p.register)


def arp(ctx: Context) -> list[pretty_midi.Note]:
    """Broken chords in eighths (sixteenths when aroused), rising then falling, left to ring."""
    p = ctx.p
    step = 0.25 if ctx.level == 2 and p.tempo < 110 else 0.5
    notes, prev = [], None
    for i, bar in enumerate([*ctx.bars, None]):
        chord = ctx.final if bar is None else bar.chord
        v = voicing(ctx.pcs(chord), 67 + 7 * p.register, prev)
        prev = v
        seq = [*v, v[0] + 12, *v[-1:0:-1]]
        n_steps = int(p.meter / step) if bar is not None else len(v) + 1
        for k in range(n_steps):
            section = "end" if bar is None else bar.section
            notes.append(
                ctx.note(
                    i * p.meter + k * step,
                    2 * step if bar else 64,
                    seq[k % len(seq)],
                    ctx.vel(_VELOCITY["arp"], section),
                )
            )
    return _keep(notes)


def _bass_bar(ctx: Context, bar: Bar) -> list[tuple[float, float, int]]:
    """One bar of the genre's bass line as ``[(onset, duration, pitch)]``."""
    m, lv, style = ctx.p.meter, ctx.level, ctx.genre.bass_style
    r = 33 + (ctx.tonic + bar.chord[0] - 33) % 12
    third = r + bar.chord[1][1]
    fifth = r + 7
    if style == "walking":
        nxt = 33 + (ctx.tonic + bar.next_root - 33) % 12
        approach = nxt + (1 if ctx.rng.random() < 0.5 else -1)
        line = [r, third, fifth, approach] if m == 4 else [r, fifth, approach]
        return [(float(k), 0.95, n) for k, n in enumerate(line)]
    table = {
        "pop": ([(0, m, r)], [(0, 1.5, r), (1.5, 0.5, r), (2, 2, fifth)],
                [(0, 0.7, r), (0.75, 0.7, r), (1.5, 0.5, r + 12), (2, 1, fifth), (3, 1, r)]),
        "eighths": ([(0, 2, r), (2, 2, r)], [(k / 2, 0.45, r) for k in range(2 * m)],
                    [(k / 2, 0.4, r) for k in range(2 * m)]),
        "boom": ([(0, 1, r), (2, 1, fifth)],) * 2 + ([(0, 1, r), (1.5, 0.5, r), (2, 1, fifth), (3.5, 0.5, third)],),
        "octaves": ([(k, 0.9, r) for k in range(m)], [(k / 2, 0.4, r + 12 * (k % 2)) for k in range(2 * m)],
                    [(k / 2, 0.4, r + 12 * (k % 2)) for k in range(2 * m)]),
        "pedal": ([(0, m + 0.05, r)],) * 3,
        "lazy": ([(0, m, r)], [(0, 1.5, r), (2.5, 1.5, fifth)], [(0, 1.5, r), (1.5, 0.5, r), (2.5, 1.5, fifth)]),
    }  # fmt: skip
    events = table.get(style, table["pop"])[lv]
    return [(float(t), min(d, m - t), n) for t, d, n in events if t < m]


def bass(ctx: Context) -> list[pretty_midi.Note]:
    """The bass line, bar by bar, then the tonic under the final chord."""
    notes = []
    for i, bar in enumerate(ctx.bars):
        vel = ctx.vel(_VELOCITY["bass"], bar.section)
        notes += [ctx.note(i * ctx.p.meter + t, d, n, vel) for t, d, n in _bass_bar(ctx, bar)]
    notes.append(ctx.note(ctx.final_beat, 64, 33 + (ctx.tonic - 33) % 12, ctx.vel(_VELOCITY["bass"], "end")))
    return _keep(notes)


def _groove(ctx: Context) -> dict[int, str]:
    """The genre's drum pattern adapted to arousal: calm thins the hats and swaps snare for side-stick,
    aroused fills the hats in with soft sixteenths."""
    pats = dict(genres.DRUM_PATTERNS[ctx.genre.drums][str(ctx.p.meter)])
    for drum, pat in list(pats.items()):
        if ctx.level == 0 and drum in (genres.HAT, genres.OPEN_HAT, genres.TAMBOURINE):
            pats[drum] = "".join(c if s % 4 == 0 else "." for s, c in enumerate(pat))
        elif ctx.level == 2 and drum == genres.HAT and ctx.genre.drums in ("pop", "rock", "electronic"):
            pats[drum] = "".join(c if c != "." else ("o" if s % 2 else c) for s, c in enumerate(pat))
    if ctx.level == 0 and genres.SNARE in pats and ctx.genre.drums in ("pop", "lofi"):
        pats[genres.SIDESTICK] = pats.pop(genres.SNARE)
    return pats


def drums(ctx: Context) -> list[pretty_midi.Note]:
    """The groove, with fills closing phrases, crashes opening them and a final crash on the last chord."""
    p, rng = ctx.p, ctx.rng
    pats, steps = _groove(ctx), 4 * p.meter
    base = {genres.HAT: -18, genres.OPEN_HAT: -14, genres.PEDAL_HAT: -22, genres.RIDE: -10, genres.TAMBOURINE: -16,
            genres.KICK: 4}  # fmt: skip
    crashes = ctx.genre.drums in ("pop", "rock", "electronic", "cinematic")
    notes = []
    for i, bar in enumerate(ctx.bars):
        b0 = i * p.meter
        fill = bar.pos == bar.length - 1 and bar.section != "intro" and rng.random() < 0.35 + 0.5 * max(p.arousal, 0)
        for drum, pat in pats.items():
            for s, c in enumerate(pat[:steps]):
                if c == "." or (fill and s >= steps - 4):
                    continue
                vel = ctx.vel(base.get(drum, 0), bar.section) * (0.55 if c == "o" else 1.0)
                notes.append(ctx.note(b0 + s / 4, 0.25, drum, int(max(vel, 1))))
        if fill:
            kit = genres.TOMS[:4] if ctx.genre.drums in ("rock", "cinematic") else (genres.SNARE,) * 4
            sub = 4 if ctx.level == 2 else 2
            for k in range(sub):
                vel = ctx.vel(-12 + 12 * k // sub, bar.section)
                notes.append(ctx.note(b0 + p.meter - 1 + k / sub, 0.2, kit[k * 4 // sub], vel))
        if crashes and bar.pos == 0 and bar.section != "intro" and i > 0:
            notes.append(ctx.note(b0, 1.0, genres.CRASH, ctx.vel(0, bar.section)))
    for drum in (genres.KICK, genres.CRASH if crashes or p.genre == "jazz" else genres.RIDE):
        notes.append(ctx.note(ctx.final_beat, 2.0, drum, ctx.vel(0, "end")))
    return _keep(notes)


WRITERS = {"melody": melody, "chords": chords, "bass": bass, "pad": pad, "arp": arp}


def finish(pm: pretty_midi.PrettyMIDI, ctx: Context) -> None:
    """Mixer settings at time 0 (volume CC 7, reverb CC 91, chorus CC 93) and notes sorted by onset."""
    for inst in pm.instruments:
        role = "drums" if inst.is_drum else inst.name
        ccs = [(7, _VOLUME.get(role, 90)), (91, min(127, ctx.genre.reverb)), (93, 40 if role == "pad" else 0)]
        inst.control_changes = [pretty_midi.ControlChange(n, v, 0.0) for n, v in ccs]
        inst.notes.sort(key=lambda n: (n.start, n.pitch))
