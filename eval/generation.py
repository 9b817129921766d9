"""Generation evaluation: render a prompt set with a generator and measure what came out.

Metrics (each skipped cleanly when what it needs is absent):

* Fréchet musicnn distance to real music (the valid split), next to two reference lines computed in the same run:
  the codec's own resynthesis of that split and the rendered symbolic corpus (needs the musicnn judge);
* emotion adherence on the paired requests (same request, different emotion): how often the judge ranks the pair
  the right way (valence pairs: ``happy − sad`` tag; arousal pairs: ``party − (chill + mellow) / 2``), and the same
  with our own analyzer's valence/arousal (:mod:`audiogen.analysis`), plus the analyzer's quadrant confusion
  matrix and its correlation with the requested valence/arousal;
* tempo adherence (within 4 % / 8 %, half/double time = miss) and key/mode accuracy, by the same analysis;
* diversity across seeds (mean pairwise distance of musicnn embeddings; of log-mel statistics without the judge);
* silence and clipping; real-time factor and peak memory of generation.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from audiogen.eval.prompts import Request, balanced_subset, pairs

VALENCE_TAGS = (("happy",), ("sad",))
AROUSAL_TAGS = (("party",), ("chill", "mellow"))


@dataclass
class EvalConfig:
    """How a prompt set is rendered: ``seeds`` for every request; the first ``diversity_requests`` requests also
    get ``diversity_seeds`` seeds in all; ``limit`` keeps that many requests of the balanced order (pairs of both
    contrasts and unpaired requests in turn); ``duration`` overrides every length."""

    seeds: tuple[int, ...] = (0,)
    diversity_requests: int = 8
    diversity_seeds: int = 3
    limit: int | None = None
    duration: float | None = None

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed")
        if self.diversity_requests < 0 or self.diversity_seeds < 1:
            raise ValueError("diversity_requests must be >= 0 and diversity_seeds >= 1")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 or None, got {self.limit}")
        if self.duration is not None and not 0.5 <= self.duration <= 600:
            raise ValueError(f"duration must be in [0.5, 600] s or None, got {self.duration}")


@dataclass
class Generated:
    """One rendered request: ``audio`` ``(T,)`` at ``sample_rate``, compute ``seconds``, and what analysis and the
    judge said about it."""

    request: Request
    seed: int
    audio: np.ndarray
    sample_rate: int
    seconds: float
    analysis: dict = field(default_factory=dict)
    judge: object | None = None
    model_version: str | None = None

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def render(generator, requests: Sequence[Request], cfg: EvalConfig, log: Callable = print) -> list[Generated]:
    """Generate every request with every seed (see :class:`EvalConfig`) in the balanced order of
    :func:`~audiogen.eval.prompts.balanced_subset` (``cfg.limit`` keeps a prefix of it); returns the tracks."""
    requests = balanced_subset(list(requests), cfg.limit)
    out = []
    for i, req in enumerate(requests):
        extra = cfg.diversity_seeds - len(cfg.seeds) if i < cfg.diversity_requests else 0
        seeds = [*cfg.seeds, *(max(cfg.seeds) + 1 + k for k in range(max(extra, 0)))]
        for seed in seeds:
            t0 = time.perf_counter()
            track = generator.generate(**req.generate_kwargs(seed, cfg.duration))
            seconds = time.perf_counter() - t0
            audio = np.asarray(track.audio, np.float32)
            version = getattr(track, "model_version", None)
            out.append(Generated(req, seed, audio, int(track.sample_rate), seconds, model_version=version))
        log(f"  [{i + 1}/{len(requests)}] {req.id}: {len(seeds)} seed(s), {out[-1].duration:.1f} s of audio")
    return out


def analyse(tracks: Sequence[Generated]) -> None:
    """Fill ``analysis`` of each track: tempo, key, mode, valence, arousal (:mod:`audiogen.analysis`)."""
    from audiogen.analysis import describe, valence_arousal

    for t in tracks:
        desc = describe(t.audio, t.sample_rate)
        v, a = valence_arousal(desc)
        t.analysis = {"tempo": desc["tempo"], "key": desc["key"], "mode": desc["mode"], "valence": v, "arousal": a}


def mel_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Judge-free embedding of ``audio`` ``(T,)``: mean and std of 64 log-mel bands, ``(128,)``."""
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(audio, np.float32), sr=sample_rate, n_mels=64)
    logmel = np.log10(mel + 1e-8)
    return np.concatenate([logmel.mean(axis=1), logmel.std(axis=1)])


