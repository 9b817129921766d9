"""Request validation, style vocabulary and manifest-record conversion for the conditioners."""

import pytest
import torch

from audiogen.conditioning.base import Attributes
from audiogen.conditioning.emotions import EmotionError
from audiogen.conditioning.records import attributes_from_record, fold_tempo
from audiogen.conditioning.styles import STYLE_TAGS, StyleError, check_tag, check_tags, filter_tags
from audiogen.conditioning.validate import (
    check_key_mode,
    check_tempo,
    check_timing,
    normalize_attributes,
    parse_key,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("C", ("C", None)),
        ("c#", ("C#", None)),
        ("Db", ("C#", None)),
        ("D♭", ("C#", None)),
        ("F# minor", ("F#", "minor")),
        ("Am", ("A", "minor")),
        ("Bb major", ("A#", "major")),
        ("Cb", ("B", None)),
        ("E# min", ("F", "minor")),
    ],
)
def test_parse_key_accepts_common_spellings(text, expected):
    assert parse_key(text) == expected


@pytest.mark.parametrize("bad", ["H", "C##", "C dorian", "", "12"])
def test_unknown_key_names_the_allowed_forms(bad):
    with pytest.raises(ValueError, match="unknown key") as err:
        parse_key(bad)
    assert "C#/Db" in str(err.value)


def test_key_mode_must_agree():
    assert check_key_mode("F# minor", None) == ("F#", "minor")
    assert check_key_mode("G", "MAJOR") == ("G", "major")
    with pytest.raises(ValueError, match="says minor"):
        check_key_mode("Am", "major")
    with pytest.raises(ValueError, match="'major' or 'minor'"):
        check_key_mode(None, "dorian")


def test_tempo_range():
    assert check_tempo(40) == 40.0 and check_tempo(220.0) == 220.0
    for bad in (39.9, 221, float("nan"), True, "120"):
        with pytest.raises(ValueError, match=r"tempo must .*\[40, 220\] BPM"):
            check_tempo(bad)


def test_timing_checks():
    assert check_timing(30, 10) == (30.0, 10.0)
    with pytest.raises(ValueError, match=r"duration must lie in \[1, 600\]"):
        check_timing(0.5, None)
    with pytest.raises(ValueError, match="must not exceed duration"):
        check_timing(10, 20)


def test_style_tags_normalise_and_alias():
    assert check_tag("Lo Fi") == "lo-fi"
    assert check_tag("LOFI") == "lo-fi"
    assert check_tag("violin") == "strings"
    assert check_tag("8 bit") == "8-bit"
    assert check_tags("piano, Strings ,piano") == ("piano", "strings")
    assert len(set(STYLE_TAGS)) == len(STYLE_TAGS)
    for needed in ("pop", "rock", "ambient", "cinematic", "orchestral", "jazz", "chiptune", "game", "choir", "flute"):
        assert needed in STYLE_TAGS


def test_unknown_tag_suggests_nearest_and_lists_allowed():
    with pytest.raises(StyleError, match="Did you mean 'orchestral'") as err:
        check_tag("orchestal")
    msg = str(err.value)
    assert "genres:" in msg and "instruments:" in msg and "piano" in msg


def test_filter_tags_drops_unknown_words():
    assert filter_tags(["wesnoth", "Orchestral", "battle", "orchestra", "Drums"]) == ("orchestral", "drums")


def test_normalize_attributes_canonicalises():
    a = normalize_attributes(Attributes(emotion=" Happy ", style_tags=("LoFi",), key="Db minor", tempo=90))
    assert (a.emotion, a.style_tags, a.key, a.mode, a.tempo) == ("happy", ("lo-fi",), "C#", "minor", 90.0)
    assert a.valence is None  # a label alone keeps the point implicit


def test_normalize_attributes_errors():
    with pytest.raises(EmotionError, match="Did you mean 'happy'"):
        normalize_attributes(Attributes(emotion="hapy"))
    with pytest.raises(EmotionError, match=r"valence must be a number in \[-1, 1\]"):
        normalize_attributes(Attributes(valence=1.5, arousal=0.0))
    with pytest.raises(EmotionError, match="both valence and arousal"):
        normalize_attributes(Attributes(valence=0.5))
    with pytest.raises(ValueError, match="1-D tensor"):
        normalize_attributes(Attributes(style_embedding=torch.zeros(2, 3)))


def test_fold_tempo():
    assert fold_tempo(480.0) == 120.0
    assert fold_tempo(30.0) == 60.0
    assert fold_tempo(None) is None and fold_tempo(0) is None and fold_tempo(float("nan")) is None


def test_attributes_from_record():
    rec = {
        "path": "a.ogg",
        "duration": 95.0,
        "caption": "  a slow orchestral piece ",
        "emotion": "calm",
        "valence": 0.4,
        "arousal": -0.7,
        "tags": ["debian", "orchestral", "Strings"],
        "tempo": 250.0,
        "key": "Eb",
        "mode": "major",
    }
    a = attributes_from_record(rec)
    assert a.text == "a slow orchestral piece"
    assert (a.emotion, a.valence, a.arousal) == ("calm", 0.4, -0.7)
    assert a.style_tags == ("orchestral", "strings")
    assert (a.tempo, a.key, a.mode) == (125.0, "D#", "major")
    assert a.duration is None and a.position is None
    t = attributes_from_record(rec, crop_start=12.5)
    assert (t.duration, t.position) == (95.0, 12.5)
    normalize_attributes(t)  # whatever a record gives is a valid request


def test_attributes_from_record_is_lenient():
    rec = {"duration": 3.0, "caption": "", "emotion": "bored", "valence": 0.2, "tags": [], "key": "X", "mode": None}
    a = attributes_from_record(rec)
    assert a == Attributes()
