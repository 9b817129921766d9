import os

import numpy as np
import pytest
import torch

# Tests use tiny models, where extra threads only add overhead (and thrash on a busy machine).
torch.set_num_threads(1)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def one_thread():
    """Every test starts on one thread (tiny models run fastest, and steadiest on a shared machine) and leaves the
    thread count as it found it (trainers set their own)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def lm_calls(monkeypatch):
    """The keyword arguments the facade hands to the LM's generate, one dict per call (the call itself goes
    through)."""
    import audiogen.perform as perform

    seen = []
    real = perform.lm_generate

    def spy(*args, **kw):
        seen.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(perform, "lm_generate", spy)
    return seen


class _Field:
    """One keyword of every recorded call, read when indexed (``calls`` grows as the test runs)."""

    def __init__(self, calls: list, name: str):
        self.calls, self.name = calls, name

    def __getitem__(self, i):
        return [c[self.name] for c in self.calls][i]

    def __len__(self) -> int:
        return len(self.calls)


@pytest.fixture
def beats_seen(lm_calls):
    """The ``beats`` the facade hands to the LM's generate, one entry per call."""
    return _Field(lm_calls, "beats")


@pytest.fixture
def controls_seen(lm_calls):
    """The ``controls`` the facade hands to the LM's generate, one entry per call."""
    return _Field(lm_calls, "controls")


@pytest.fixture
def tone():
    """A 1 s, 440 Hz sine at 32 kHz, shape (T,)."""
    t = np.arange(32000) / 32000
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
