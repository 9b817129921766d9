"""The user-facing facade: a request in words, emotion and style → a mastered :class:`~audiogen.track.Track`.

```python
from audiogen import MusicGenerator
gen = MusicGenerator.from_pretrained()                     # the shipped default codec + LM, offline
track = gen.generate("calm piano at night", emotion="calm", duration=30, seed=7)
track.save("night.mp3")
track.save_midi("night.mid")                               # the composition, for a DAW
```

The pipeline: request → **compose** (:mod:`audiogen.compose`: a :class:`~audiogen.compose.plan.Plan` with form,
chords, melody, bass, drums, dynamics and ending) → **perform** (the LM, conditioned on the request and on the plan's
dense controls at 50 frames/s) → **decode** (the codec) → **master** (loudness, true peak, exact length) → file.

A model folder holds ``codec/`` and ``lm/`` (each ``config.json`` + ``model.safetensors``) and ``model.json``
(name, version, and the default ``sketch_strength``: how far the LM leans on the plan's sketch,
:mod:`audiogen.compose.sketch`). Everything a request asks for is validated before any work starts.
"""

from __future__ import annotations

import functools
import json
import math
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from audiogen.audio import SAMPLE_RATE, load_audio, resample
from audiogen.codec.model import Codec, CodecConfig
from audiogen.conditioning.base import Attributes
from audiogen.conditioning.validate import DURATION_RANGE, normalize_attributes
from audiogen.lm import GenerationParams, LMConfig, MusicLM
from audiogen.lm import generate as lm_generate
from audiogen.master import MasteringSpec, master
from audiogen.stream import FRAMES_SINK, TrackStream
from audiogen.track import Track

MAX_DURATION = DURATION_RANGE[1]
REFERENCE_SECONDS = 60.0  # how much of a reference clip is analysed


@dataclass(frozen=True)
class Request:
    """One validated request: the LM's attributes plus what the facade needs to finish the track."""

    attributes: Attributes
    duration: float
    reference: str | None = None


def _listify(value, n: int, name: str) -> list:
    """Broadcast a per-call value to ``n`` items (a list must have exactly ``n``)."""
    if isinstance(value, (list, tuple)) and name != "style":
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} values for a batch of {n} prompts")
        return list(value)
    if name == "style" and isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
        if len(value) != n:
            raise ValueError(f"style has {len(value)} tag lists for a batch of {n} prompts")
        return list(value)
    return [value] * n


def _style_tags(style) -> tuple[str, ...] | None:
    if style is None:
        return None
    if isinstance(style, str):
        style = [t for t in style.replace(";", ",").split(",")]
    return tuple(t.strip() for t in style if t.strip()) or None


def check_duration(duration: float) -> float:
    """Seconds of music to generate: a number in [1, 600]."""
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration):
        raise ValueError(f"duration must be a number of seconds in [{DURATION_RANGE[0]:g}, {MAX_DURATION:g}]")
    if not DURATION_RANGE[0] <= duration <= MAX_DURATION:
        raise ValueError(f"duration must lie in [{DURATION_RANGE[0]:g}, {MAX_DURATION:g}] seconds, got {duration:g}")
    return float(duration)


def reference_attributes(path: str | Path, style_dir: str | Path | None = None) -> dict:
    """What a reference clip says about the music it asks for: tempo, key, mode, valence, arousal (our analysis),
    and ``style_tags`` (see :func:`reference_style_tags`; ``None`` when no tag wins a majority)."""
    from audiogen.analysis import ANALYSIS_SR, analyze_audio

    y = load_audio(path, ANALYSIS_SR, duration=REFERENCE_SECONDS)
    lab = analyze_audio(y, ANALYSIS_SR, title="")
    found = {k: lab[k] for k in ("tempo", "key", "mode", "valence", "arousal")}
    found["style_tags"] = reference_style_tags(path, style_dir) or None
    return found


