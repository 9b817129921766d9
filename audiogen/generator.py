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

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from audiogen.audio import SAMPLE_RATE, resample
from audiogen.codec.model import Codec, CodecConfig
from audiogen.lm import GenerationParams, LMConfig, MusicLM
from audiogen.master import MasteringSpec, master
from audiogen.music import DEFAULT_DURATION
from audiogen.originality.check import check_originality_mode
from audiogen.originality.checker import DIR_NAME as ORIGINALITY_DIR
from audiogen.originality.checker import OriginalityChecker, sound_encoder
from audiogen.originality.index import OriginalityIndex
from audiogen.perform import Performer
from audiogen.plans import fill_from_plan, given_plan, has_shots, plans_for, with_plan
from audiogen.request import (  # noqa: F401  (the request's names, importable from the facade as before)
    MAX_DURATION,
    REFERENCE_SECONDS,
    Request,
    by_duration,
    check_duration,
    make_requests,
    reference_attributes,
    reference_style_tags,
    seeded,
)
from audiogen.stream import FRAMES_SINK, TrackStream
from audiogen.track import Track

__all__ = ["MusicGenerator", "Request", "check_duration", "given_plan", "make_requests", "reference_attributes"]


class MusicGenerator:
    """Codec + language model + mastering. Build with :meth:`from_pretrained` (or :meth:`debug` for tests)."""

    def __init__(self, codec: Codec, lm: MusicLM, name: str = "audiogen", version: str = "dev") -> None:
        self.performer = Performer(codec, lm)
        self.name, self.version = name, version
        self.style_dir: Path | None = None  # style encoder + index for reference clips (None: the shipped one)
        self.sketch_strength = 0.0  # the default lean on the plan's sketch (model.json "sketch_strength")
        self.originality_dir: Path | None = None  # the originality index of the model's training corpus
        self._checker: OriginalityChecker | None = None

    @property
    def codec(self) -> Codec:
        return self.performer.codec

    @property
    def lm(self) -> MusicLM:
        return self.performer.lm

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
        if (path / ORIGINALITY_DIR / "index.json").is_file():
            gen.originality_dir = path / ORIGINALITY_DIR
        return gen

    def save_pretrained(self, path: str | Path) -> Path:
        """Write ``codec/``, ``lm/``, ``model.json`` (and ``style/`` when this generator has its own) into ``path``."""
        path = Path(path)
        self.codec.save_pretrained(path / "codec")
        self.lm.save_pretrained(path / "lm")
        if self.style_dir is not None and self.style_dir.resolve() != (path / "style").resolve():
            shutil.copytree(self.style_dir, path / "style", dirs_exist_ok=True)
        if self.originality_dir is not None and self.originality_dir.resolve() != (path / ORIGINALITY_DIR).resolve():
            shutil.copytree(self.originality_dir, path / ORIGINALITY_DIR, dirs_exist_ok=True)
        meta = {"name": self.name, "version": self.version}
        if self.sketch_strength:
            meta["sketch_strength"] = self.sketch_strength
        (path / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
        return path

    @classmethod
    def debug(cls, seed: int = 0, head: str = "istft") -> MusicGenerator:
        """A tiny random model (2-layer, 32-wide LM; small codec; hashed text) for tests: fast, sounds like noise.
        ``head``: the codec's decoder head, ``"istft"`` (v1, v2) or ``"magnitude"`` (v3: its phase rebuilt)."""
        from audiogen.conditioning.config import ConditionConfig

        if head not in ("istft", "magnitude"):
            raise ValueError(f"head={head!r}: allowed 'istft' or 'magnitude'")
        torch.manual_seed(seed)
        extra = dict(head="magnitude", synth_n_fft=1024, head_hidden=24) if head == "magnitude" else {}
        codec = Codec(CodecConfig(enc_dim=32, enc_layers=2, latent_dim=16, dec_dim=32, dec_layers=2, up_dim=16,
                                  up_layers=1, n_q=4, codebook_size=64, codebook_dim=4, **extra))  # fmt: skip
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
        originality: str = "check",
        originality_tries: int = 3,
    ) -> Track | list[Track]:
        """Generate mastered tracks: one :class:`Track` (``audio`` ``(round(duration * 32000),)``, ``plan`` its
        composition, ``originality`` its check against the training corpus), or a list for a batch (``text`` a list
        of prompts).

        The arguments, their ranges and defaults are the request's (:mod:`audiogen.request`, whose table
        :data:`~audiogen.request.FIELDS` every surface shares); all are checked before any work starts.
        ``originality``: ``"check"`` (every track is checked when the model has an originality index,
        :mod:`audiogen.originality`), ``"strict"`` (a flagged track is made again with the next seed, up to
        ``originality_tries`` tracks in all; ``track.params["originality"]`` lists the seeds tried) or ``"off"``."""
        check_originality_mode(originality, originality_tries, self.originality_checker() is not None)
        requests, plans, params, mastering, replan = self._requests_and_plans(
            text, dict(emotion=emotion, valence=valence, arousal=arousal, style=style, reference=reference,
                       tempo=tempo, key=key, mode=mode, duration=duration),
            seed=seed, params=params, mastering=mastering, prompt=prompt, plan=plan, melody_from=melody_from,
            genre=genre, image=image, video=video,
        )  # fmt: skip
        checking = originality != "off"
        tracks: list[Track | None] = [None] * len(requests)
        for group in by_duration(requests):  # one LM batch per duration: timing conditions differ per length
            wavs, codes = self._perform(group, requests, plans, params, mastering, prompt, progress)
            for j, i in enumerate(group):
                track = self._finish(wavs[j], requests[i], mastering, params, plans[i])
                tracks[i] = self._checked(track, None if codes is None else codes[j]) if checking else track
        if originality == "strict":
            for i, track in enumerate(tracks):
                tracks[i] = self._until_original(track, i, replan, params, mastering, prompt, originality_tries)
        return tracks if isinstance(text, (list, tuple)) else tracks[0]

    # -- originality --------------------------------------------------------------------------------------------
    def originality_checker(self) -> OriginalityChecker | None:
        """The checker of this model's ``originality/`` index (loaded once), or None when the model has none."""
        if self._checker is None and self.originality_dir is not None:
            index = OriginalityIndex.load(self.originality_dir)
            encoder = sound_encoder(self.originality_dir, self.style_dir)
            self._checker = OriginalityChecker(index, encoder, self.codec, f"{self.model_version}: "
                                               f"{len(index.items)} training items")  # fmt: skip
        return self._checker

    def _checked(self, track: Track, codes: torch.Tensor | None) -> Track:
        """``track`` with its originality (the plan's melody and chords, the LM's coarse tokens ``codes [K, F]``,
        the sound of its audio); unchanged without an index."""
        checker = self.originality_checker()
        if checker is None:
            return track
        tokens = None if codes is None or not checker.codec_matches() else codes[0].numpy()
        return replace(track, originality=checker.check_audio(track.audio, track.sample_rate, plan=track.plan,
                                                              tokens=tokens))  # fmt: skip

    def _until_original(self, track: Track, i: int, replan, params, mastering, prompt, tries: int) -> Track:
        """Request ``i`` made again with seeds ``seed + 1, seed + 2, ...`` while its track is flagged, up to ``tries``
        tracks in all; the track returned records the seeds tried (``params["originality"]``)."""
        tried = [{"seed": params.seed, "flagged": track.originality is not None and track.originality.flagged}]
        while track.originality is not None and track.originality.flagged and len(tried) < tries:
            again = replace(params, seed=(params.seed + len(tried)) % 2**32)
            request, plan = replan(i, again.seed)
            wavs, codes = self._perform([0], [request], [plan], again, mastering, prompt, False)
            track = self._checked(self._finish(wavs[0], request, mastering, again, plan),
                                  None if codes is None else codes[0])  # fmt: skip
            tried.append({"seed": again.seed, "flagged": track.originality.flagged})
        if len(tried) == 1:
            return track
        return replace(track, params={**track.params, "originality": {"mode": "strict", "tried": tried}})

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
        if request.get("originality") == "strict":
            raise ValueError(
                "a stream plays its track while it is made, so it cannot be made again when flagged: "
                "originality='strict' is not for stream(); allowed: 'check' or 'off'"
            )
        request.setdefault("progress", False)
        return TrackStream(self, lambda: self.generate(text, **request), chunk_seconds)

    def _requests_and_plans(
        self, text, asked: dict, *, seed, params, mastering, prompt, plan, melody_from, genre, image, video
    ) -> tuple[list[Request], list, GenerationParams, MasteringSpec, Callable]:
        """Every check of a request before any work, then its plans: ``(requests, plans, params, mastering,
        replan)``, one request and one plan (None with a prompt) per prompt, and ``replan(i, seed)`` giving request
        ``i`` and a plan composed anew; ``asked`` holds the request fields as given."""
        if sum(x is not None for x in (plan, melody_from, prompt)) > 1:
            raise ValueError("give at most one of plan=, melody_from= and prompt= (each sets what is performed)")
        if plan is not None:  # checked whole before anything else: a plan is performed as it is, or refused now
            plan = given_plan(plan, duration=asked["duration"], tempo=asked["tempo"], key=asked["key"],
                              mode=asked["mode"], genre=genre, ending=getattr(mastering, "ending", None))  # fmt: skip
            mastering = mastering or MasteringSpec(ending="loop" if plan.ending == "loop" else "fade")
        mastering = mastering or MasteringSpec()
        params = seeded(params, seed)  # drawn once: the plan is composed and performed with one seed
        if params.sketch_strength is None:
            params = replace(params, sketch_strength=self.sketch_strength)
        if image is not None or video is not None:
            from audiogen.brief.request import check_brief

            check_brief(image, video, batch=isinstance(text, (list, tuple)), plan=plan, melody_from=melody_from,
                        prompt=prompt, ending=mastering.ending)  # fmt: skip
        if video is not None:
            from audiogen.brief.request import video_plan

            plan, asked["duration"], asked["valence"], asked["arousal"], asked["style"] = video_plan(
                self, text, video, **asked, seed=params.seed, genre=genre)  # fmt: skip
        elif image is not None:
            from audiogen.brief.request import image_fill

            fill = image_fill(text, image, asked["emotion"], asked["valence"], asked["arousal"], asked["style"])
            asked["emotion"], asked["valence"], asked["arousal"], asked["style"] = fill
        asked["duration"] = DEFAULT_DURATION if asked["duration"] is None else asked["duration"]
        if plan is not None:
            fill_from_plan(asked, plan)
        requests = self.make_requests(text, **asked)
        ending = "loop" if mastering.ending == "loop" else "cadence"
        plans = [None] * len(requests) if prompt is not None else plans_for(
            requests, params.seed, ending=ending, plan=plan, melody_from=melody_from, genre=genre)  # fmt: skip
        raw = requests

        def replan(i: int, seed: int):
            """Request ``i`` and its plan composed anew with ``seed`` (as request ``i`` of the batch)."""
            if prompt is not None:
                return raw[i], None
            new = plans_for([raw[i]], (seed + i) % 2**32, ending=ending, plan=plan, melody_from=melody_from,
                            genre=genre)[0]  # fmt: skip
            return with_plan(raw[i], new), new

        requests = [r if p is None else with_plan(r, p) for r, p in zip(requests, plans, strict=True)]
        return requests, plans, params, mastering, replan

    def _perform(self, group, requests, plans, params, mastering, prompt, progress) -> tuple[np.ndarray, object]:
        """``(waveforms [len(group), T] at the codec's rate, tokens [len(group), K, F] or None)`` of the requests
        ``group`` (one duration): a plan aligned to a video's cuts shot by shot, a prompt continued, or the plans
        performed in one LM batch (the tokens: of that batch only)."""
        performer, rate = self.performer, self.codec.frame_rate
        n_frames = math.ceil((requests[group[0]].duration + mastering.tail_s) * rate)
        # timing conditions describe what is generated (a loop's crossfade tail included)
        timed = [replace(requests[i].attributes, duration=n_frames / rate) for i in group]
        audio = performer.prompt_audio(prompt)
        group_plans = [plans[i] for i in group]
        if audio is None and len(group) == 1 and has_shots(group_plans[0]):  # a plan aligned to a video's cuts
            from audiogen.brief.perform import perform_shots

            return [perform_shots(performer, requests[group[0]].attributes, group_plans[0], params, progress)], None
        sink = FRAMES_SINK.get()  # a TrackStream listening (MusicGenerator.stream), or None
        if sink is not None:
            played = group_plans if audio is None else None
            sink.begin(group_plans, n_frames, performer.decoder_controls(n_frames, played), mastering)
        if audio is not None:
            return performer.go_on(timed, audio, n_frames, params, progress), None
        codes = performer.perform_codes(timed, group_plans, n_frames, params, progress)
        return performer.decode(codes, group_plans), codes

    def decode(self, codes: torch.Tensor, plans: list | None = None) -> np.ndarray:
        """:meth:`Performer.decode <audiogen.perform.Performer.decode>`: tokens ``[B, K, F]`` → waveforms
        ``[B, F * frame_size]`` (numpy)."""
        return self.performer.decode(codes, plans)

    def _finish(self, wav: np.ndarray, req: Request, spec: MasteringSpec, params: GenerationParams, plan=None) -> Track:
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
