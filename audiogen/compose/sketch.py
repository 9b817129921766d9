"""A plan's sketch: the plan played by the General MIDI soundfont, as the codec's tokens.

The soundfont plays every note of the plan exactly where the plan puts it, but sounds like a soundfont; the LM
sounds like recorded music, but a small LM finds little of the plan's harmony on its own. Sampling with
``GenerationParams.sketch_strength > 0`` leans the LM towards the sketch's tokens (:mod:`audiogen.lm.generate`), so
the performance keeps the sketch's notes where the LM finds them plausible. The sketch is rendered and levelled the
way the symbolic training corpus was (:func:`audiogen.data.render.normalise` to the loudness of its mean velocity),
so the codec meets audio like what it was trained on.
"""

from __future__ import annotations

import numpy as np
import torch

from audiogen.compose.plan import Plan


def render_sketch(plan: Plan, seconds: float, sample_rate: int) -> np.ndarray:
    """The plan played by the soundfont: ``(round(seconds * sample_rate),)`` float32, levelled like the symbolic
    corpus (silence stays silent). ``seconds`` may run past the plan's end (a loop's tail): the rest is the
    release of the last notes, then silence."""
    from audiogen.data.render import loudness_target, normalise, render_midi

    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    midi = plan.to_midi()
    notes = [n for inst in midi.instruments for n in inst.notes]
    audio = render_midi(midi, seconds, sample_rate=sample_rate)
    if not notes or float(np.max(np.abs(audio), initial=0.0)) < 1e-5:
        return audio
    velocity = float(np.mean([n.velocity for n in notes]))
    return normalise(audio, loudness_target(velocity), sample_rate)[0]


def sketch_codes(codec, plans: list[Plan | None], n_frames: int, n_q: int) -> torch.Tensor | None:
    """Codes ``[B, n_q, n_frames]`` of every plan's sketch through ``codec`` (a :class:`~audiogen.codec.model.Codec`),
    or None when no row has a plan. A row without a plan gets the codes of silence."""
    if all(p is None for p in plans):
        return None
    seconds = n_frames / codec.frame_rate
    rows = []
    for p in plans:
        audio = np.zeros(int(round(seconds * codec.sample_rate)), np.float32)
        if p is not None:
            audio = render_sketch(p, seconds, codec.sample_rate)
        rows.append(audio)
    with torch.inference_mode():
        codes = codec.encode(torch.from_numpy(np.stack(rows)), n_q=n_q)
    if codes.shape[-1] < n_frames:  # a codec that rounds the frame count down: repeat the last frame
        codes = torch.cat([codes, codes[..., -1:].expand(-1, -1, n_frames - codes.shape[-1])], dim=-1)
    return codes[..., :n_frames]