def reference_style_tags(path: str | Path, style_dir: str | Path | None = None) -> tuple[str, ...]:
    """Style tags for a reference clip by retrieval: the style encoder embeds the clip's first ``REFERENCE_SECONDS``
    (mean of up to 8 crops of 4 s) and returns the vocabulary tags carried by at least half of its 5 nearest training
    tracks (the index's ``k`` and ``min_share``; :func:`audiogen.conditioning.style_encoder.reference_style_tags`).
    ``style_dir`` holds the encoder and its index (default: the shipped ``pretrained/default/style``, or ``()`` when
    this build ships none). The language model never sees the style vector itself, only these tags."""
    from audiogen.conditioning.style_encoder import reference_style_tags as vote

    loaded = _style_model(str(style_dir) if style_dir is not None else None)
    if loaded is None:
        return ()
    encoder, index = loaded
    return vote(load_audio(path, encoder.config.sample_rate, duration=REFERENCE_SECONDS), encoder, index)


@functools.lru_cache(maxsize=4)
def _style_model(style_dir: str | None):
    from audiogen.conditioning.style_encoder import StyleEncoder, StyleIndex
    from audiogen.pretrained import DEFAULT_DIR

    path = Path(style_dir) if style_dir is not None else DEFAULT_DIR / "style"
    if style_dir is None and not (path / "index.json").is_file():
        return None
    return StyleEncoder.from_pretrained(path), StyleIndex.load(path)


def make_requests(
    text=None,
    *,
    emotion=None,
    valence=None,
    arousal=None,
    style=None,
    reference=None,
    tempo=None,
    key=None,
    mode=None,
    duration: float = 30.0,
    style_dir: str | Path | None = None,
) -> list[Request]:
    """Validate a (possibly batched) request; raises ``ValueError``/``AudioError`` before any work starts.

    Arguments as in :meth:`MusicGenerator.generate`; ``style_dir`` is the style encoder + index that votes a reference
    clip's style tags (None: the shipped one). Returns one :class:`Request` per prompt."""
    n = len(text) if isinstance(text, (list, tuple)) else 1
    cols = {
        k: _listify(v, n, k)
        for k, v in dict(
            text=text,
            emotion=emotion,
            valence=valence,
            arousal=arousal,
            style=style,
            reference=reference,
            tempo=tempo,
            key=key,
            mode=mode,
            duration=duration,
        ).items()
    }
    requests = []
    for i in range(n):
        row = {k: v[i] for k, v in cols.items()}
        dur = check_duration(row["duration"])
        attrs = Attributes(
            text=row["text"],
            emotion=row["emotion"],
            valence=row["valence"],
            arousal=row["arousal"],
            style_tags=_style_tags(row["style"]),
            tempo=row["tempo"],
            key=row["key"],
            mode=row["mode"],
            duration=dur,
        )
        attrs = normalize_attributes(attrs)
        ref = row["reference"]
        if ref is not None:
            found = reference_attributes(ref, style_dir)  # reads the file now: an unreadable clip fails here
            if attrs.emotion is not None:  # a requested label wins over the clip's emotion
                found.pop("valence"), found.pop("arousal")
            # the request wins: the clip's style tags are used only when the request names none
            missing = {k: v for k, v in found.items() if getattr(attrs, k) is None}
            attrs = normalize_attributes(replace(attrs, **missing))
        requests.append(Request(attrs, dur, None if ref is None else str(ref)))
    return requests


