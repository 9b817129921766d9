"""``audiogen codec``: encode audio to a token file, decode one back, and build the LM's token cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from audiogen.audio import SAMPLE_RATE, load_audio, resample, save_audio
from audiogen.codec.backends import load_codec
from audiogen.codec.tokenfile import TokenHeader, read_tokens, write_tokens


def _n_q(codec, args: argparse.Namespace) -> int:
    if args.codebooks is not None:
        if not 1 <= args.codebooks <= codec.n_q:
            raise ValueError(f"--codebooks must be in [1, {codec.n_q}], got {args.codebooks}")
        return args.codebooks
    if args.bitrate is not None:
        return codec.n_q_for_kbps(args.bitrate)
    return codec.n_q


def encode_file(codec, src: str | Path, dst: str | Path, n_q: int) -> TokenHeader:
    """Encode an audio file into a ``.agc`` token file with ``n_q`` codebooks; returns the header written."""
    wav = load_audio(src, sample_rate=codec.sample_rate)
    codes = codec.encode(torch.from_numpy(wav)[None], n_q=n_q)[0].numpy()
    header = TokenHeader(
        codec.model_id, codec.sample_rate, codec.frame_rate, n_q, codec.codebook_size, len(wav), codes.shape[1]
    )
    write_tokens(dst, codes, header)
    return header


def decode_file(codec, src: str | Path, dst: str | Path, bitrate: int = 192) -> Path:
    """Decode a ``.agc`` token file made by ``codec`` into audio (wav/flac/mp3/ogg at 32 kHz)."""
    from audiogen.fileio import check_writable

    check_writable(dst, "output")
    codes, header = read_tokens(src, expect_model_id=codec.model_id)
    wav = codec.decode(torch.from_numpy(codes)[None])[0, : header.num_samples].numpy()
    return save_audio(dst, resample(wav, codec.sample_rate, SAMPLE_RATE), bitrate=bitrate)


def _encode(args: argparse.Namespace) -> int:
    codec = load_codec(args.codec)
    header = encode_file(codec, args.input, args.output, _n_q(codec, args))
    kbps = codec.kbps(header.n_q)
    print(f"{args.output}: {header.frames} frames × {header.n_q} codebooks ({kbps:g} kbps) by {header.model_id}")
    return 0


def _decode(args: argparse.Namespace) -> int:
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


def _controls_shard(cache, manifests, shard: tuple[int, int]) -> int:
    from audiogen.data.control_cache import add_controls

    return add_controls(cache, manifests, shard=shard)


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
    n = run_sharded(_cache_shard, (args.codec, args.manifests, args.out, args.threads), args.jobs)
    print(f"encoded {n} new items into {args.out}")
    return 0


def _beats(args: argparse.Namespace) -> int:
    from audiogen.data.beats import add_beats

    n = add_beats(args.cache, args.manifests)
    print(f"tracked the beats of {n} new items of {args.cache}")
    return 0


def _controls(args: argparse.Namespace) -> int:
    n = run_sharded(_controls_shard, (args.cache, args.manifests), args.jobs)
    print(f"computed the controls of {n} new items of {args.cache}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("codec", help="encode/decode audio with the neural codec")
    csub = p.add_subparsers(dest="codec_command", metavar="CODEC_COMMAND")
    p.set_defaults(func=lambda _a: p.print_help() or 1)
    codec_help = "codec folder, 'v2' (the next codec, shipped), 'encodec' or 'encodec:WEIGHTS' (default: the default's)"

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
    k.set_defaults(func=_controls)
