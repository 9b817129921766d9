"""Building blocks of the mastering chain (meters, limiter, shaping, spec). The entry point is
:func:`audiogen.master.master`."""

from audiogen.mastering.limiter import limit_true_peak
from audiogen.mastering.measure import integrated_loudness, sample_peak_db, true_peak_db
from audiogen.mastering.spec import LOUDNESS_PRESETS, MasteringReport, MasteringSpec, resolve_loudness

__all__ = [
    "LOUDNESS_PRESETS",
    "MasteringReport",
    "MasteringSpec",
    "integrated_loudness",
    "limit_true_peak",
    "resolve_loudness",
    "sample_peak_db",
    "true_peak_db",
]
