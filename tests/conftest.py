import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def tone():
    """A 1 s, 440 Hz sine at 32 kHz, shape (T,)."""
    t = np.arange(32000) / 32000
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
