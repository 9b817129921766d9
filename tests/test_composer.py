import numpy as np
import pytest

from audiogen.compose.composer import (
    KEYS,
    SCALES,
    PieceParams,
    Timeline,
    compose,
    describe,
    parse_chord,
    release_seconds,
    sample_params,
)
from audiogen.compose.genres import GENRE_TEMPLATES
from audiogen.conditioning.emotions import EMOTIONS


def _params(**kw) -> PieceParams:
    base = dict(
        genre="pop", emotion="happy", valence=0.8, arousal=0.4, tempo=120.0, key="G", mode="major", dynamics=80,
        register=0, density=1.0, instruments={"melody": 0, "chords": 4, "bass": 33}, drums=True, duration=12.0,
        seed=7,
    )  # fmt: skip
    base.update(kw)
    return PieceParams(**base)


def _notes(pm):
    return [(i.name, n.start, n.end, n.pitch, n.velocity) for i in pm.instruments for n in i.notes]


def test_same_seed_same_piece_and_params():
    a = sample_params(np.random.default_rng(5), duration=10)
    b = sample_params(np.random.default_rng(5), duration=10)
    assert a == b
    assert _notes(compose(a)) == _notes(compose(b))
    c = PieceParams(**{**a.to_dict(), "seed": a.seed + 1})
    assert _notes(compose(c)) != _notes(compose(a))


