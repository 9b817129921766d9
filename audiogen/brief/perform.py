"""Performing a plan aligned to a video's cuts: one LM pass per shot, joined on the cuts.

Each shot is performed with its own mood (the LM's valence/arousal conditions are the shot's, unless the request
named an emotion) on its stretch of the plan (its beats, chords and dynamics, starting on a downbeat at the cut).
A shot's audio runs :data:`CROSSFADE` seconds past its cut and is crossfaded (equal power) into the next shot's
start, so the music changes within ``CROSSFADE`` of every cut.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from audiogen.brief.align import shot_bounds, window
from audiogen.compose.plan import Plan
from audiogen.perform import Performer

CROSSFADE = 0.04  # seconds


def shot_plan(plan: Plan, start: float, end: float, last: bool, tempo: float | None = None) -> Plan:
    """The stretch ``[start, end)`` of ``plan`` as a plan of its own starting at 0 (``last``: with the ending's
    ring-out). ``tempo``: the shot's local tempo (default: the plan's)."""
    w = window(plan, start, end, keep_end=last)
    length = max(1.0, end - start)
    return Plan(
        duration=length, tempo=float(tempo or plan.tempo), meter=plan.meter, key=plan.key, mode=plan.mode,
        genre=plan.genre, valence=plan.valence, arousal=plan.arousal, ending="cadence", seed=plan.seed,
        beats=[b for b in w["beats"] if b <= length], downbeats=[b for b in w["downbeats"] if b <= length],
        sections=w["sections"], chords=[c for c in w["chords"] if c.end <= length + 1], parts=list(w["parts"].values()),
        dynamics=w["dynamics"], emotion=plan.emotion,
    )  # fmt: skip


def _ramp(n: int) -> np.ndarray:
    """Equal-power fade-in ``(n,)`` from 0 to 1."""
    return np.sin(0.5 * np.pi * (np.arange(n) + 0.5) / max(n, 1)).astype(np.float32)


def perform_shots(performer: Performer, attributes, plan: Plan, params, progress: bool = False) -> np.ndarray:
    """Audio ``(round(plan.duration * codec_rate),)`` at the codec's sample rate for a plan with shots
    (:func:`~audiogen.brief.align.shot_bounds`), played by ``performer`` shot by shot; ``attributes`` are the
    track's LM conditions, ``params`` its sampling settings (shot ``i`` is sampled with seed ``params.seed + i``)."""
    shots = shot_bounds(plan)
    sr, fr = performer.codec.sample_rate, performer.codec.frame_rate
    total = int(round(plan.duration * sr))
    xf = int(round(CROSSFADE * sr))
    out = np.zeros(total + xf, dtype=np.float32)
    a = attributes
    per_shot = plan.request.get("shot_moods", True) and a.emotion is None
    tempos = [s.get("tempo") for s in plan.request.get("shots", [])]
    for i, (start, end, valence, arousal) in enumerate(shots):
        last = i == len(shots) - 1
        stop = min(end + (0.0 if last else CROSSFADE), plan.duration)
        sub = shot_plan(plan, start, stop, last, tempos[i])
        n_frames = math.ceil((stop - start) * fr - 1e-6)
        mood = {"valence": valence, "arousal": arousal} if per_shot else {}
        attrs = replace(a, duration=n_frames / fr, **mood)
        wav = performer.perform([attrs], [sub], n_frames, replace(params, seed=params.seed + i), progress)[0]
        begin = int(round(start * sr))
        seg = np.zeros(int(round(stop * sr)) - begin, dtype=np.float32)
        seg[: min(len(seg), len(wav))] = wav[: len(seg)]
        if i > 0:
            seg[:xf] *= _ramp(min(xf, len(seg)))
        if not last:
            n = min(xf, len(seg))
            seg[len(seg) - n :] *= _ramp(n)[::-1]
        out[begin : begin + len(seg)] += seg
    return out[:total]
