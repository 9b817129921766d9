"""A generated piece of music and what produced it: :class:`Track`.

A track holds mono float32 samples ``(T,)`` and its metadata (prompt, emotion, valence/arousal, style, tempo, key,
seed, model version, generation parameters). It saves itself as a tagged MP3 (or WAV/FLAC/OGG), and shows itself as
an audio player in a notebook::

    track = Track(audio, prompt="a hopeful corporate track", emotion="happy", seed=7)
    track.save("out.mp3")  # ID3: title, prompt, emotion, seed, model version, "AI-generated" comment
    track                   # in Jupyter: an <audio> player with the audio embedded
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from audiogen import __version__
from audiogen.audio import SAMPLE_RATE, load_audio, save_audio
from audiogen.id3 import read_id3

_TITLE_PROMPT_CHARS = 60
_TEXT_TAGS = ("prompt", "emotion", "style", "key", "model_version")
_FLOAT_TAGS = ("valence", "arousal", "tempo")
_MAX_PEAK_FIXES = 3
MAX_TAG_CHARS = 1000  # a text tag longer than this is cut (with an ellipsis): a prompt of 100 kB is not a tag
MAX_PARAMS_TAG_CHARS = 4000


def _bounded(text: str, limit: int = MAX_TAG_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ai_comment(model_version: str | None = None) -> str:
    """The comment written into every MP3: the track is machine-generated, and by what."""
    model = f", model {model_version}" if model_version else ""
    return f"AI-generated music: made by audiogen {__version__}{model}, an automatic music generator."


@dataclass(frozen=True, eq=False)
class Track:
    """Generated audio plus the request and settings that produced it.

    Attributes:
        audio: ``(T,)`` float32 mono samples in [-1, 1] (converted on construction; ``(1, T)``/``(T, 1)`` accepted).
        sample_rate: samples per second (32 kHz in audiogen).
        prompt: the text request.
        emotion: the emotion label asked for (or found nearest to the valence/arousal point).
        valence, arousal: the emotion point, each in [-1, 1].
        style: style tags or a description of the reference clip.
        tempo: beats per minute.
        key: musical key, e.g. ``"A minor"``.
        seed: the random seed of the generation.
        model_version: the model checkpoint's name/version.
        params: generation parameters (sampling settings, CFG scale, mastering spec, ...), JSON-serialisable.
        title: the title to tag; derived from emotion and prompt when ``None``.
        plan: the composition the track performs (:class:`~audiogen.compose.plan.Plan`), or None.
        originality: its check against the model's training corpus
            (:class:`~audiogen.originality.Originality`), or None when it was not checked.
    """

    audio: np.ndarray
    sample_rate: int = SAMPLE_RATE
    prompt: str | None = None
    emotion: str | None = None
    valence: float | None = None
    arousal: float | None = None
    style: str | None = None
    tempo: float | None = None
    key: str | None = None
    seed: int | None = None
    model_version: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    plan: Any = None
    originality: Any = None

    def __post_init__(self) -> None:
        audio = np.asarray(self.audio)
        if audio.ndim == 2 and 1 in audio.shape:
            audio = audio.reshape(-1)
        if audio.ndim != 1 or audio.size == 0:
            raise ValueError(f"Track audio must be non-empty mono of shape (T,), got shape {tuple(audio.shape)}")
        if not np.issubdtype(audio.dtype, np.floating) or not np.isfinite(audio).all():
            raise ValueError("Track audio must be finite float samples in [-1, 1]")
        object.__setattr__(self, "audio", np.ascontiguousarray(audio, dtype=np.float32))
        rate = self.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ValueError(f"sample_rate must be a positive int, got {rate!r}")
        object.__setattr__(self, "sample_rate", int(rate))
        for name in ("valence", "arousal"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and -1.0 <= value <= 1.0):
                raise ValueError(f"{name} must be None or a number in [-1, 1], got {value!r}")
        if self.tempo is not None and not (math.isfinite(self.tempo) and 0 < self.tempo <= 1000):
            raise ValueError(f"tempo must be None or beats per minute in (0, 1000], got {self.tempo!r}")
        if not isinstance(self.params, dict):
            raise ValueError(f"params must be a dict, got {type(self.params).__name__}")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.audio.size / self.sample_rate

    @property
    def display_title(self) -> str:
        """``title``, or one made from the emotion and the start of the prompt."""
        if self.title:
            return self.title
        parts = [self.emotion.capitalize()] if self.emotion else []
        if self.prompt:
            prompt = self.prompt.strip()
            if len(prompt) > _TITLE_PROMPT_CHARS:
                prompt = prompt[: _TITLE_PROMPT_CHARS - 1].rstrip() + "…"
            parts.append(prompt)
        return " — ".join(parts) if parts else "Untitled (audiogen)"

    def metadata(self) -> dict[str, Any]:
        """Everything but the samples, as a JSON-friendly dict (``None`` fields left out)."""
        out: dict[str, Any] = {"title": self.display_title, "duration": self.duration, "sample_rate": self.sample_rate}
        for name in (*_TEXT_TAGS, *_FLOAT_TAGS, "seed"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.params:
            out["params"] = self.params
        if self.originality is not None:
            out["originality"] = self.originality.to_dict()
        return out

    def tags(self) -> dict[str, str]:
        """The ID3 tags written into an MP3 (see :mod:`audiogen.id3`): title, artist, comment, then one
        user-defined frame per metadata field (prompt, emotion, valence, arousal, style, tempo, key, seed,
        model_version, params as JSON, and the originality check as JSON when there is one)."""
        tags = {"title": self.display_title, "artist": "audiogen", "comment": ai_comment(self.model_version)}
        for name in (*_TEXT_TAGS, *_FLOAT_TAGS, "seed"):
            value = getattr(self, name)
            if value is not None:
                tags[name] = f"{value:g}" if name in _FLOAT_TAGS else _bounded(str(value))
        if self.params:
            tags["params"] = _bounded(json.dumps(self.params, sort_keys=True, default=str), MAX_PARAMS_TAG_CHARS)
        if self.originality is not None:
            tags["originality"] = self.originality.to_json()
        return tags

    def file_strings(self) -> dict[str, str]:
        """What WAV, FLAC and OGG files carry (libsndfile's string metadata): title, artist, software, and a comment
        saying the track is machine-generated, with its originality verdict when it was checked."""
        comment = ai_comment(self.model_version)
        if self.originality is not None:
            comment += f" Originality: {_bounded(self.originality.summary())}"
        return {"title": self.display_title, "artist": "audiogen", "comment": comment,
                "software": f"audiogen {__version__}"}  # fmt: skip

    def save(self, path: str | os.PathLike, bitrate: int = 192, true_peak_ceiling_db: float | None = -1.0) -> Path:
        """Write the track; the extension picks the format (``.mp3``, ``.wav``, ``.flac``, ``.ogg``).

        MP3 is constant-bitrate ``bitrate`` kbps with ID3 tags (:meth:`tags`); the decoded length equals
        ``len(audio)``. The written MP3 is decoded and measured: if its true peak exceeds ``true_peak_ceiling_db``
        (lossy encoding can raise peaks; unmastered audio may be hot), it is re-written quieter by the excess plus
        0.1 dB. Audio from :func:`audiogen.master.master` has enough headroom that this rarely happens; ``None``
        writes the samples as they are.
        WAV and FLAC are 16-bit; they and OGG carry :meth:`file_strings`. The file appears under its name only
        once complete.

        Returns:
            the path written.
        """
        path = Path(path)
        is_mp3 = path.suffix.lower() == ".mp3"
        tags = self.tags() if is_mp3 else self.file_strings()
        save_audio(path, self.audio, self.sample_rate, bitrate=bitrate, tags=tags)
        if is_mp3 and true_peak_ceiling_db is not None:
            _fix_mp3_peak(path, self.audio, self.sample_rate, bitrate, tags, true_peak_ceiling_db)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> Track:
        """Read a file written by :meth:`save` back (metadata from its ID3 tags, if it has them)."""
        path = Path(path)
        audio = load_audio(path, sample_rate=sample_rate, allow_silent=True)
        tags = read_id3(path) if path.suffix.lower() == ".mp3" else {}
        fields: dict[str, Any] = {name: tags[name] for name in _TEXT_TAGS if name in tags}
        fields.update({name: float(tags[name]) for name in _FLOAT_TAGS if name in tags})
        if "seed" in tags:
            fields["seed"] = int(tags["seed"])
        if "params" in tags:
            fields["params"] = json.loads(tags["params"])
        if "originality" in tags:
            from audiogen.originality.check import Originality

            fields["originality"] = Originality.from_dict(json.loads(tags["originality"]))
        return cls(audio, sample_rate, title=tags.get("title"), **fields)

    def to_wav_bytes(self) -> bytes:
        """The track as a complete 16-bit PCM WAV file in memory."""
        buf = io.BytesIO()
        sf.write(buf, np.clip(self.audio, -1.0, 1.0), self.sample_rate, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    def save_midi(self, path: str | os.PathLike) -> Path:
        """Write the track's plan as a MIDI file (atomically), for a DAW; raises ``ValueError`` without a plan."""
        if self.plan is None:
            raise ValueError("this track has no plan to export as MIDI (it was not composed by audiogen)")
        path = Path(path)
        if path.suffix.lower() not in (".mid", ".midi"):
            raise ValueError(f"MIDI files end in .mid or .midi, got {path.name!r}")
        self.plan.to_midi(path)
        return path

    def _repr_html_(self) -> str:
        """An HTML5 audio player with the audio embedded as a base64 WAV, and a one-line caption (notebooks)."""
        data = base64.b64encode(self.to_wav_bytes()).decode("ascii")
        details = [f"{self.duration:.1f} s"]
        if self.emotion:
            details.append(self.emotion)
        if self.seed is not None:
            details.append(f"seed {self.seed}")
        caption = f"<b>{html.escape(self.display_title)}</b> · {html.escape(' · '.join(details))}"
        return (
            '<div class="audiogen-track">'
            f'<audio controls preload="metadata" src="data:audio/wav;base64,{data}"></audio>'
            f'<div style="font-size: 0.85em">{caption}</div></div>'
        )

    def __repr__(self) -> str:
        return f"Track({self.display_title!r}, {self.duration:.2f} s @ {self.sample_rate} Hz)"


def _fix_mp3_peak(
    path: Path, audio: np.ndarray, sample_rate: int, bitrate: int, tags: dict[str, str] | None, ceiling_db: float
) -> None:
    """Re-encode ``path`` quieter until its decoded true peak is ≤ ``ceiling_db`` (at most a few tries)."""
    from audiogen.mastering.measure import true_peak_db

    for _ in range(_MAX_PEAK_FIXES):
        excess = true_peak_db(load_audio(path, sample_rate=sample_rate, allow_silent=True), sample_rate) - ceiling_db
        if excess <= 0:
            return
        audio = audio * np.float32(10.0 ** (-(excess + 0.1) / 20.0))
        save_audio(path, audio, sample_rate, bitrate=bitrate, tags=tags)
