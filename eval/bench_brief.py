"""Picture and video briefs: does the mood follow the picture, and the music the video's cuts?

- **Mood**: ``--pairs`` pairs of contrasting pictures made by :func:`audiogen.brief.synth.contrast_pair` (the same
  layout bright and saturated, then dark and muted); each picture is the only brief of a ``--duration`` s track (same
  seed for both members). A pair is ranked right when the bright picture's track reads happier: by our analyzer
  (``audiogen analyze``'s valence) and by the musicnn judge (``happy − sad`` tag score, as in
  :mod:`audiogen.eval.bench_perform`).
- **Timing**: ``--videos`` synthetic colour-field videos (25 fps) with cuts at known, frame-exact times: cut detection
  precision/recall (a cut is found when detected on its frame), and for the delivered audio (the AAC track of the
  muxed copy, decoded) the share of cuts with a boundary of a novelty detector within 100 ms. The detector is Foote's
  checkerboard novelty on a log-mel self-similarity matrix (librosa; kernel ±0.5 s, peaks at least 1 s apart above
  the curve's median + its standard deviation). The same detector on tracks composed for the same lengths without
  the video gives the chance level.
- **Muxing**: the muxed copy's duration, its video stream's end and its audio stream's end against the video's.

    OMP_NUM_THREADS=1 python -m audiogen.eval.bench_brief --out runs/bench-brief
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SR = 32000
FPS = 25
TOLERANCE_S = 0.1
HEADING = "## Picture and video briefs"


def novelty_boundaries(audio: np.ndarray, sr: int = SR, kernel_s: float = 0.5) -> np.ndarray:
    """Boundary times (seconds) of mono ``audio`` ``(T,)``: peaks of Foote's checkerboard novelty on the cosine
    self-similarity of log-mel frames (hop 256 at 22.05 kHz), at least 1 s apart, above median + std."""
    import librosa

    y = librosa.resample(np.asarray(audio, np.float32), orig_sr=sr, target_sr=22050)
    hop = 256
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050, n_fft=1024, hop_length=hop, n_mels=64))
    x = mel - mel.mean(axis=1, keepdims=True)
    x = x / np.maximum(np.linalg.norm(x, axis=0, keepdims=True), 1e-9)  # (64, F)
    ssm = x.T @ x  # (F, F)
    k = max(2, int(round(kernel_s * 22050 / hop)))
    u = np.arange(-k, k) + 0.5
    gauss = np.exp(-((u[:, None] / k) ** 2 + (u[None, :] / k) ** 2) * 2)
    kernel = np.sign(u[:, None]) * np.sign(u[None, :]) * gauss  # (2k, 2k) checkerboard
    n = ssm.shape[0]
    padded = np.pad(ssm, k, mode="constant")
    nov = np.array([(padded[i : i + 2 * k, i : i + 2 * k] * kernel).sum() for i in range(n)])
    nov = np.maximum(nov, 0)
    wait = int(round(1.0 * 22050 / hop))
    threshold = float(np.median(nov) + nov.std())
    peaks = []
    for i in np.argsort(-nov):
        if nov[i] < threshold:
            break
        if all(abs(i - p) >= wait for p in peaks):
            peaks.append(int(i))
    return np.sort(np.asarray(peaks) * hop / 22050)


def near_share(cuts, found, tol: float = TOLERANCE_S) -> float:
    """Share of ``cuts`` with a time of ``found`` within ``tol`` seconds."""
    found = np.asarray(found)
    return float(np.mean([bool(found.size) and np.min(np.abs(found - c)) <= tol for c in cuts])) if cuts else 1.0


def _analyzer_valence(analyze, track) -> float:
    """Our analyzer's valence of a track (NaN, a miss, when it refuses the audio as silence or noise)."""
    try:
        return float(analyze(track)["valence"])
    except ValueError:
        return float("nan")


