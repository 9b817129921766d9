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
def tone():
    """A 1 s, 440 Hz sine at 32 kHz, shape (T,)."""
    t = np.arange(32000) / 32000
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
