"""What the originality check compares: melody and chord symbols, token fingerprints, longest shared runs.

Every reading is invariant to what a copy may change without ceasing to be a copy:

- **melody** (:func:`melody_symbols`): the melody's notes from the dense controls (:mod:`audiogen.controls.layout`,
  50 frames/s; the same layout from a plan, exact, and from audio, read by :mod:`audiogen.controls.extract`). A note
  is a run of one pitch class of at least :data:`MIN_NOTE_FRAMES`; one symbol per note from the second on: the
  interval from the previous note (semitones mod 12: transposition drops out) and the ratio of its inter-onset
  interval to the previous one, in 5 classes (:func:`_log2_ratio`; tempo drops out). 60 symbols.
- **chords** (:func:`chord_symbols`): the major/minor triad per frame; a chord lasting at least
  :data:`MIN_CHORD_FRAMES`, repeats merged; one symbol per change: root motion mod 12, the new chord's quality and its
  duration ratio to the previous chord (3 classes). 72 symbols.
- **tokens** (:func:`kgram_hashes`, :func:`winnow`): hashes of every ``k`` consecutive coarse codec tokens; a training
  corpus is stored as its winnowed fingerprints (Schleimer, Wilkerson and Aiken, "Winnowing", SIGMOD 2003: the
  minimum hash of every window of ``w`` hashes), which finds every shared run of at least ``w + k - 1`` frames from
  about 2 / (w + 1) of the hashes.

:func:`longest_shared_run` is the exact longest common substring between a query and every item of a concatenated
corpus, in time proportional to the corpus positions that hold the query's symbols.
"""

from __future__ import annotations

import numpy as np

from audiogen.controls import chords as chord_vocab
from audiogen.controls import layout

MIN_NOTE_FRAMES = 4  # 80 ms: shorter pitch runs are ornaments or extractor noise
MIN_CHORD_FRAMES = 10  # 200 ms
MELODY_SYMBOLS = 12 * 5
CHORD_SYMBOLS = 12 * 2 * 3
SEPARATOR = -1  # between corpus items: never equal to a symbol
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_HASH_ADD = np.uint64(0x632BE59BD9B4E019)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts [R], lengths [R], values [R])`` of the runs of equal values in ``values`` ``[T]``."""
    values = np.asarray(values)
    if values.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, values[:0]
    change = np.flatnonzero(np.diff(values) != 0) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [values.size]]))
    return starts, lengths, values[starts]


def _log2_ratio(a: np.ndarray, b: np.ndarray, limit: int) -> np.ndarray:
    """The ratio ``a / b`` (positive) as a class in ``[-limit, limit]``: 0 for nearly equal (within 2^±0.29, about
    ±22 %), ±1 up to 2^1.29 (3:2 and 2:1 both), ±2 beyond (3:1, 4:1). The edges lie between the ratios rhythm
    uses, so a copy re-timed by a few percent or read a frame off keeps its classes."""
    edges = np.array([-1.29, -0.29, 0.29, 1.29])[2 - limit : 2 + limit]
    return (np.digitize(np.log2(a / b), edges) - limit).astype(np.int64)


def melody_notes(controls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(onsets [N] frames, pitch classes [N])`` of the melody in ``controls`` ``[T, CONTROL_FEATURES]``: runs of one
    pitch class at least :data:`MIN_NOTE_FRAMES` long (rests and shorter runs are not notes)."""
    controls = np.asarray(controls, dtype=np.float32)
    mel = controls[:, layout.MELODY]
    pcs = np.where((mel.max(axis=1) > 0) & (controls[:, layout.MELODY_ON] > 0), mel.argmax(axis=1), -1)
    starts, lengths, values = _runs(pcs)
    keep = (values >= 0) & (lengths >= MIN_NOTE_FRAMES)
    return starts[keep], values[keep].astype(np.int64)