# --- metrics -----------------------------------------------------------------------------------------------------


def pair_accuracy(tracks: Sequence[Generated], contrast: str, score: Callable[[Generated], float]) -> dict:
    """Share of (pair, seed) where ``score`` ranks the member with the higher requested valence (or arousal) higher."""
    axis = 0 if contrast == "valence" else 1
    by_key = {(t.request.id, t.seed): t for t in tracks}
    hits = []
    for members in pairs(list({t.request.id: t.request for t in tracks}.values())).values():
        if len(members) != 2 or members[0].contrast != contrast:  # a pair cut in half by --limit says nothing
            continue
        hi, lo = sorted(members, key=lambda r: -r.emotion_point[axis])
        for seed in sorted({t.seed for t in tracks if t.request.id == hi.id}):
            if (lo.id, seed) in by_key:
                hits.append(score(by_key[(hi.id, seed)]) > score(by_key[(lo.id, seed)]))
    return {"accuracy": float(np.mean(hits)) if hits else float("nan"), "n": len(hits)}


def judge_score(contrast: str) -> Callable[[Generated], float]:
    """The judge's pair score: ``happy − sad`` (valence) or ``party − mean(chill, mellow)`` (arousal)."""
    pos, neg = VALENCE_TAGS if contrast == "valence" else AROUSAL_TAGS

    def score(t: Generated) -> float:
        return float(np.mean([t.judge.tag(p) for p in pos]) - np.mean([t.judge.tag(n) for n in neg]))

    return score


def analyzer_emotion(tracks: Sequence[Generated]) -> dict:
    """Our analyzer against the requested emotion: pair accuracies, correlations, quadrant confusion matrix."""
    from audiogen.conditioning.emotions import QUADRANTS, quadrant

    asked = [t for t in tracks if t.request.emotion_point is not None]
    out = {c: pair_accuracy(tracks, c, lambda t, c=c: t.analysis[c]) for c in ("valence", "arousal")}
    confusion = np.zeros((4, 4), dtype=int)
    for t in asked:
        want = quadrant(*t.request.emotion_point)
        got = quadrant(t.analysis["valence"], t.analysis["arousal"])
        confusion[QUADRANTS.index(want), QUADRANTS.index(got)] += 1
    out["quadrants"] = list(QUADRANTS)
    out["confusion"] = confusion.tolist()
    out["quadrant_accuracy"] = float(np.trace(confusion) / confusion.sum()) if asked else float("nan")
    for axis, name in enumerate(("valence", "arousal")):
        want = np.array([t.request.emotion_point[axis] for t in asked])
        got = np.array([t.analysis[name] for t in asked])
        ok = len(asked) >= 3 and want.std() > 0 and got.std() > 0
        out[f"{name}_r"] = float(np.corrcoef(want, got)[0, 1]) if ok else float("nan")
    return out


def adherence(tracks: Sequence[Generated]) -> dict:
    """Tempo and key/mode adherence over the tracks whose request named a tempo or a key."""
    from audiogen.eval.metrics import key_accuracy, parse_key, tempo_adherence

    with_tempo = [t for t in tracks if t.request.tempo is not None]
    with_key = [t for t in tracks if t.request.key is not None]
    out = {"tempo": None, "key": None}
    if with_tempo:
        out["tempo"] = tempo_adherence([t.analysis["tempo"] for t in with_tempo], [t.request.tempo for t in with_tempo])
        out["tempo_points"] = [[t.request.tempo, t.analysis["tempo"]] for t in with_tempo]
    if with_key:
        measured = [(t.analysis["key"], t.analysis["mode"]) for t in with_key]
        out["key"] = key_accuracy(measured, [parse_key(t.request.key) for t in with_key])
    return out