@pytest.mark.parametrize(
    "change, word",
    [
        ({"tempo": 500}, "tempo"),
        ({"genre": "polka"}, "genre"),
        ({"emotion": "hungry"}, "emotion"),
        ({"key": "H"}, "key"),
        ({"mode": "dorian"}, "mode"),
        ({"valence": 1.5}, "valence"),
        ({"register": 3}, "register"),
        ({"meter": 5}, "meter"),
        ({"instruments": {"melody": 0, "chords": 0}}, "bass"),
        ({"instruments": {"melody": 0, "chords": 0, "bass": 200}}, "program"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_params_are_rejected_with_the_allowed_range(change, word):
    with pytest.raises(ValueError, match=word):
        _params(**change)


def test_sample_params_rejects_unknown_names():
    with pytest.raises(ValueError, match="genre"):
        sample_params(np.random.default_rng(0), genre="polka")
    with pytest.raises(ValueError, match="emotion"):
        sample_params(np.random.default_rng(0), emotion="hungry")


def test_chord_symbols():
    assert parse_chord("I") == (0, (0, 4, 7))
    assert parse_chord("V7") == (7, (0, 4, 7, 10))
    assert parse_chord("bVI") == (8, (0, 4, 7))
    assert parse_chord("iiø7") == (2, (0, 3, 6, 10))
    assert parse_chord("vii°") == (11, (0, 3, 6))
    assert parse_chord("Imaj7") == (0, (0, 4, 7, 11))
    with pytest.raises(ValueError, match="Roman numeral"):
        parse_chord("Cmaj7")
    for genre in GENRE_TEMPLATES.values():  # every progression the templates use parses
        for prog in genre.major + genre.minor:
            [parse_chord(s) for s in prog.split()]


def test_midi_carries_the_parameters():
    p = _params(key="D", mode="minor", tempo=100.0, meter=3, emotion="sad", valence=-0.7, arousal=-0.4)
    pm = compose(p)
    assert pm.get_tempo_changes()[1][0] == pytest.approx(100.0)
    assert pm.time_signature_changes[0].numerator == 3
    assert pm.key_signature_changes[0].key_number == KEYS.index("D") + 12  # pretty_midi: 12-23 are minor keys
    assert {i.name for i in pm.instruments} == {"melody", "chords", "bass", "drums"}
    assert next(i for i in pm.instruments if i.name == "drums").is_drum
    tonic = KEYS.index("D")
    allowed = {(tonic + s) % 12 for s in SCALES["minor"]} | {(tonic + 11) % 12}  # + the leading tone
    pitched = [n.pitch % 12 for i in pm.instruments if not i.is_drum for n in i.notes]
    assert np.mean([pc in allowed for pc in pitched]) > 0.85
    end = p.duration - release_seconds(p.duration)
    assert max(n.end for i in pm.instruments for n in i.notes) <= end + 1e-6
    last_start = max(n.start for i in pm.instruments if not i.is_drum for n in i.notes)
    final = {n.pitch % 12 for i in pm.instruments if not i.is_drum for n in i.notes if n.start >= last_start - 0.1}
    assert tonic in final  # the piece closes on the tonic chord
    melody = next(i for i in pm.instruments if i.name == "melody").notes
    assert melody[-1].pitch % 12 == tonic and melody[-1].end == pytest.approx(end)


def test_genres_without_drums_have_no_drum_track():
    p = sample_params(np.random.default_rng(1), genre="ambient", emotion="energetic", duration=8)
    assert not p.drums
    assert not any(i.is_drum for i in compose(p).instruments)


def test_emotions_move_the_music_the_documented_way():
    def draw(emotion):
        ps = [sample_params(np.random.default_rng(s), genre="pop", emotion=emotion) for s in range(40)]
        return {k: np.mean([getattr(p, k) if k != "mode" else p.mode == "major" for p in ps]) for k in
                ("mode", "tempo", "dynamics", "register", "density", "tension")}  # fmt: skip

    happy, sad, calm, tense = draw("happy"), draw("sad"), draw("calm"), draw("tense")
    assert happy["mode"] > 0.9 and sad["mode"] < 0.1 and calm["mode"] > 0.8 and tense["mode"] < 0.2
    assert happy["tempo"] > sad["tempo"] and tense["tempo"] > calm["tempo"]
    assert happy["dynamics"] > sad["dynamics"] and tense["dynamics"] > calm["dynamics"]
    assert happy["register"] > sad["register"]
    assert tense["density"] > calm["density"]
    assert tense["tension"] > 0.2 > happy["tension"] + 0.15


def test_form_has_phrases_and_an_ending():
    p = _params(duration=30.0, tempo=120.0)
    info = describe(p)
    assert info["form"].startswith("intro AAB") and info["form"].endswith("end")
    assert info["bars"] >= 12


def test_timeline_swings_and_slows_down():
    straight = Timeline(120.0)
    assert straight.time(4) == pytest.approx(2.0)
    swung = Timeline(120.0, swing=1.0)
    assert swung.time(0.5) == pytest.approx(2 / 3 * 0.5)  # off-beat eighth on the triplet
    assert swung.time(1.0) == pytest.approx(0.5)
    rit = Timeline(120.0, rit_start=4, rit_len=4, rit=0.3)
    beats = np.arange(0, 12, 0.25)
    gaps = np.diff([rit.time(b) for b in beats])
    assert np.all(gaps > 0) and gaps[-1] > gaps[0] * 1.3


def test_every_genre_and_emotion_composes_quickly():
    rng = np.random.default_rng(0)
    for genre in GENRE_TEMPLATES:
        for emotion in list(EMOTIONS)[::6]:
            pm = compose(sample_params(rng, genre, emotion, duration=6.0))
            assert sum(len(i.notes) for i in pm.instruments) > 5


@pytest.mark.parametrize("meter,tempo", [(4, 60.0), (4, 220.0), (3, 220.0)])
def test_a_ten_minute_form_cycles_aaba_to_the_end(meter, tempo):
    p = _params(duration=600.0, tempo=tempo, meter=meter)
    info = describe(p)
    phrases = info["form"].removeprefix("intro ").removesuffix(" end")
    assert len(phrases) > 36 and phrases == ("AABA" * len(phrases))[: len(phrases)]
    assert 600 * tempo / (60 * meter) - 4 <= info["bars"] <= 600 * tempo / (60 * meter)  # bars + the final chord
    assert info["end_time"] == pytest.approx(600 - release_seconds(600.0))
    pm = compose(p)
    assert max(n.end for i in pm.instruments for n in i.notes) <= info["end_time"] + 1e-6
