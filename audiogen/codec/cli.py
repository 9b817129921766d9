"""``audiogen codec``: encode audio to a token file, decode one back, and build the LM's token cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from audiogen.audio import SAMPLE_RATE, load_audio
from audiogen.codec.backends import load_codec
from audiogen.codec.model import DECODE_WINDOW
from audiogen.codec.tokenfile import TokenHeader, write_tokens


def _n_q(codec, args: argparse.Namespace) -> int:
    if args.codebooks is not None:
        if not 1 <= args.codebooks <= codec.n_q:
            raise ValueError(f"--codebooks must be in [1, {codec.n_q}], got {args.codebooks}")
        return args.codebooks
    if args.bitrate is not None:
        return codec.n_q_for_kbps(args.bitrate)
    return codec.n_q


def encode_file(codec, src: str | Path, dst: str | Path, n_q: int) -> TokenHeader:
    """Encode an audio file into a ``.agc`` token file with ``n_q`` codebooks; returns the header written. Audio
    longer than a token file holds (:data:`~audiogen.codec.tokenfile.MAX_SECONDS`) is refused before it is read."""
    from audiogen.audio import audio_info
    from audiogen.codec.tokenfile import MAX_SECONDS
    from audiogen.fileio import check_writable

    check_writable(dst, "output")
    seconds = audio_info(src)[0]
    if seconds > MAX_SECONDS:
        raise ValueError(f"{src}: {seconds / 3600:.1f} h of audio; a token file holds at most {MAX_SECONDS / 3600:g} h "
                         "(split the audio and encode the parts)")  # fmt: skip
    wav = load_audio(src, sample_rate=codec.sample_rate)
    codes = codec.encode(torch.from_numpy(wav)[None], n_q=n_q)[0].numpy()
    header = TokenHeader(
        codec.model_id, codec.sample_rate, codec.frame_rate, n_q, codec.codebook_size, len(wav), codes.shape[1]
    )
    write_tokens(dst, codes, header)
    return header


def decode_file(codec, src: str | Path, dst: str | Path, bitrate: int = 192, window: int = DECODE_WINDOW) -> Path:
    """Decode a ``.agc`` token file made by ``codec`` into audio (wav/flac/mp3/ogg at 32 kHz).

    The tokens are decoded ``window`` token frames at a time and each piece is written as it comes
    (:meth:`~audiogen.codec.model.Codec.decode_windows`; for a codec without it, overlapping windows crossfaded), so
    memory stays that of one window however long the file; the output appears under its name only when complete."""
    from audiogen.audio import audio_writer
    from audiogen.codec.tokenfile import open_tokens
    from audiogen.fileio import check_writable

    check_writable(dst, "output")
    tokens = open_tokens(src, expect_model_id=codec.model_id)
    header = tokens.header

    def read(a: int, b: int) -> torch.Tensor:
        return torch.from_numpy(tokens.codes(a, b))[None]  # (1, n_q, b - a)

    if hasattr(codec, "decode_windows"):
        pieces = codec.decode_windows(read, header.frames, window)
    else:
        pieces = crossfaded_windows(codec, read, header.frames, window)
    left = header.num_samples  # the source's own length: the last frame's padding is cut
    resampler = StreamResampler(codec.sample_rate, SAMPLE_RATE)
    with audio_writer(dst, SAMPLE_RATE, bitrate) as write:
        for wav in pieces:
            piece = wav[0, :left].numpy()
            left -= piece.size
            out = resampler(piece)
            if out.size:
                write(out)
        tail = resampler.flush()
        if tail.size:
            write(tail)
    return Path(dst)


def crossfaded_windows(codec, read, frames: int, window: int, context: int | None = None, fade: int | None = None):
    """A decode in windows for a codec without its own (:meth:`~audiogen.codec.model.Codec.decode_windows`): each
    window of ``window`` token frames is decoded with ``context`` frames on each side (default: one second) and
    crossfaded linearly over ``fade`` samples (default: 20 ms) into the next. Yields waveforms ``[1, T]``."""
    fs = round(codec.sample_rate / codec.frame_rate)  # samples per token frame
    context = round(codec.frame_rate) if context is None else context
    fade = min(round(0.02 * codec.sample_rate), context * fs) if fade is None else fade
    tail = None
    for s in range(0, frames, window):
        e = min(frames, s + window)
        a, b = max(0, s - context), min(frames, e + context)
        wav = codec.decode(read(a, b))[:, (s - a) * fs :]  # (1, T) from frame s on
        keep = (e - s) * fs
        if tail is not None:
            n = min(fade, tail.shape[-1], wav.shape[-1])
            ramp = torch.linspace(0.0, 1.0, n + 2, dtype=wav.dtype)[1:-1]
            wav = torch.cat([tail[..., :n] * (1 - ramp) + wav[..., :n] * ramp, wav[..., n:]], -1)
        tail = wav[..., keep : keep + fade] if e < frames else None
        yield wav[..., :keep]


class StreamResampler:
    """:func:`~audiogen.audio.resample` of a signal given in pieces: the pieces of the output, equal (up to float
    rounding) to resampling the whole signal at once. Each call takes the next input piece ``(T,)`` and returns
    the output ready so far ``(T',)``; :meth:`flush` returns the rest at the end."""

    def __init__(self, orig_sr: int, target_sr: int) -> None:
        from math import gcd

        g = gcd(int(orig_sr), int(target_sr))
        self.up, self.down = int(target_sr) // g, int(orig_sr) // g
        # resample_poly's filter reaches 10 * max(up, down) taps of the upsampled signal: that many input samples
        reach = -(-10 * max(self.up, self.down) // self.up) + 1
        self.context = -(-reach // self.down) * self.down  # input samples, a multiple of down
        self.buffer = np.zeros(0, np.float32)
        self.start = 0  # input index of buffer[0]
        self.done = 0  # output samples given so far

    def __call__(self, piece: np.ndarray) -> np.ndarray:
        """The next input piece ``(T,)`` → the output samples it completes ``(T',)``."""
        if self.up == self.down:
            return np.asarray(piece, np.float32)
        self.buffer = np.concatenate([self.buffer, np.asarray(piece, np.float32)])
        end = self.start + self.buffer.size - self.context  # input samples whose output is complete
        end -= end % self.down
        return self._emit(end * self.up // self.down)

    def flush(self) -> np.ndarray:
        """The output samples left at the end of the signal."""
        if self.up == self.down:
            return np.zeros(0, np.float32)
        total = self.start + self.buffer.size
        return self._emit(-(-total * self.up // self.down))

    def _emit(self, until: int) -> np.ndarray:
        from audiogen.audio import resample

        if until <= self.done:
            return np.zeros(0, np.float32)
        y = resample(self.buffer, self.down, self.up)  # buffer[0] is input sample start (a multiple of down)
        first = self.start * self.up // self.down
        out = y[self.done - first : until - first]
        self.done += out.size
        keep_from = max(0, (self.done * self.down // self.up) - self.context)  # input still needed as context
        keep_from -= keep_from % self.down
        if keep_from > self.start:
            self.buffer = self.buffer[keep_from - self.start :]
            self.start = keep_from
        return out


def _encode(args: argparse.Namespace) -> int:
    from audiogen.fileio import check_readable, check_writable, remove_stale_temporaries

    check_readable(args.input, "input")
    remove_stale_temporaries(check_writable(args.output, "output"))
    codec = load_codec(args.codec)
    header = encode_file(codec, args.input, args.output, _n_q(codec, args))
    kbps = codec.kbps(header.n_q)
    print(f"{args.output}: {header.frames} frames × {header.n_q} codebooks ({kbps:g} kbps) by {header.model_id}")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from audiogen.codec.tokenfile import open_tokens
    from audiogen.fileio import check_readable, check_writable, remove_stale_temporaries

    check_readable(args.input, "input")
    open_tokens(args.input)  # a damaged, foreign or too long file is refused before the codec loads
    remove_stale_temporaries(check_writable(args.output, "output"))
    print(decode_file(load_codec(args.codec), args.input, args.output, args.mp3_bitrate))
    return 0


def build_token_cache(
    codec, manifests: list[str], out: str | Path, max_seconds: float = 600.0, shard: tuple[int, int] = (0, 1)
) -> int:
    """Encode every track of ``manifests`` (all splits) into a token cache folder, skipping items already there;
    ``shard`` ``(i, n)`` encodes only this worker's share (:func:`audiogen.data.token_cache.in_shard`).

    Returns the number of items encoded now. Each item is written atomically, so a killed run resumes.
    """
    from audiogen.data.manifest import iter_manifest
    from audiogen.data.token_cache import TokenCacheWriter, in_shard

    done = 0
    with TokenCacheWriter(out, codec.model_id, codec.frame_rate, codec.n_q, codec.codebook_size) as writer:
        for manifest in manifests:
            root = Path(manifest).parent
            for rec in iter_manifest(manifest):
                item_id = f"{rec.track}@{rec.offset:g}"
                if writer.has(item_id) or not in_shard(item_id, shard):
                    continue
                try:
                    wav = load_audio(
                        rec.resolve_path(root), codec.sample_rate, rec.offset, min(rec.duration, max_seconds)
                    )
                except ValueError as err:
                    print(f"skipped: {err}", file=sys.stderr)
                    continue
                codes = codec.encode(torch.from_numpy(wav)[None])[0]
                writer.add(item_id, codes.to(torch.int16), rec)
                done += 1
    return done


def _cache_shard(codec_spec, manifests, out, threads: int, shard: tuple[int, int]) -> int:
    torch.set_num_threads(threads)
    return build_token_cache(load_codec(codec_spec), manifests, out, shard=shard)


def _controls_shard(cache, manifests, reuse, shard: tuple[int, int]) -> int:
    from audiogen.data.control_cache import add_controls

    return add_controls(cache, manifests, shard=shard, reuse=reuse)


def run_sharded(fn, args: tuple, jobs: int) -> int:
    """``fn(*args, shard=(i, jobs))`` in ``jobs`` processes (in this one for 1); the sum of their results."""
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    if jobs == 1:
        return fn(*args, shard=(0, 1))
    import functools
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(functools.partial(fn, *args, shard=(i, jobs))) for i in range(jobs)]
        return sum(f.result() for f in futures)


def _cache(args: argparse.Namespace) -> int:
    from audiogen.threads import pick_threads

    args.threads = pick_threads(args.threads)  # at most the cores this process may use
    n = run_sharded(_cache_shard, (args.codec, args.manifests, args.out, args.threads), args.jobs)
    print(f"encoded {n} new items into {args.out}")
    return 0


def _beats(args: argparse.Namespace) -> int:
    from audiogen.data.beats import add_beats

    n = add_beats(args.cache, args.manifests)
    print(f"tracked the beats of {n} new items of {args.cache}")
    return 0


def _controls(args: argparse.Namespace) -> int:
    if args.reuse and not (Path(args.reuse) / "cache.json").is_file():
        print(f"--reuse {args.reuse}: no token cache there; every item is read from its audio", file=sys.stderr)
        args.reuse = None
    n = run_sharded(_controls_shard, (args.cache, args.manifests, args.reuse), args.jobs)
    print(f"computed the controls of {n} new items of {args.cache}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("codec", help="encode/decode audio with the neural codec")
    csub = p.add_subparsers(dest="codec_command", metavar="CODEC_COMMAND")
    p.set_defaults(func=lambda _a: p.print_help() or 1)
    codec_help = "codec folder, 'encodec' or 'encodec:WEIGHTS' (default: the default's)"

    e = csub.add_parser("encode", help="audio file → .agc token file")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--bitrate", type=float, default=None, help="target kbps (picks the most codebooks that fit)")
    e.add_argument("--codebooks", type=int, default=None, help="number of codebooks (instead of --bitrate)")
    e.add_argument("--codec", default=None, help=codec_help)
    e.set_defaults(func=_encode)

    d = csub.add_parser("decode", help=".agc token file → audio (wav/mp3/flac/ogg)")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--mp3-bitrate", type=int, default=192)
    d.add_argument("--codec", default=None, help=codec_help)
    d.set_defaults(func=_decode)

    c = csub.add_parser("cache", help="encode corpus manifests into a token cache for LM training (resumable)")
    c.add_argument("manifests", nargs="+")
    c.add_argument("--out", required=True)
    c.add_argument("--codec", default=None, help=codec_help)
    c.add_argument("--threads", type=int, default=1, help="torch threads per process")
    c.add_argument("--jobs", type=int, default=1, help="processes, each encoding its share of the items")
    c.set_defaults(func=_cache)

    b = csub.add_parser("beats", help="track the beats of a token cache's items (the LM's beat clock; resumable)")
    b.add_argument("manifests", nargs="+", help="the manifests the cache was built from")
    b.add_argument("--cache", required=True, help="the token cache folder")
    b.set_defaults(func=_beats)

    k = csub.add_parser(
        "controls",
        help="dense controls of a token cache's items (chords, melody, beats, level; the LM's plan input; resumable)",
    )
    k.add_argument("manifests", nargs="+", help="the manifests the cache was built from")
    k.add_argument("--cache", required=True, help="the token cache folder")
    k.add_argument("--jobs", type=int, default=1, help="processes, each reading its share of the items")
    k.add_argument("--reuse", default=None, help="another token cache of the same corpus and frame rate (another "
                   "codec's): items it has controls for take them from there (they are read from the audio)")
    k.set_defaults(func=_controls)