def mood_pairs(gen, folder: Path, pairs: int, duration: float, judge, log=print) -> dict:
    """Pair accuracies of the picture benchmark (see the module docstring)."""
    from audiogen.analyze_cli import analyze
    from audiogen.brief.image import read_image
    from audiogen.brief.synth import contrast_pair, save_rgb
    from audiogen.eval.generation import judge_score

    rows, audios = [], []
    for i in range(pairs):
        t0 = time.perf_counter()
        row = {"pair": i}
        for side, rgb in zip(("bright", "dark"), contrast_pair(i), strict=True):
            path = save_rgb(rgb, folder / f"pair{i:02d}-{side}.png")
            reading = read_image(path)
            track = gen.generate(None, image=path, duration=duration, seed=100 + i, progress=False)
            row[side] = {"valence_in": reading.valence, "arousal_in": reading.arousal, "mode": track.plan.mode,
                         "analyzer_valence": _analyzer_valence(analyze, track)}  # fmt: skip
            audios.append(track.audio)
        rows.append(row)
        log(f"  pair {i}: picture valence {row['bright']['valence_in']:+.2f} / {row['dark']['valence_in']:+.2f}, "
            f"analyzer {row['bright']['analyzer_valence']:+.2f} / {row['dark']['analyzer_valence']:+.2f} "
            f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    out = {"pairs": pairs, "analyzer": float(np.mean([r["bright"]["analyzer_valence"] > r["dark"]["analyzer_valence"]
                                                     for r in rows]))}  # fmt: skip
    out["picture"] = float(np.mean([r["bright"]["valence_in"] > r["dark"]["valence_in"] for r in rows]))
    out["mode_major_minor"] = float(np.mean([r["bright"]["mode"] == "major" and r["dark"]["mode"] == "minor"
                                             for r in rows]))  # fmt: skip
    if judge is not None:
        score = judge_score("valence")

        class _Judged:  # judge_score reads .judge
            def __init__(self, j):
                self.judge = j

        judged = [score(_Judged(j)) for j in judge(audios, SR)]
        for i, r in enumerate(rows):
            r["bright"]["musicnn"], r["dark"]["musicnn"] = judged[2 * i], judged[2 * i + 1]
        out["musicnn"] = float(np.mean([r["bright"]["musicnn"] > r["dark"]["musicnn"] for r in rows]))
    out["rows"] = rows
    return out


def _videos(folder: Path, count: int, length: float, seed: int) -> list[tuple[Path, list[float]]]:
    from audiogen.brief.synth import colour_field_video

    rng = np.random.default_rng(seed)
    out = []
    for v in range(count):
        cuts, t = [], 0.0
        while True:
            t += float(rng.integers(38, 100)) / FPS  # 1.5–4 s shots, frame-exact
            if t > length - 2.0:
                break
            cuts.append(round(t, 4))
        colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(len(cuts) + 1)]
        path = folder / f"video{v}.mp4"
        written = colour_field_video(path, cuts, length, fps=FPS, colours=colours, size=(160, 90), seed=v)
        out.append((path, written))
    return out


def _decoded_audio(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]).astype(np.float32)


def timing(gen, folder: Path, count: int, length: float, seed: int, log=print) -> dict:
    """Cut detection, cut-to-boundary alignment in the delivered audio, and muxed durations (module docstring)."""
    from audiogen.brief.mux import mux, stream_summary
    from audiogen.brief.video import read_video

    tp = fp = fn = 0
    aligned, chance, grids, mux_rows, boundary_precision = [], [], [], [], []
    for i, (path, cuts) in enumerate(_videos(folder, count, length, seed)):
        t0 = time.perf_counter()
        found = list(read_video(path).cuts)
        hits = [c for c in cuts if any(abs(c - f) < 0.5 / FPS for f in found)]
        tp, fn, fp = tp + len(hits), fn + len(cuts) - len(hits), fp + len(found) - len(hits)
        track = gen.generate(None, video=path, seed=200 + i, progress=False)
        kept = [s["start"] for s in track.plan.request["shots"]][1:]
        grids += [s["grid"] for s in track.plan.request["shots"][:-1]]
        copy = mux(path, track.audio, SR, folder / f"video{i}-scored.mp4")
        delivered = _decoded_audio(copy)
        bounds = novelty_boundaries(delivered)
        aligned.append(near_share(cuts, bounds))
        boundary_precision.append(near_share(list(bounds), cuts) if len(bounds) else 0.0)
        plain = gen.generate(None, duration=track.duration, seed=200 + i, progress=False)
        chance.append(near_share(cuts, novelty_boundaries(plain.audio)))
        src, dst = stream_summary(path), stream_summary(copy)
        v_end = src["streams"][0]["end"]
        mux_rows.append({"video": v_end, "container": dst["duration"] - src["duration"],
                         "video_stream": dst["streams"][0]["end"] - v_end,
                         "audio_stream": dst["streams"][1]["end"] - v_end,
                         "packets_equal": dst["streams"][0]["sizes"] == src["streams"][0]["sizes"]})  # fmt: skip
        log(f"  video {i}: {len(cuts)} cuts, {len(found)} found, {len(kept)} kept as sections, aligned "
            f"{aligned[-1]:.2f} (chance {chance[-1]:.2f}) ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return {
        "videos": count, "cuts": tp + fn, "precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn),
        "aligned": float(np.mean(aligned)), "chance": float(np.mean(chance)),
        "boundary_precision": float(np.mean(boundary_precision)),
        "bar_share": float(np.mean([g == "bar" for g in grids])) if grids else float("nan"),
        "mux": mux_rows, "frame": 1 / FPS,
    }  # fmt: skip


