"""Streaming a track while it is generated: the chunks, the track at the end, cancelling, bad requests."""

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from audiogen.generator import MusicGenerator
from audiogen.master import MasteringSpec
from audiogen.stream import planned_level_db

SR = 32000


@pytest.fixture(scope="module")
def gen():
    return MusicGenerator.debug()


def test_stream_yields_the_track_in_chunks_and_ends_with_generates_track(gen):
    steps = []

    def progress(step, total):  # an LM step as slow as a real model's, so that the decoder keeps up
        steps.append((step, total))
        time.sleep(0.004)

    stream = gen.stream("calm piano", emotion="calm", tempo=100, duration=3.0, seed=5, chunk_seconds=0.25,
                        progress=progress)  # fmt: skip
    chunks, steps_at_first = [], None
    for chunk in stream:
        if steps_at_first is None:
            steps_at_first = len(steps)
        chunks.append(chunk)
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    assert sum(c.size for c in chunks) == 3 * SR
    assert len(chunks) >= 3 * 4 - 1  # chunks of a quarter of a second (the first may hold more of them)
    total_steps = steps[-1][1]
    assert steps_at_first < total_steps / 2  # the first chunk came while most of the LM's work was still to do
    same = gen.generate("calm piano", emotion="calm", tempo=100, duration=3.0, seed=5, progress=False)
    np.testing.assert_array_equal(stream.track.audio, same.audio)
    assert stream.first_chunk_seconds is not None and stream.provisional_gain_db is not None


def test_the_stream_is_the_file_but_for_gain_high_pass_and_ending(gen):
    """With the level kept (no loudness target) and a cut ending, the streamed audio and the mastered file differ
    by the limiter's work and the file's 20 Hz zero-phase high-pass only: the residual after the best gain is more
    than 20 dB under the file, away from the ending's last 5 ms."""
    spec = MasteringSpec(loudness=None, ending="none")
    with gen.stream("rock", emotion="angry", duration=2.0, seed=2, mastering=spec) as stream:
        streamed = np.concatenate(list(stream))
        mastered = stream.track.audio
    n = mastered.size - SR // 100
    a, b = streamed[:n].astype(np.float64), mastered[:n].astype(np.float64)
    g = (a @ b) / (a @ a)
    assert abs(20 * np.log10(g)) < 0.5
    assert 10 * np.log10(((b - g * a) ** 2).sum() / (b**2).sum()) < -20


def test_closing_early_cancels_the_generation(gen):
    before = threading.active_count()
    stream = gen.stream("calm piano", duration=6.0, seed=1, chunk_seconds=0.1)
    it = iter(stream)
    next(it)
    stream.close()
    assert threading.active_count() == before  # the generation's thread has ended
    with pytest.raises(RuntimeError, match="closed before its end"):
        _ = stream.track
    with pytest.raises(RuntimeError, match="iterated once"):
        iter(stream)


def test_bad_requests_are_refused_with_what_is_allowed(gen):
    with pytest.raises(ValueError, match="one prompt, not a list"):
        gen.stream(["a", "b"])
    with pytest.raises(ValueError, match=r"does not take prompt="):
        gen.stream("a", prompt=np.zeros(SR, dtype=np.float32))
    with pytest.raises(ValueError, match="chunk_seconds must lie in"):
        gen.stream("a", chunk_seconds=0)
    with pytest.raises(ValueError, match="duration"):  # the request's own check, raised by the first step
        next(iter(gen.stream("a", duration=-3)))


def test_planned_level_follows_the_plans_dynamics():
    plan = SimpleNamespace(dynamics=[[0.0, -4.0], [2.0, 1.5], [4.0, 0.0]])
    assert planned_level_db(plan, 0.5) == -4.0
    assert planned_level_db(plan, 2.0) == 1.5
    assert planned_level_db(plan, 9.0) == 0.0
    assert planned_level_db(None, 1.0) == 0.0
