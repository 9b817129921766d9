"""Originality: is a track close to something the models learned from? (composition, tokens, sound)

:class:`OriginalityChecker` reads a track against the :class:`OriginalityIndex` shipped with a model and returns an
:class:`Originality` (:mod:`.check` describes the readings and the verdict); :mod:`.features` the symbols and
fingerprints compared; :mod:`.index` how an index is built from a token cache.
"""

from audiogen.originality.check import LEVELS, Originality, Reading, check
from audiogen.originality.checker import OriginalityChecker
from audiogen.originality.index import OriginalityIndex, build_index

__all__ = ["LEVELS", "Originality", "OriginalityChecker", "OriginalityIndex", "Reading", "build_index", "check"]
