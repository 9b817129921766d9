"""A small originality index over composed plans, for tests and examples (no corpus, no audio needed).

:func:`plans_index` indexes the exact controls of a few plans, with ``tokens`` per item (or random ones) and random
unit style vectors; thresholds are set by hand (:data:`TEST_THRESHOLDS`), not calibrated.
"""

from __future__ import annotations

import numpy as np

from audiogen.originality.index import IndexBuilder, OriginalityIndex

TEST_THRESHOLDS = {"melody": 12.0, "chords": 40.0, "tokens": 2.0, "sound": 0.99}


def plans_index(plans: list, tokens: list[np.ndarray] | None = None, codec: str = "untrained", seed: int = 0,
                dim: int = 128) -> OriginalityIndex:  # fmt: skip
    """An index whose item ``i`` is ``plans[i]`` (exact controls), ``tokens[i]`` ``[T]`` (default: 1,500 random
    codes of 1,024) and four random style vectors of width ``dim``."""
    from audiogen.controls.from_plan import plan_controls

    rng = np.random.default_rng(seed)
    builder = IndexBuilder()
    for i, plan in enumerate(plans):
        toks = tokens[i] if tokens is not None else rng.integers(0, 1024, 1500)
        vec = rng.standard_normal((4, dim))
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        item = {"id": f"plan-{i}", "title": f"Test piece {i}", "source": "test", "licence": "CC0-1.0",
                "seconds": round(plan.duration, 2)}  # fmt: skip
        builder.add(item, np.asarray(toks), plan_controls(plan), vec.astype(np.float32))
    index = builder.finish(codec, 50.0)
    index.thresholds = dict(TEST_THRESHOLDS)
    return index
