"""The originality index: what a model learned from, as features (no audio), shipped in ``MODEL/originality/``.

Files::

    index.json           items (id, title, source, licence, seconds), the settings, thresholds and calibration
    index.safetensors    melody [M] / chords [C] int8 (each item's symbols followed by -1), fp_hash [P] int32 and
                         fp_frame [P] uint16 (winnowed token fingerprints of codebook 0 and their first frames, item
                         by item), fp_count [I] int32 (fingerprints per item), sound [S, E] int8 (vectors of 4 s
                         windows x 127, item by item), sound_count [I] int32 (windows per item); wider integer
                         types where the values need them
    checksums.json       SHA-256 of both (verified at load)

Built from a token cache of the training split (codes and dense controls: ``audiogen codec cache`` and ``audiogen
codec controls``) and the manifests' audio (the style vectors): ``audiogen originality build``. Composer pieces have
the exact controls of their recomposed plan; every other item the controls the audio extractor reads from it.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiogen.originality import features

INDEX_NAME, WEIGHTS_NAME = "index.json", "index.safetensors"
VERSION = 2  # 2: fingerprints stored item by item, narrow integer types
K, W = 8, 24  # k-gram of 8 frames (160 ms); winnowing window 24: every shared run of >= 31 frames (0.62 s) is found
MAX_ITEM_DF = 2  # a fingerprint found in more items than this is generic (silence, a held tone), not a copy
SOUND_WINDOW_S = 4.0
SOUND_SCALE = 127.0


# sources of pieces made by audiogen's own procedural composer (audiogen.compose, DATA.md); see chords_to_read
COMPOSED_SOURCES = ("composer",)


@dataclass
class OriginalityIndex:
    """The features of a training corpus. ``items``: one dict per item (``id``, ``title``, ``source``,
    ``licence``, ``seconds``); arrays as in the module docstring; ``codec``: the model id of the codec whose tokens
    were fingerprinted; ``thresholds``: the verdict's threshold per reading (see :mod:`.check`); ``calibration``:
    how they were found."""

    items: list[dict]
    melody: np.ndarray
    melody_item: np.ndarray
    chords: np.ndarray
    chord_item: np.ndarray
    fp_hash: np.ndarray
    fp_item: np.ndarray
    fp_frame: np.ndarray
    sound: np.ndarray
    sound_item: np.ndarray
    codec: str = ""
    frame_rate: float = 50.0
    k: int = K
    w: int = W
    thresholds: dict[str, float] = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.items)
        for name in ("melody_item", "chord_item", "fp_item", "sound_item"):
            a = getattr(self, name)
            if a.size and (a.min() < -1 or a.max() >= n):
                raise ValueError(f"{name} names items outside 0..{n - 1}")
        if len(self.melody) != len(self.melody_item) or len(self.chords) != len(self.chord_item):
            raise ValueError("symbol arrays and their item arrays differ in length")
        if not len(self.fp_hash) == len(self.fp_item) == len(self.fp_frame):
            raise ValueError("fingerprint arrays differ in length")
        if self.sound.ndim != 2 or len(self.sound) != len(self.sound_item):
            raise ValueError(f"sound must be [S, E] with one item per row, got {self.sound.shape}")

    def chords_to_read(self) -> np.ndarray:
        """:attr:`chords` as the chords reading sees them ``[N]``: the changes of items from a source in
        :data:`COMPOSED_SOURCES` (pieces of audiogen's own composer) replaced by :data:`features.SEPARATOR`, which
        matches nothing. Every plan is composed from the same genre templates as those pieces, so sharing a
        progression with one is the composer's idiom, not a copy: at 30 s, 55 of 150 plans shared 10 or more chord
        changes with one of them. Their melodies, tokens and sound are read as any item's."""
        own = np.array([it.get("source") in COMPOSED_SOURCES for it in self.items] + [False])
        owner = np.where(self.chord_item >= 0, self.chord_item, len(self.items))
        return np.where(own[owner], features.SEPARATOR, self.chords)

    # -- size and storage ----------------------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        """The stored arrays: fingerprints item by item (their items as counts, their frames as uint16 when they
        fit), symbols as int8 when they fit; :meth:`load` restores the in-memory form."""
        n = len(self.items)
        counts = np.bincount(self.sound_item, minlength=n) if len(self.sound_item) else np.zeros(n)
        order = np.lexsort((self.fp_frame, self.fp_item))
        return {
            "melody": _narrow(self.melody, np.int8, np.int16), "chords": _narrow(self.chords, np.int8, np.int16),
            "fp_hash": self.fp_hash[order].astype(np.int32),
            "fp_frame": _narrow(self.fp_frame[order], np.uint16, np.int32),
            "fp_count": np.bincount(self.fp_item, minlength=n).astype(np.int32),
            "sound": self.sound.astype(np.int8), "sound_count": counts.astype(np.int32),
        }  # fmt: skip

    def meta(self) -> dict:
        """Everything of :data:`INDEX_NAME`."""
        return {"version": VERSION, "codec": self.codec, "frame_rate": self.frame_rate, "k": self.k, "w": self.w,
                "max_item_df": MAX_ITEM_DF, "sound_window_s": SOUND_WINDOW_S, "thresholds": self.thresholds,
                "calibration": self.calibration, "items": self.items}  # fmt: skip

    def save(self, directory: str | os.PathLike) -> Path:
        """Write :data:`INDEX_NAME`, :data:`WEIGHTS_NAME` and checksums into ``directory`` (each file atomically)."""
        from safetensors.numpy import save_file

        from audiogen.fileio import atomic_write, atomic_write_text
        from audiogen.weights import write_checksums

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.ascontiguousarray(v) for k, v in self._arrays().items()}
        atomic_write(directory / WEIGHTS_NAME, lambda p: save_file(arrays, p))
        atomic_write_text(directory / INDEX_NAME, json.dumps(self.meta(), ensure_ascii=False) + "\n")
        write_checksums(directory, [WEIGHTS_NAME])
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> OriginalityIndex:
        """Read an index written by :meth:`save` (checksums verified)."""
        from safetensors.numpy import load_file

        from audiogen.weights import verify

        directory = Path(directory)
        if not (directory / INDEX_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{directory} holds no originality index ({INDEX_NAME} + {WEIGHTS_NAME}); "
                                    "build one with `audiogen originality build`")  # fmt: skip
        verify(directory / WEIGHTS_NAME)
        meta = json.loads((directory / INDEX_NAME).read_text(encoding="utf-8"))
        if meta.get("version") != VERSION:
            raise ValueError(f"{directory}: originality index version {meta.get('version')}, this code reads {VERSION}")
        a = load_file(str(directory / WEIGHTS_NAME))
        melody, chords = a["melody"].astype(np.int64), a["chords"].astype(np.int64)
        fp_hash = a["fp_hash"].astype(np.int64)
        fp_item = np.repeat(np.arange(len(a["fp_count"])), a["fp_count"])
        order = np.argsort(fp_hash, kind="stable")  # searched by hash
        return cls(
            items=meta["items"], melody=melody, melody_item=owners(melody), chords=chords, chord_item=owners(chords),
            fp_hash=fp_hash[order], fp_item=fp_item[order], fp_frame=a["fp_frame"].astype(np.int64)[order],
            sound=a["sound"],
            sound_item=np.repeat(np.arange(len(a["sound_count"])), a["sound_count"]),
            codec=meta["codec"], frame_rate=meta["frame_rate"], k=meta["k"], w=meta["w"],
            thresholds=meta.get("thresholds", {}), calibration=meta.get("calibration", {}),
        )  # fmt: skip

    def nbytes(self) -> int:
        """Bytes of the stored arrays."""
        return sum(a.nbytes for a in self._arrays().values())


def _narrow(a: np.ndarray, narrow, wide) -> np.ndarray:
    """``a`` as the ``narrow`` integer type when its values fit, else as ``wide``."""
    fits = a.size == 0 or (np.iinfo(narrow).min <= a.min() and a.max() <= np.iinfo(narrow).max)
    return a.astype(narrow if fits else wide)


def owners(symbols: np.ndarray) -> np.ndarray:
    """The item of each position ``[M]`` of joined symbols (each item's symbols followed by one separator); -1 on
    the separators."""
    sep = symbols == features.SEPARATOR
    item = np.cumsum(sep) - sep  # separators before each position
    return np.where(sep, -1, item).astype(np.int64)


def token_hash32(hashes: np.ndarray) -> np.ndarray:
    """The 32-bit fingerprints stored in the index, from :func:`features.kgram_hashes` ``[H]`` uint64 -> int64."""
    return (np.asarray(hashes, dtype=np.uint64) >> np.uint64(32)).astype(np.int64) - 2**31


def item_fingerprints(tokens: np.ndarray, k: int = K, w: int = W) -> tuple[np.ndarray, np.ndarray]:
    """``(hashes [P] int64, frames [P])``: the winnowed fingerprints of coarse tokens ``[T]`` and their first frame,
    uninformative k-grams (:func:`features.informative`) never chosen."""
    hashes = features.kgram_hashes(tokens, k)
    useful = features.informative(tokens, k)
    pos = features.winnow(np.where(useful, hashes, np.iinfo(np.uint64).max), w)
    pos = pos[useful[pos]]
    return token_hash32(hashes[pos]), pos


class IndexBuilder:
    """Accumulates items' features (:meth:`add`), then :meth:`finish` makes the index, with the fingerprints found in
    more than :data:`MAX_ITEM_DF` items dropped as generic."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.melody: list[np.ndarray] = []
        self.chords: list[np.ndarray] = []
        self.fps: list[tuple[np.ndarray, np.ndarray]] = []
        self.sound: list[np.ndarray] = []

    def add(self, item: dict, tokens: np.ndarray, controls: np.ndarray | None, sound: np.ndarray | None) -> None:
        """One item: coarse ``tokens`` ``[T]``, dense ``controls`` ``[T', F]`` (or None), window style vectors
        ``sound`` ``[S, E]`` (unit rows; or None)."""
        self.items.append(item)
        empty = np.zeros(0, dtype=np.int64)
        self.melody.append(features.melody_symbols(controls)[0] if controls is not None else empty)
        self.chords.append(features.chord_symbols(controls)[0] if controls is not None else empty)
        self.fps.append(item_fingerprints(tokens))
        self.sound.append(sound if sound is not None else np.zeros((0, 128), dtype=np.float32))

    @staticmethod
    def _join(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        syms, owner = [], []
        for i, p in enumerate(parts):
            syms += [p, [features.SEPARATOR]]
            owner += [np.full(len(p), i), [-1]]
        if not syms:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(syms).astype(np.int64), np.concatenate(owner).astype(np.int64)

    def finish(self, codec: str, frame_rate: float) -> OriginalityIndex:
        """The index of the items added, for tokens of ``codec`` (its model id) at ``frame_rate`` frames/s."""
        melody, melody_item = self._join(self.melody)
        chords, chord_item = self._join(self.chords)
        h = np.concatenate([f[0] for f in self.fps]) if self.fps else np.zeros(0, dtype=np.int64)
        frames = np.concatenate([f[1] for f in self.fps]) if self.fps else np.zeros(0, dtype=np.int64)
        owner = np.concatenate([np.full(len(f[0]), i) for i, f in enumerate(self.fps)]) if self.fps else frames
        pairs = np.unique(np.stack([h, owner]), axis=1)  # distinct (hash, item)
        uniq, df = np.unique(pairs[0], return_counts=True)
        keep = ~np.isin(h, uniq[df > MAX_ITEM_DF])
        order = np.argsort(h[keep], kind="stable")
        dims = max((s.shape[1] for s in self.sound if len(s)), default=128)
        sound = np.concatenate([s.reshape(-1, dims) for s in self.sound]) if self.sound else np.zeros((0, dims))
        sound_item = np.concatenate([np.full(len(s), i) for i, s in enumerate(self.sound)]) if self.sound else []
        return OriginalityIndex(
            items=self.items, melody=melody, melody_item=melody_item, chords=chords, chord_item=chord_item,
            fp_hash=h[keep][order], fp_item=owner[keep][order], fp_frame=frames[keep][order],
            sound=np.clip(np.round(sound * SOUND_SCALE), -127, 127).astype(np.int8),
            sound_item=np.asarray(sound_item, dtype=np.int64), codec=codec, frame_rate=frame_rate,
        )  # fmt: skip


def logmel_windows(encoder, logmel, window_s: float = SOUND_WINDOW_S, hop_s: float | None = None,
                   batch: int = 32) -> np.ndarray:  # fmt: skip
    """Vectors ``[S, E]`` (unit rows, float32) of the ``window_s`` windows, every ``hop_s`` seconds (default: back
    to back), of a whole clip's log-mel ``[M, F]`` (:meth:`StyleEncoder.log_mel`); a shorter clip gives one."""
    import torch

    cfg = encoder.config
    x = torch.as_tensor(np.asarray(logmel, dtype=np.float32))
    n = int(window_s * cfg.sample_rate) // cfg.hop + 1  # frames of one window (centred STFT), as the encoder trains
    hop = max(1, int((hop_s or window_s) * cfg.sample_rate) // cfg.hop)
    starts = [0] if x.shape[1] <= n else list(range(0, x.shape[1] - n + 1, hop))
    was_training = encoder.training
    encoder.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(starts), batch):
            crops = torch.stack([x[:, s : s + n] for s in starts[i : i + batch]])
            out.append(encoder.embed_log_mel(crops).float().numpy())
    encoder.train(was_training)
    return np.concatenate(out)


def clip_logmel(encoder, audio: np.ndarray) -> np.ndarray:
    """The log-mel ``[M, F]`` float32 of mono ``audio`` ``[T]`` at the encoder's rate (padded to one FFT)."""
    import torch

    x = np.asarray(audio, dtype=np.float32).flatten()
    x = np.pad(x, (0, max(0, encoder.config.n_fft - len(x))))
    with torch.no_grad():
        return encoder.log_mel(torch.from_numpy(x)[None])[0].numpy()


def window_vectors(encoder, audio: np.ndarray, window_s: float = SOUND_WINDOW_S, hop_s: float | None = None,
                   batch: int = 32) -> np.ndarray:  # fmt: skip
    """:func:`logmel_windows` of mono ``audio`` ``[T]`` at the encoder's rate."""
    return logmel_windows(encoder, clip_logmel(encoder, audio), window_s, hop_s, batch)


def manifest_roots(manifests: list[str]) -> dict[str, tuple]:
    """``track -> (record, manifest folder)`` of every record of ``manifests``."""
    from audiogen.data.manifest import iter_manifest

    out = {}
    for m in manifests:
        for rec in iter_manifest(m):
            out[rec.track] = (rec, Path(m).parent)
    return out


def item_logmel(encoder, item, cache, records: dict, logmel_dir: Path | None) -> np.ndarray | None:
    """The log-mel ``[M, F]`` of a cache item's audio (None when its manifest record is not found), read from
    ``logmel_dir`` when it is there, else computed (and stored there, float16, when a folder is given)."""
    from audiogen.audio import load_audio
    from audiogen.data.token_cache import item_filename

    path = None if logmel_dir is None else Path(logmel_dir) / item_filename(item.id)
    if path is not None and path.is_file():
        return np.load(path).astype(np.float32)
    found = records.get(item.record.get("track"))
    if found is None:
        return None
    rec, root = found
    wav = load_audio(rec.resolve_path(root), encoder.config.sample_rate, rec.offset, item.frames / cache.frame_rate,
                     allow_silent=True)  # fmt: skip
    logmel = clip_logmel(encoder, wav)
    if path is not None:
        from audiogen.data.token_cache import atomic_save_npy

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(path, logmel.astype(np.float16))
    return logmel


def rendered(record: dict) -> bool:
    """True for a manifest record of music rendered from notes through a soundfont (the symbolic corpora)."""
    return "soundfont" in (record.get("descriptors") or {})


def build_index(cache_dir: str | os.PathLike, manifests: list[str], style_dir: str | os.PathLike,
                split: str = "train", progress: bool = True, logmel_dir: str | os.PathLike | None = None,
                sound_rendered: bool = False) -> OriginalityIndex:  # fmt: skip
    """The index of the ``split`` items of a token cache (codes and controls) with the vectors of their audio's
    4 s windows by the encoder in ``style_dir`` (the copy encoder, :mod:`.encoder`, or the style encoder; the audio
    found through ``manifests``; their log-mels kept in ``logmel_dir`` when given, so a second build with another
    encoder of the same front end reads no audio). Items rendered through a soundfont get no sound windows unless
    ``sound_rendered``: any two pieces played by the same soundfont and instruments sound alike by construction
    (their windows read as close as a copy: ``BENCHMARKS.md``), so for them the melody, chords and tokens decide.
    Items without controls are refused with the command that makes them."""
    from audiogen.conditioning.style_encoder import StyleEncoder
    from audiogen.data.token_cache import TokenCache

    cache = TokenCache(cache_dir)
    if not (Path(cache_dir) / "controls.jsonl").is_file():
        raise FileNotFoundError(f"{cache_dir} has no controls; run `audiogen codec controls MANIFEST... --cache "
                                f"{cache_dir}` first")  # fmt: skip
    encoder = StyleEncoder.from_pretrained(style_dir)
    records = manifest_roots(manifests)
    builder = IndexBuilder()
    rows = cache.split(split)
    for n, i in enumerate(rows):
        item = cache[i]
        rec = item.record
        controls = cache.controls(i)
        if controls is None:
            raise ValueError(f"{cache_dir}: item {item.id} has no controls; run `audiogen codec controls` again")
        tokens = np.asarray(cache.codes(i, mmap=False))[0]
        sound = None
        if sound_rendered or not rendered(rec):
            logmel = item_logmel(encoder, item, cache, records, Path(logmel_dir) if logmel_dir else None)
            sound = None if logmel is None else logmel_windows(encoder, logmel)
        meta = {"id": item.id, "title": rec.get("title") or rec["track"], "source": rec.get("source", ""),
                "licence": rec.get("licence", ""), "seconds": round(item.frames / cache.frame_rate, 2)}  # fmt: skip
        builder.add(meta, tokens, np.asarray(controls, dtype=np.float32), sound)
        if progress and (n + 1) % 25 == 0:
            print(f"originality index: {n + 1}/{len(rows)} items", file=sys.stderr, flush=True)
    return builder.finish(cache.codec_id, cache.frame_rate)