def section(meta: dict, mood: dict, tim: dict) -> list[str]:
    """The BENCHMARKS.md section."""
    worst = max(max(abs(r["container"]), abs(r["video_stream"]), abs(r["audio_stream"])) for r in tim["mux"])
    mn = f"{mood['musicnn']:.2f}" if "musicnn" in mood else "not run (no judge environment)"
    return [
        HEADING, "",
        f"`{meta['command']}` — {meta['machine']}, {meta['date']}, model {meta['model']}, {meta['seconds']:.0f} s.",
        "",
        "| measure | goal | result |", "|---|---|---|",
        f"| pairs ranked happier for the bright picture, our analyzer ({mood['pairs']} pairs) | ≥ 0.85 | "
        f"{mood['analyzer']:.2f} |",
        f"| same, musicnn judge (happy − sad) | ≥ 0.85 | {mn} |",
        f"| pairs whose pictures read happier (the mapping itself) / planned major vs minor | — | "
        f"{mood['picture']:.2f} / {mood['mode_major_minor']:.2f} |",
        f"| cut detection precision / recall ({tim['cuts']} cuts in {tim['videos']} videos) | ≥ 0.95 / 0.95 | "
        f"{tim['precision']:.2f} / {tim['recall']:.2f} |",
        f"| cuts within 100 ms of a novelty boundary in the delivered audio | ≥ 0.8 | {tim['aligned']:.2f} |",
        f"| same on tracks composed without the video (chance) | — | {tim['chance']:.2f} |",
        f"| novelty boundaries within 100 ms of a cut (their precision) | — | {tim['boundary_precision']:.2f} |",
        f"| sections on a bar line (others on a beat) | — | {tim['bar_share']:.2f} |",
        f"| muxed copy: largest difference of container, video-stream and audio-stream ends from the video's | "
        f"< 1 frame ({tim['frame'] * 1000:.0f} ms) | {worst * 1000:.1f} ms; video packets identical: "
        f"{all(r['packets_equal'] for r in tim['mux'])} |",
        "",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench-brief", help="folder for pictures, videos and results.json")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--video-length", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-judge", action="store_true", help="skip the musicnn judge")
    ap.add_argument("--date", default=time.strftime("%Y-%m-%d"))
    ap.add_argument("--machine", default="this machine")
    args = ap.parse_args(argv)
    import torch

    from audiogen.eval.judge import JudgeUnavailable, MusicnnJudge
    from audiogen.generator import MusicGenerator

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = MusicGenerator.from_pretrained(args.model)
    judge = None
    if not args.no_judge:
        try:
            judge = MusicnnJudge()
        except JudgeUnavailable as err:
            print(f"musicnn judge unavailable: {err}")
    t0 = time.perf_counter()
    print("mood pairs:")
    mood = mood_pairs(gen, out, args.pairs, args.duration, judge)
    print("videos:")
    tim = timing(gen, out, args.videos, args.video_length, args.seed)
    meta = {"command": "OMP_NUM_THREADS=1 python -m audiogen.eval.bench_brief", "machine": args.machine,
            "date": args.date, "model": gen.model_version, "seconds": time.perf_counter() - t0}  # fmt: skip
    (out / "results.json").write_text(json.dumps({"meta": meta, "mood": mood, "timing": tim}, indent=1) + "\n")
    print("\n".join(section(meta, mood, tim)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
