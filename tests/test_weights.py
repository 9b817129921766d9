"""Model folders carry checksums; loading verifies them, refuses damaged, unreadable and non-finite weights."""

import pytest
from safetensors.torch import load_file, save_file

from audiogen.cli import main
from audiogen.generator import MusicGenerator
from audiogen.lm.model import MusicLM
from audiogen.weights import CHECKSUMS_NAME, WeightsError, write_checksums


def test_saved_folders_verify_and_name_the_damaged_file(tmp_path, capsys):
    gen = MusicGenerator.debug()
    gen.save_pretrained(tmp_path / "m")
    for part in ("lm", "codec"):
        assert (tmp_path / "m" / part / CHECKSUMS_NAME).is_file()
    MusicGenerator.from_pretrained(tmp_path / "m")  # intact: loads
    weights = tmp_path / "m" / "lm" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    for i in range(len(data) - 2000, len(data) - 1000):  # flip bytes inside a tensor (the header stays valid)
        data[i] ^= 0x55
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"lm/model\.safetensors: damaged weights file"):
        MusicLM.from_pretrained(tmp_path / "m" / "lm")
    assert main(["generate", "x", "--model", str(tmp_path / "m"), "-o", str(tmp_path / "o.mp3"), "--no-progress"]) == 2
    assert "damaged weights file" in capsys.readouterr().err and not (tmp_path / "o.mp3").exists()


def test_non_finite_and_unreadable_weights_are_refused(tmp_path):
    gen = MusicGenerator.debug()
    gen.lm.save_pretrained(tmp_path / "lm")
    path = tmp_path / "lm" / "model.safetensors"
    state = load_file(str(path))
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name][0] = float("nan")
    save_file(state, str(path))
    write_checksums(tmp_path / "lm")  # a consistent file whose values diverged
    with pytest.raises(WeightsError, match=f"'{name}' holds NaN"):
        MusicLM.from_pretrained(tmp_path / "lm")
    path.write_bytes(b"not a safetensors file at all")
    (tmp_path / "lm" / CHECKSUMS_NAME).unlink()  # an older folder without checksums: still checked for readability
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        MusicLM.from_pretrained(tmp_path / "lm")


def test_the_shipped_model_carries_checksums():
    from audiogen.pretrained import DEFAULT_DIR

    for part in ("codec", "lm", "emotion", "style"):
        if (DEFAULT_DIR / part / "config.json").is_file():
            assert (DEFAULT_DIR / part / CHECKSUMS_NAME).is_file(), part