class MusicGenerator:
    """Codec + language model + mastering. Build with :meth:`from_pretrained` (or :meth:`debug` for tests)."""

    def __init__(self, codec: Codec, lm: MusicLM, name: str = "audiogen", version: str = "dev") -> None:
        if lm.config.card != codec.codebook_size or lm.config.n_q > codec.n_q:
            raise ValueError(
                f"LM (card {lm.config.card}, {lm.config.n_q} codebooks) does not fit the codec "
                f"(card {codec.codebook_size}, {codec.n_q} codebooks)"
            )
        self.codec, self.lm = codec.eval(), lm.eval()
        self.name, self.version = name, version
        self.style_dir: Path | None = None  # style encoder + index for reference clips (None: the shipped one)
        self.sketch_strength = 0.0  # the default lean on the plan's sketch (model.json "sketch_strength")

    # -- loading and saving -------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> MusicGenerator:
        """Load a model folder (default: the model shipped inside the package; no network needed)."""
        if path is None:
            from audiogen.pretrained import DEFAULT_DIR, default_lm_dir

            default_lm_dir()  # raises a clear "no model shipped yet" if absent
            path = DEFAULT_DIR
        path = Path(path)
        if not (path / "lm" / "config.json").is_file() or not (path / "codec" / "config.json").is_file():
            raise FileNotFoundError(f"{path}: not an audiogen model folder (needs codec/ and lm/ with config.json)")
        meta = json.loads((path / "model.json").read_text()) if (path / "model.json").is_file() else {}
        codec = Codec.from_pretrained(path / "codec")
        lm = MusicLM.from_pretrained(path / "lm")
        gen = cls(codec, lm, meta.get("name", path.name), meta.get("version", "dev"))
        gen.sketch_strength = float(meta.get("sketch_strength", 0.0))
        if (path / "style" / "index.json").is_file():
            gen.style_dir = path / "style"
        return gen

    def save_pretrained(self, path: str | Path) -> Path:
        """Write ``codec/``, ``lm/``, ``model.json`` (and ``style/`` when this generator has its own) into ``path``."""
        path = Path(path)
        self.codec.save_pretrained(path / "codec")
        self.lm.save_pretrained(path / "lm")
        if self.style_dir is not None and self.style_dir.resolve() != (path / "style").resolve():
            shutil.copytree(self.style_dir, path / "style", dirs_exist_ok=True)
        meta = {"name": self.name, "version": self.version}
        if self.sketch_strength:
            meta["sketch_strength"] = self.sketch_strength
        (path / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
        return path

    @classmethod
    def debug(cls, seed: int = 0) -> MusicGenerator:
        """A tiny random model (2-layer, 32-wide LM; small codec; hashed text) for tests: fast, sounds like noise."""
        from audiogen.conditioning.config import ConditionConfig

        torch.manual_seed(seed)
        codec = Codec(
            CodecConfig(
                enc_dim=32,
                enc_layers=2,
                latent_dim=16,
                dec_dim=32,
                dec_layers=2,
                up_dim=16,
                up_layers=1,
                n_q=4,
                codebook_size=64,
                codebook_dim=4,
            )
        )
        cond = ConditionConfig(text_backend="hash", number_hidden=32, number_freqs=4)
        lm = MusicLM(LMConfig.preset("debug", conditioning=cond.to_dict()))
        return cls(codec, lm, name="audiogen-debug", version="debug")

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def model_version(self) -> str:
        return f"{self.name} {self.version}"

    # -- requests -----------------------------------------------------------------------------------------------
    def make_requests(self, text=None, **kwargs) -> list[Request]:
        """:func:`make_requests` with this generator's style model for reference clips."""
        return make_requests(text, style_dir=self.style_dir, **kwargs)

    # -- generation ---------------------------------------------------------------------------------------------
    def generate(
        self,
        text=None,
        *,
        emotion=None,
        valence=None,
        arousal=None,
        style=None,
        reference=None,
        tempo=None,
        key=None,
        mode=None,
        duration: float | None = None,
        seed: int | None = None,
        params: GenerationParams | None = None,
        mastering: MasteringSpec | None = None,
        prompt: str | Path | np.ndarray | None = None,
        progress: bool | Callable[[int, int], None] = True,
        plan=None,
        melody_from: str | Path | None = None,
        genre: str | None = None,
        image: str | Path | list | None = None,
        video: str | Path | None = None,
    ) -> Track | list[Track]:
        """Generate mastered tracks.

        Args:
            text: a prompt, or a list of prompts for a batch (other arguments then broadcast or give one per item).
            emotion: a label of the emotion vocabulary; or ``valence`` and ``arousal`` in [-1, 1]; or both.
            style: style tags (list or comma-separated string). reference: an audio file whose tempo, key and
                emotion (from our analysis) and style tags (voted by its nearest training tracks under the style
                encoder) fill whatever the request leaves open.
            tempo: BPM in [40, 220]. key: e.g. ``"A minor"``, ``"F#"``. duration: seconds in [1, 600] (default 30;
                with ``video`` the video's length, which a given duration must match).
            seed: makes the call reproducible bit for bit on one machine (None = random, reported on the track).
            params: sampling settings (:class:`GenerationParams`; its seed is overridden by ``seed``).
            mastering: loudness / true peak / ending (:class:`MasteringSpec`; its duration is set per request).
            prompt: audio (file or ``(T,)`` array at 32 kHz) to continue from (the continuation is not composed:
                the LM follows the prompt's beat, and the track has no plan).
            progress: show a progress bar (True), nothing (False), or call ``progress(step, total)`` after each
                sampling step (a page's progress bar; ``total`` counts the steps of the LM batch being sampled).
            plan: perform this :class:`~audiogen.compose.plan.Plan` (or a plan JSON file) instead of composing one,
                as it is: it is checked whole first (:func:`given_plan`), its duration, tempo, key and ending are
                the track's (a ``duration``, ``tempo``, ``key``/``mode``, ``genre`` or loop ending that disagrees
                is refused, not ignored), and emotion defaults to the plan's.
            melody_from: an audio clip whose beats, chords and melody become the plan (re-harmonised into the
                requested mode, performed in the requested style and emotion; see :mod:`audiogen.compose.transfer`).
            genre: one of the composer's templates (``pop``, ``rock``, ``ambient``, ``cinematic``, ``jazz``,
                ``electronic``, ``lofi``, ``folk``); by default the text, the style tags and the emotion choose.
            image: a picture (or one per prompt of a batch) whose colours and texture give the valence/arousal point
                and style tags the request leaves open (:mod:`audiogen.brief.image`).
            video: a video to score (one request): the track lasts the video's length, its sections change on the
                video's cuts (on bar lines where the tempo allows, else on beats), each shot's pictures set its
                section's mood, and the ending lands on the last frame (:mod:`audiogen.brief`). Not with ``image``,
                ``plan``, ``melody_from``, ``prompt`` or a loop ending.

        Returns:
            One :class:`Track` (``audio`` ``(round(duration * 32000),)``, ``plan`` its composition), or a list for
            a batch.
        """
        if sum(x is not None for x in (plan, melody_from, prompt)) > 1:
            raise ValueError("give at most one of plan=, melody_from= and prompt= (each sets what is performed)")
        if plan is not None:  # checked whole before anything else: a plan is performed as it is, or refused now
            plan = given_plan(plan, duration=duration, tempo=tempo, key=key, mode=mode, genre=genre,
                              ending=getattr(mastering, "ending", None))  # fmt: skip
            mastering = mastering or MasteringSpec(ending="loop" if plan.ending == "loop" else "fade")
        mastering = mastering or MasteringSpec()
        params = _seeded(params, seed)  # drawn once: the plan is composed and performed with one seed
        if params.sketch_strength is None:
            params = replace(params, sketch_strength=self.sketch_strength)
        seed = params.seed
        if image is not None or video is not None:
            from audiogen.brief.request import check_brief

            check_brief(image, video, batch=isinstance(text, (list, tuple)), plan=plan, melody_from=melody_from,
                        prompt=prompt, ending=mastering.ending)  # fmt: skip
        if video is not None:
            from audiogen.brief.request import video_plan

            plan, duration, valence, arousal, style = video_plan(
                self, text, video, emotion=emotion, valence=valence, arousal=arousal, style=style, reference=reference,
                tempo=tempo, key=key, mode=mode, duration=duration, seed=seed, genre=genre,
            )  # fmt: skip
        elif image is not None:
            from audiogen.brief.request import image_fill

            emotion, valence, arousal, style = image_fill(text, image, emotion, valence, arousal, style)
        duration = 30.0 if duration is None else duration
        if plan is not None:
            duration = plan.duration
            if emotion is None and valence is None:
                valence, arousal = plan.valence, plan.arousal
            tempo = plan.tempo if tempo is None else tempo
            key = f"{plan.key} {plan.mode}" if key is None and mode is None else key
        requests = self.make_requests(
            text,
            emotion=emotion,
            valence=valence,
            arousal=arousal,
            style=style,
            reference=reference,
            tempo=tempo,
            key=key,
            mode=mode,
            duration=duration,
        )
        plans = [None] * len(requests) if prompt is not None else self._plans(
            requests, seed, mastering, plan, melody_from, genre
        )
        requests = [r if p is None else _with_plan(r, p) for r, p in zip(requests, plans, strict=True)]
        tracks: list[Track | None] = [None] * len(requests)
        for group in self._groups(requests):  # one LM batch per duration: timing conditions differ per length
            reqs = [requests[i] for i in group]
            n_frames = math.ceil((reqs[0].duration + self._tail(mastering)) * self.codec.frame_rate)
            # timing conditions describe what is generated (a loop's crossfade tail included)
            timed = [
                replace(r, attributes=replace(r.attributes, duration=n_frames / self.codec.frame_rate)) for r in reqs
            ]
            prompt_audio = self._prompt_audio(prompt)
            prompt_codes = None if prompt_audio is None else self._prompt_codes(prompt_audio, len(reqs))
            group_plans = [plans[i] for i in group]
            if prompt_audio is None and self._by_shots(group, requests, plans, params, mastering, progress, tracks):
                continue  # a plan aligned to a video's cuts: performed shot by shot
            sketch = None
            if prompt_audio is None:
                beats = self._plan_beats(group_plans, n_frames)
                controls = self._plan_controls(group_plans, n_frames)
                sketch = self._sketch(group_plans, n_frames, params)
            else:
                beats, controls = self._beats(reqs, n_frames / self.codec.frame_rate, prompt_audio), None
            sink = FRAMES_SINK.get()  # a TrackStream listening (MusicGenerator.stream), or None
            if sink is not None:
                played = group_plans if prompt_audio is None else None
                sink.begin(group_plans, n_frames, self._decoder_controls(n_frames, played), mastering)
            codes = self._sample(timed, n_frames, params, prompt_codes, progress, beats, controls, sketch)
            wavs = self.decode(codes, None if prompt_audio is not None else group_plans)
            for i, wav, req in zip(group, wavs, reqs, strict=True):
                tracks[i] = self._finish(wav, req, mastering, params, plans[i])
        return tracks if isinstance(text, (list, tuple)) else tracks[0]

    def stream(self, text=None, *, chunk_seconds: float = 0.5, **request) -> TrackStream:
        """One track's audio while it is generated: a :class:`~audiogen.stream.TrackStream`, whose iteration
        yields float32 chunks ``(T_i,)`` at 32 kHz (``chunk_seconds`` each) as the LM completes frames, and whose
        ``track`` is then the mastered :class:`Track` that :meth:`generate` returns for the same request and seed.
        The chunks are played at a provisional gain and without the file's ending (see :mod:`audiogen.stream`).

        ``text`` and ``request`` are :meth:`generate`'s, for one track: not a batch, not ``prompt=`` (the prompt's
        audio would come first) and not ``video=`` (performed shot by shot). Errors in the request are raised by the
        first step of the iteration; ``progress`` defaults to False.

        >>> with gen.stream("calm piano", duration=20, seed=1) as s:  # doctest: +SKIP
        ...     for chunk in s:
        ...         player.write(chunk)
        ...     s.track.save("calm.mp3")
        """
        if isinstance(text, (list, tuple)):
            raise ValueError("a stream makes one track: give one prompt, not a list (use generate() for a batch)")
        for name in ("prompt", "video"):
            if request.get(name) is not None:
                raise ValueError(f"stream() does not take {name}= (use generate()); allowed: one request's text, "
                                 "emotion, style, tempo, key, duration, plan, melody_from, image, seed, params, "
                                 "mastering")  # fmt: skip
        request.setdefault("progress", False)
        return TrackStream(self, lambda: self.generate(text, **request), chunk_seconds)

    def _by_shots(self, group, requests, plans, params, mastering, progress, tracks) -> bool:
        """Perform a lone request whose plan has shots (a video brief) shot by shot into ``tracks``; False (nothing
        done) for any other group."""
        from audiogen.brief.align import shot_bounds
        from audiogen.brief.perform import perform_shots

        if len(group) != 1 or plans[group[0]] is None or not shot_bounds(plans[group[0]]):
            return False
        i = group[0]
        wav = perform_shots(self, requests[i], plans[i], params, progress)
        tracks[i] = self._finish(wav, requests[i], mastering, params, plans[i])
        return True

    def _plans(self, requests, seed: int, mastering: MasteringSpec, plan, melody_from, genre) -> list:
        """The plan of every request: the given one, one transferred from a clip, or one composed for it (request
        ``i`` of a batch is composed with seed ``seed + i``, so variants differ)."""
        from audiogen.compose.planner import compose_plan

        ending = "loop" if mastering.ending == "loop" else "cadence"
        out = []
        for i, r in enumerate(requests):
            if plan is not None:
                out.append(plan)
                continue
            a = r.attributes
            kwargs = dict(
                valence=a.valence, arousal=a.arousal, emotion=a.emotion, style_tags=a.style_tags or (),
                tempo=a.tempo, key=_composer_key(a.key), mode=a.mode, genre=genre, duration=r.duration,
                ending=ending, seed=seed + i,
            )  # fmt: skip
            if melody_from is not None:
                from audiogen.compose.transfer import plan_from_clip

                out.append(plan_from_clip(melody_from, text=a.text, **kwargs))
            else:
                out.append(compose_plan(a.text, **kwargs))
        return out

    def _plan_beats(self, plans: list, n_frames: int) -> list | None:
        """Beat times per plan, carried on at the plan's last beat interval past its end (for the beat prior and
        the beat clock); None for a model with neither."""
        if not self.lm.config.control_features and self.lm.beat_prior is None:
            return None
        from audiogen.controls.layout import grid_beats

        out = []
        seconds = n_frames / self.codec.frame_rate + 1.0
        for p in plans:
            b = np.asarray(p.beats, dtype=np.float64) + self.lm.config.beat_lag_s  # see LMConfig.beat_lag_s
            if len(b) < 2:  # a plan too short for two beats: its tempo's grid
                out.append(grid_beats(p.tempo, seconds, start=float(b[0]) if len(b) else 0.0))
                continue
            tail = grid_beats(60.0 / float(b[-1] - b[-2]), seconds, start=float(b[-1]))
            out.append(np.concatenate([b, tail[1:]]))
        return out

    def _sketch(self, plans: list, n_frames: int, params: GenerationParams) -> torch.Tensor | None:
        """Codes ``[B, n_q, n_frames]`` of the plans' sketches (:mod:`audiogen.compose.sketch`), or None when the
        sampling does not lean on them (``params.sketch_strength == 0``)."""
        if not params.sketch_strength:
            return None
        from audiogen.compose.sketch import sketch_codes

        return sketch_codes(self.codec, plans, n_frames, self.lm.config.n_q)

    def decode(self, codes: torch.Tensor, plans: list | None = None) -> np.ndarray:
        """Tokens ``[B, K, F]`` → waveforms ``[B, F * frame_size]`` (numpy). A codec whose decoder reads the plan's
        chords and melody (``CodecConfig.decoder_controls``) is given those of ``plans`` (one per row; None or a None
        entry: the tokens alone)."""
        controls = self._decoder_controls(codes.shape[-1], plans)
        with torch.inference_mode():
            wavs = self.codec.decode(codes) if controls is None else self.codec.decode(codes, controls)
        return wavs.numpy()

    def _decoder_controls(self, n_frames: int, plans: list | None) -> torch.Tensor | None:
        """The plans' chords and melody for a codec whose decoder reads them (``CodecConfig.decoder_controls``):
        ``[B, n_frames, N]``, or None (another decoder, no plans, or no row with a plan)."""
        n = getattr(getattr(self.codec, "cfg", None), "decoder_controls", 0)
        if not n or plans is None or all(p is None for p in plans):
            return None
        from audiogen.controls.from_plan import plan_controls
        from audiogen.controls.layout import empty

        rows = [empty(n_frames) if p is None else plan_controls(p, n_frames, self.codec.frame_rate)[:n_frames]
                for p in plans]  # fmt: skip
        return torch.from_numpy(np.stack(rows)[:, :, :n])

    def _plan_controls(self, plans: list, n_frames: int) -> list | None:
        """The dense controls of every plan ``[n_frames + n_q, F]`` (None for a model without a control input)."""
        if not self.lm.config.control_features:
            return None
        from audiogen.controls.from_plan import plan_controls

        lag, n = self.lm.config.beat_lag_s, n_frames + self.lm.config.n_q
        return [plan_controls(p, n, self.codec.frame_rate, beat_lag=lag) for p in plans]

    @staticmethod
    def _groups(requests: list[Request]) -> list[list[int]]:
        """Indices of requests grouped by duration, in first-seen order."""
        groups: dict[float, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(r.duration, []).append(i)
        return list(groups.values())

    @staticmethod
    def _tail(spec: MasteringSpec) -> float:
        """Extra seconds to generate beyond the duration (the loop crossfade consumes some)."""
        return spec.crossfade_s if spec.ending == "loop" else 0.0

    def _prompt_audio(self, prompt) -> np.ndarray | None:
        """The prompt as mono audio ``(T,)`` at :data:`SAMPLE_RATE` (None without a prompt)."""
        if prompt is None:
            return None
        audio = load_audio(prompt) if isinstance(prompt, (str, Path)) else np.asarray(prompt, dtype=np.float32)
        if audio.ndim != 1 or audio.size < self.codec.cfg.frame_size:
            raise ValueError("prompt audio must be mono (T,) at 32 kHz and at least one codec frame long")
        return audio

    def _prompt_codes(self, audio: np.ndarray, batch: int) -> torch.Tensor:
        wav = torch.from_numpy(resample(audio, SAMPLE_RATE, self.codec.sample_rate))[None]
        codes = self.codec.encode(wav, n_q=self.lm.config.n_q)
        return codes.expand(batch, -1, -1).contiguous()

    def _beats(self, requests: list[Request], seconds: float, prompt_audio: np.ndarray | None) -> list | None:
        """Beat times per request for a model with a beat clock or a beat prior (None for a model with neither).

        Without a prompt: a steady grid at the requested tempo (no clock without a tempo). With a prompt: the
        prompt's own beats (our beat tracker, the requested tempo as its prior), then on at the requested tempo, or
        at the prompt's tempo when none was asked for, so the continuation keeps the prompt's pulse."""
        if not self.lm.config.control_features and self.lm.beat_prior is None:
            return None
        from audiogen.controls.layout import grid_beats

        tracked = None
        if prompt_audio is not None:
            from audiogen.data.beats import track_beats

            hint = next((r.attributes.tempo for r in requests if r.attributes.tempo), None)
            tempo, found = track_beats(prompt_audio, SAMPLE_RATE, hint)
            found = found + self.lm.config.beat_lag_s  # the model's beats sit that late (LMConfig.beat_lag_s)
            tracked = (tempo, found) if len(found) >= 2 and tempo > 0 else None
        out = []
        for r in requests:
            tempo = r.attributes.tempo
            if tracked is None:
                out.append(None if tempo is None else grid_beats(tempo, seconds + 1.0))
                continue
            found = tracked[1]
            tail = grid_beats(tempo or tracked[0], seconds + 1.0, start=float(found[-1]))[1:]
            out.append(np.concatenate([found, tail]))
        return out

    def _sample(
        self, requests, n_frames, params, prompt_codes, progress, beats=None, controls=None, sketch=None
    ) -> torch.Tensor:
        bar, report = None, progress if callable(progress) else None
        if progress and report is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=1, unit="step", desc="generating", leave=False)

        def callback(step: int, total: int) -> None:
            if report is not None:
                report(step, total)
            if bar is not None:
                bar.total = total
                bar.update(step - bar.n)

        try:
            provider = self.lm.condition if self.lm.provider is not None else None
            return lm_generate(
                self.lm,
                provider,
                [r.attributes for r in requests],
                n_frames,
                params,
                prompt=prompt_codes,
                callback=callback,
                beats=beats,
                controls=controls,
                sketch=sketch,
                on_frames=None if FRAMES_SINK.get() is None else FRAMES_SINK.get().frames,
            )
        finally:
            if bar is not None:
                bar.close()

    def _finish(
        self, wav: np.ndarray, req: Request, spec: MasteringSpec, params: GenerationParams, plan=None
    ) -> Track:
        wav = resample(wav, self.codec.sample_rate, SAMPLE_RATE)
        out, report = master(wav, replace(spec, duration=req.duration), SAMPLE_RATE)
        a = req.attributes
        key = f"{a.key} {a.mode}" if a.key and a.mode else a.key
        style = ", ".join(a.style_tags) if a.style_tags else None
        if req.reference:  # the clip's file name stays on this machine: it may say more than the user meant to share
            style = f"{style + '; ' if style else ''}like a reference clip"
        gen = {k: v for k, v in params.__dict__.items() if v is not None}
        return Track(
            out,
            SAMPLE_RATE,
            prompt=a.text,
            emotion=a.emotion,
            valence=a.valence,
            arousal=a.arousal,
            style=style,
            tempo=a.tempo,
            key=key,
            seed=params.seed,
            model_version=self.model_version,
            params={"generation": gen, "mastering": report.to_dict()},
            plan=plan,
        )


def given_plan(plan, *, duration=None, tempo=None, key=None, mode=None, genre=None, ending=None):
    """A plan to perform as it is (a :class:`~audiogen.compose.plan.Plan` or a plan JSON file), checked whole
    (:meth:`~audiogen.compose.plan.Plan.validate`: it may have been edited since it was built) and against the rest
    of the request: a duration, tempo, key or mode that differs from the plan's, a genre (the plan is composed
    already), or an ending that contradicts the plan's (a loop's ending with a cadence's plan, or the other way) is a
    ``ValueError`` saying so, rather than being ignored or written into the tags while the plan plays its own."""
    from audiogen.compose.plan import Plan
    from audiogen.conditioning.validate import check_key_mode

    plan = plan if isinstance(plan, Plan) else Plan.from_json(plan)
    plan.validate()
    redo = "; compose a new plan (audiogen compose) or edit the plan's JSON instead"
    if duration is not None and (not isinstance(duration, (int, float)) or abs(duration - plan.duration) > 1e-3):
        raise ValueError(f"duration {duration!r} differs from the plan's {plan.duration:g} s: a plan is performed for "
                         f"its own length{redo}")  # fmt: skip
    if tempo is not None and (not isinstance(tempo, (int, float)) or abs(tempo - plan.tempo) > 0.05):
        raise ValueError(f"tempo {tempo!r} differs from the plan's {plan.tempo:.1f} BPM: a plan is performed at its "
                         f"own tempo{redo}")  # fmt: skip
    if key is not None or mode is not None:
        tonic, asked_mode = check_key_mode(key, mode)
        own = check_key_mode(plan.key, plan.mode)
        if (tonic is not None and tonic != own[0]) or (asked_mode is not None and asked_mode != own[1]):
            asked = " ".join(x for x in (key, mode) if x)
            raise ValueError(f"key {asked!r} differs from the plan's {plan.key_name}: a plan is performed in its own "
                             f"key{redo}")  # fmt: skip
    if genre is not None:
        raise ValueError(f"genre {genre!r} chooses how a plan is composed; the plan is composed already ({plan.genre})")
    if ending is not None and (ending == "loop") != (plan.ending == "loop"):
        raise ValueError(f"ending {ending!r} contradicts the plan's ending ({plan.ending}): a loop's plan is performed "
                         f"with the loop ending and a cadence's with 'fade' or 'none'{redo}")  # fmt: skip
    return plan


def _seeded(params: GenerationParams | None, seed: int | None) -> GenerationParams:
    """``params`` (default settings when None) with the call's seed: ``seed``, else the params' own, else random."""
    params = params or GenerationParams()
    seed = params.seed if seed is None else seed
    return replace(params, seed=secrets.randbits(31) if seed is None else int(seed))


def _composer_key(tonic: str | None) -> str | None:
    """A request's tonic (sharps, :data:`audiogen.conditioning.validate.TONICS`) in the composer's spelling."""
    if tonic is None:
        return None
    from audiogen.compose.composer import KEYS
    from audiogen.conditioning.validate import TONICS

    return KEYS[TONICS.index(tonic)]


def _with_plan(req: Request, plan) -> Request:
    """The request with what its plan decided filled in where it left them open (tempo, key, mode, emotion point),
    so the LM's conditions agree with the controls."""
    from audiogen.compose.composer import KEYS
    from audiogen.conditioning.validate import TONICS

    a = req.attributes
    filled = {}
    if a.tempo is None:
        filled["tempo"] = float(np.clip(plan.tempo, 40.0, 220.0))
    if a.key is None:
        filled["key"] = TONICS[KEYS.index(plan.key)]
    if a.mode is None:
        filled["mode"] = plan.mode
    if a.valence is None and a.emotion is None:
        filled["valence"], filled["arousal"] = plan.valence, plan.arousal
    return replace(req, attributes=replace(a, **filled)) if filled else req