def melody_symbols(controls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(symbols [N - 2] int in [0, MELODY_SYMBOLS), frames [N - 2])`` of the melody in ``controls`` ``[T, F]``:
    per note from the third on, ``12 * (ratio + 2) + interval`` (see the module docstring); ``frames`` is each
    symbol's note onset."""
    onsets, pcs = melody_notes(controls)
    if len(onsets) < 3:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ioi = np.diff(onsets).astype(np.float64)  # [N - 1]: the gap after each note but the last
    interval = (pcs[2:] - pcs[1:-1]) % 12
    ratio = _log2_ratio(ioi[1:], ioi[:-1], 2)
    return 12 * (ratio + 2) + interval, onsets[2:]


def frame_chords(controls: np.ndarray) -> np.ndarray:
    """Chord per frame ``[T]`` of ``controls`` ``[T, F]``: the row of :func:`audiogen.controls.chords.templates`
    (0-11 major, 12-23 minor) its chord chroma matches best, -1 without a chord."""
    controls = np.asarray(controls, dtype=np.float32)
    chroma = controls[:, layout.CHORD]
    present = (chroma.max(axis=1) > 0) & (controls[:, layout.CHORD_ON] > 0)
    return np.where(present, (chroma @ chord_vocab.templates().T).argmax(axis=1), -1)


def chord_symbols(controls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(symbols [M - 1] int in [0, CHORD_SYMBOLS), frames [M - 1])`` of the chord changes in ``controls``
    ``[T, F]``: ``24 * (ratio + 1) + 12 * minor + root motion`` per chord from the second on; ``frames`` is each
    chord's onset."""
    starts, lengths, values = _runs(frame_chords(controls))
    keep = (values >= 0) & (lengths >= MIN_CHORD_FRAMES)
    starts, lengths, values = starts[keep], lengths[keep], values[keep]
    if len(values):  # merge repeats left after dropping short chords and gaps
        first = np.concatenate([[True], values[1:] != values[:-1]])
        group = np.cumsum(first) - 1
        lengths = np.bincount(group, weights=lengths).astype(np.int64)
        starts, values = starts[first], values[first]
    if len(values) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    roots, minor = values % 12, values // 12
    motion = (roots[1:] - roots[:-1]) % 12
    ratio = _log2_ratio(lengths[1:].astype(np.float64), lengths[:-1].astype(np.float64), 1)
    return 24 * (ratio + 1) + 12 * minor[1:] + motion, starts[1:]


def longest_shared_run(query: np.ndarray, corpus: np.ndarray) -> tuple[int, int, int]:
    """The longest common contiguous run of ``query`` ``[N]`` and ``corpus`` ``[M]`` (items joined by
    :data:`SEPARATOR`, which matches nothing): ``(length, end in query (exclusive), end in corpus (exclusive))``;
    ``(0, 0, 0)`` when nothing is shared. Exact: the dynamic programme of
    :func:`longest_shared_run_reference`, kept sparse (per query symbol only the corpus positions holding it)."""
    query, corpus = np.asarray(query, dtype=np.int64), np.asarray(corpus, dtype=np.int64)
    best, best_q, best_c = 0, 0, 0
    order = np.argsort(corpus, kind="stable")
    sorted_syms = corpus[order]
    prev_pos = np.zeros(0, dtype=np.int64)  # corpus positions with a non-zero run after the previous query symbol
    prev_run = np.zeros(0, dtype=np.int64)
    for i, s in enumerate(query):
        if s == SEPARATOR:
            prev_pos, prev_run = prev_pos[:0], prev_run[:0]
            continue
        a, b = np.searchsorted(sorted_syms, [s, s + 1])
        pos = order[a:b]  # ascending: a stable sort keeps positions in order within one symbol
        j = np.searchsorted(prev_pos, pos - 1)
        found = (
            (j < len(prev_pos)) & (prev_pos[np.minimum(j, len(prev_pos) - 1)] == pos - 1)
            if len(prev_pos)
            else np.zeros(len(pos), dtype=bool)
        )
        run = np.ones(len(pos), dtype=np.int64)
        run[found] += prev_run[j[found]]
        prev_pos, prev_run = pos, run
        if len(run):
            k = int(run.argmax())
            if run[k] > best:
                best, best_q, best_c = int(run[k]), i + 1, int(pos[k]) + 1
    return best, best_q, best_c


def longest_shared_run_reference(query, corpus) -> tuple[int, int, int]:
    """:func:`longest_shared_run` by plain dynamic programming (the slow reference its tests compare against)."""
    best, best_q, best_c = 0, 0, 0
    prev = [0] * (len(corpus) + 1)
    for i, s in enumerate(query, 1):
        cur = [0] * (len(corpus) + 1)
        for j, c in enumerate(corpus, 1):
            if s == c and s != SEPARATOR:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best, best_q, best_c = cur[j], i, j
        prev = cur
    return best, best_q, best_c


def kgram_hashes(tokens: np.ndarray, k: int) -> np.ndarray:
    """64-bit hashes ``[T - k + 1]`` of every ``k`` consecutive tokens of ``tokens`` ``[T]`` (non-negative ints);
    empty when ``T < k``. Equal k-grams hash equally in any array."""
    tokens = np.asarray(tokens, dtype=np.uint64)
    n = tokens.size - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.zeros(n, dtype=np.uint64)
        for j in range(k):  # polynomial rolling hash, then a final mix
            h = h * _HASH_MUL + tokens[j : j + n] + np.uint64(1)
        h ^= h >> np.uint64(29)
        h = h * _HASH_ADD
        h ^= h >> np.uint64(32)
    return h


MIN_DISTINCT = 3  # a k-gram of fewer distinct tokens (a held tone, silence) says nothing about where it came from


def informative(tokens: np.ndarray, k: int, min_distinct: int = MIN_DISTINCT) -> np.ndarray:
    """``[T - k + 1]`` bool: which k-grams of ``tokens`` ``[T]`` hold at least ``min_distinct`` distinct tokens.
    A long held sound repeats one token; two tracks that both hold one would otherwise share a "run" of it."""
    tokens = np.asarray(tokens)
    if tokens.size < k:
        return np.zeros(0, dtype=bool)
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(tokens, k), axis=1)
    return (np.diff(windows, axis=1) != 0).sum(axis=1) + 1 >= min_distinct


def winnow(hashes: np.ndarray, w: int) -> np.ndarray:
    """Positions ``[P]`` (ascending) of the winnowed fingerprints of ``hashes`` ``[H]``: in every window of ``w``
    consecutive hashes the rightmost minimum is kept (each position once). Every run of ``w`` consecutive hashes
    contains a kept position; shorter inputs keep their minimum."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    if hashes.size == 0:
        return np.zeros(0, dtype=np.int64)
    if hashes.size <= w:
        return np.array([hashes.size - 1 - int(np.argmin(hashes[::-1]))], dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(hashes, w)  # [H - w + 1, w]
    rightmost = w - 1 - np.argmin(windows[:, ::-1], axis=1)
    return np.unique(np.arange(windows.shape[0]) + rightmost)
