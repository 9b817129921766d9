"""Controls from a plan: the exact counterpart of :mod:`audiogen.controls.extract`, in the same layout.

- **chords**: each planned chord's major/minor triad (the reduction the extractor can read back), over its span.
- **melody**: the pitch class of the melody note sounding at each frame (the latest to start, if several).
- **beat**: the planned beats and downbeats, and the beat clock from them.
- **level**: the summed power of the sounding notes (velocity to the fourth power, the usual 40 dB per velocity
  decade), smoothed over 1 s like the extractor's RMS.

A loop's controls wrap: frames past the plan's end repeat its start, so the crossfaded tail plays the first bars.
"""

from __future__ import annotations

import numpy as np

from audiogen.compose.plan import Plan
from audiogen.controls import chords, layout


def plan_controls(
    plan: Plan, n_frames: int | None = None, frame_rate: float = layout.FRAME_RATE, beat_lag: float = 0.0
) -> np.ndarray:
    """Controls ``[n_frames, CONTROL_FEATURES]`` (float32) of ``plan``; ``n_frames`` defaults to the plan's length.
    Frames past the plan's end are absent (a cadence) or wrap to its start (a loop). ``beat_lag`` (seconds) moves
    the beat columns later, for a model whose training beats were read that late (``LMConfig.beat_lag_s``)."""
    length = int(round(plan.duration * frame_rate))
    n_frames = length if n_frames is None else int(n_frames)
    out = layout.empty(max(n_frames, length))
    for c in plan.chords:
        a, b = int(round(c.start * frame_rate)), int(round(c.end * frame_rate))
        out[a:b, list(chords.triad(c.root, c.quality))] = 1.0
    out[:length, layout.CHORD_ON] = 1.0
    melody = plan.part("melody")
    if melody is not None:
        for s, e, p, _ in sorted(melody.notes, key=lambda n: n[0]):
            a, b = int(round(s * frame_rate)), int(round(e * frame_rate))
            out[a:b, layout.MELODY] = 0.0
            out[a:b, layout.MELODY.start + int(p) % 12] = 1.0
    out[:length, layout.MELODY_ON] = 1.0
    power = np.zeros(len(out))
    for part in plan.parts:
        for s, e, _, v in part.notes:
            a = int(round(s * frame_rate))
            b = max(a + 1, int(round((min(e, s + 0.15) if part.is_drum else e) * frame_rate)))
            power[a:b] += (v / 127.0) ** 4
    power = np.pad(power[:length], (0, len(out) - length), mode="edge") if length else power
    layout.write_level(out, layout.smooth_level_db(power + 1e-6, frame_rate))
    beats = np.asarray(plan.beats, dtype=np.float64) + beat_lag
    downbeats = np.asarray(plan.downbeats, dtype=np.float64) + beat_lag
    layout.write_beats(out, beats if len(beats) >= 2 else None, downbeats, frame_rate)
    if plan.ending == "loop" and n_frames > length:
        reps = np.arange(length, n_frames) % length
        out[length:n_frames] = out[reps]
    else:
        out[length:, : layout.MELODY_ON + 1] = 0
        out[length:, layout.LEVEL] = out[length - 1, layout.LEVEL] if length else 0
    return out[:n_frames]