def diversity_groups(tracks: Sequence[Generated], embed: Callable[[Generated], np.ndarray]) -> list[np.ndarray]:
    """Embeddings ``(S, D)`` per request rendered with more than one seed."""
    groups: dict[str, list[np.ndarray]] = {}
    for t in tracks:
        groups.setdefault(t.request.id, []).append(embed(t))
    return [np.stack(g) for g in groups.values() if len(g) > 1]


def judge_metrics(tracks: Sequence[Generated], references: dict[str, np.ndarray], judge, sample_rate: int) -> dict:
    """Run the judge once over generated tracks and reference clips (``name -> [N, T]`` at ``sample_rate``; the
    ``"real"`` set is what the distances are measured to): Fréchet distances and the judge's pair accuracies."""
    from audiogen.eval.metrics import frechet_distance_between

    names = list(references)
    clips = [t.audio for t in tracks] + [c for n in names for c in references[n]]
    rates = [t.sample_rate for t in tracks]
    if any(r != sample_rate for r in rates):
        raise ValueError(f"generated tracks must be at {sample_rate} Hz, got rates {sorted(set(rates))}")
    outputs = judge(clips, sample_rate)
    for t, o in zip(tracks, outputs, strict=False):
        t.judge = o
    patches, i = {}, len(tracks)
    for n in names:
        patches[n] = np.concatenate([o.embeddings for o in outputs[i : i + len(references[n])]])
        i += len(references[n])
    patches["generated"] = np.concatenate([t.judge.embeddings for t in tracks])
    out = {"fd": {}, "patches": {k: len(v) for k, v in patches.items()}}
    if "real" in patches:
        for n in ["generated", *(n for n in names if n != "real")]:
            out["fd"][n] = frechet_distance_between(patches[n], patches["real"])
    out["valence_pairs"] = pair_accuracy(tracks, "valence", judge_score("valence"))
    out["arousal_pairs"] = pair_accuracy(tracks, "arousal", judge_score("arousal"))
    return out


def speed(tracks: Sequence[Generated]) -> dict:
    """Real-time factor of generation (compute / audio seconds, totals) and the process's peak resident memory."""
    total_audio = sum(t.duration for t in tracks)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = {"rtf": sum(t.seconds for t in tracks) / max(total_audio, 1e-9), "audio_seconds": total_audio}
    out["peak_rss_mib"] = float(peak)
    try:
        import torch

        if torch.cuda.is_available():
            out["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    except ImportError:
        pass
    return out


def evaluate(
    generator, requests: Sequence[Request], cfg: EvalConfig, judge=None, references=None, log: Callable = print
) -> tuple[dict, list[Generated]]:
    """Render ``requests`` and compute every metric; ``judge`` (a :class:`~audiogen.eval.judge.MusicnnJudge`) and
    ``references`` (``name -> clips [N, T]`` at 32 kHz, or a function returning them, called after rendering so
    that the peak memory is generation's) are optional. Returns ``(results, tracks)``."""
    from audiogen.eval.metrics import diversity, level_stats

    tracks = render(generator, requests, cfg, log)
    results = {"speed": speed(tracks), "tracks": len(tracks), "requests": len({t.request.id for t in tracks})}
    results["model_version"] = tracks[0].model_version
    analyse(tracks)
    results["analyzer"] = analyzer_emotion(tracks)
    results.update(adherence(tracks))
    results["levels"] = level_stats([t.audio for t in tracks], tracks[0].sample_rate)
    results["judge"] = None
    if judge is not None:
        refs = references() if callable(references) else references
        results["judge"] = judge_metrics(tracks, refs or {}, judge, tracks[0].sample_rate)
        groups = diversity_groups(tracks, lambda t: t.judge.embedding)
        results["diversity"] = {"value": diversity(groups), "embedding": "musicnn", "groups": len(groups)}
    else:
        groups = diversity_groups(tracks, lambda t: mel_embedding(t.audio, t.sample_rate))
        results["diversity"] = {"value": diversity(groups), "embedding": "log-mel statistics", "groups": len(groups)}
    results["track_ids"] = [[t.request.id, t.seed] for t in tracks]
    return results, tracks
