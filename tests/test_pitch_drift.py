"""The pitch-drift reading: partials located to the cent, and the rebuild with given frequencies."""

import numpy as np
import torch

from audiogen.codec.phase import MagnitudeSynth, bin_frequency
from audiogen.eval.pitch_drift import harmonic_tone, partial_cents, synth_with_frequencies


def test_a_tone_reads_on_its_partials_and_a_detuned_one_off_them():
    assert all(abs(c) < 2 for c in partial_cents(harmonic_tone(48), 130.81))
    t = np.arange(4 * 32000) / 32000
    sharp = np.sin(2 * np.pi * 130.81 * 2 ** (30 / 1200) * t).astype(np.float32)
    assert abs(partial_cents(sharp, 130.81, partials=1)[0] - 30) < 3


def test_the_rebuild_with_the_frequencies_it_would_read_is_the_synth_itself():
    synth = MagnitudeSynth(2048, 320)
    logmag = synth.analyse(torch.from_numpy(harmonic_tone(52, seconds=1.0))[None])
    same = synth_with_frequencies(synth, logmag, bin_frequency(logmag))
    assert torch.allclose(same, synth(logmag), atol=1e-4)


def test_keys_only_reads_the_plans_decoded_as_the_lm_tokens_are_and_nothing_else():
    from audiogen.codec.model import Codec, CodecConfig
    from audiogen.eval.pitch_drift import plan_readings

    torch.manual_seed(0)
    tiny = dict(enc_dim=32, enc_layers=2, latent_dim=16, dec_dim=32, dec_layers=2, up_dim=16, up_layers=1, n_q=4,
                codebook_size=64, codebook_dim=4)  # fmt: skip
    codec = Codec(CodecConfig(**tiny)).eval()
    rows = plan_readings(codec, plans=1, n_q=2, seconds=8.0, detail=False, first_seed=3)
    assert set(rows) == {"render", "decoded"}
    assert rows["render"]["of"] == rows["decoded"]["of"] == 1  # seed 3's plan (C# minor) shows its key in 8 s
    assert rows["render"]["kept"] == rows["render"]["of"] and 0 <= rows["decoded"]["kept"] <= rows["decoded"]["of"]
    assert 0.0 <= rows["decoded"]["chord"] <= 1.0
    # every right key not kept is named by its plan's seed, with the key read instead (an untrained codec keeps none)
    assert rows["render"]["lost"] == [] and rows["decoded"]["kept"] == 0
    [(plan, render_key, read)] = rows["decoded"]["lost"]
    assert plan == 3 and render_key == "C# minor" and read != render_key and read.split()[1] in ("major", "minor")


def test_off_notes_are_counted_apart_on_white_and_black_keys():
    from audiogen.eval.pitch_drift import off_notes

    cents = {60: [2.0, -3.0, 1.0], 61: [-98.0, -101.0, -99.0], 64: [10.0, 70.0, 80.0], 66: [60.0, 5.0, 4.0],
             67: [40.0, 60.0, 3.0]}  # fmt: skip
    white, black = off_notes(cents)
    assert white == [64] and black == [61, 66]  # 64: most partials off; 66: the fundamental; 67: one partial only


def test_a_soundfont_note_and_the_chromatic_rows_of_a_magnitude_codec():
    """The held strings note reads on its pitch as rendered; a magnitude codec's chromatic reading has the tone's own
    magnitude row, and the rebuilt phase alone plays that tone within a few cents."""
    from audiogen.codec.model import Codec, CodecConfig
    from audiogen.eval.pitch_drift import INSTRUMENTS, chromatic_readings, soundfont_note

    note = soundfont_note(57, INSTRUMENTS["strings"])
    assert note.shape == (4 * 32000,) and abs(partial_cents(note, 220.0, partials=1)[0]) < 10
    tiny = dict(enc_dim=32, enc_layers=2, latent_dim=16, dec_dim=32, dec_layers=2, up_dim=16, up_layers=1, n_q=4,
                codebook_size=64, codebook_dim=4, head="magnitude", synth_n_fft=2048, head_hidden=24)  # fmt: skip
    rows = chromatic_readings(Codec(CodecConfig(**tiny)).eval(), n_q=2, notes=[57])
    assert set(rows) == {"tone, decoded", "tone, own magnitude", *(f"{n}, {k}" for n in INSTRUMENTS
                                                                    for k in ("rendered", "decoded"))}  # fmt: skip
    assert all(abs(c) < 5 for c in rows["tone, own magnitude"][57])
    assert all(abs(c) < 10 for c in rows["strings, rendered"][57][:1])


def test_the_loud_bin_swaps_of_a_two_band_decoder():
    """The render's own magnitude through the synth is the synth of the render's analysis, and a swap with a
    threshold so wide that every bin is loud gives the render's own band back (the other band decoded)."""
    from audiogen.codec.model import Codec, CodecConfig
    from audiogen.eval import pitch_drift

    tiny = dict(enc_dim=32, enc_layers=2, latent_dim=16, dec_dim=32, dec_layers=2, up_dim=16, up_layers=1, n_q=4,
                codebook_size=64, codebook_dim=4, head="magnitude", synth_n_fft=1024, head_hidden=24,
                bass_n_fft=4096, bass_hz=300.0)  # fmt: skip
    codec = Codec(CodecConfig(**tiny)).eval()
    x = torch.from_numpy(harmonic_tone(45, seconds=2.0))[None]
    assert pitch_drift.loud_bin_rows(codec) == ["own magnitude, phase rebuilt", "the render's loud bins, main band",
                                                "the render's loud bins, bass band"]  # fmt: skip
    with torch.inference_mode():
        codes = codec.encode(x, n_q=2)
        out = pitch_drift.loud_bin_swaps(codec, codes, x)
        synth = codec.decoder.head.synthesiser
        frames = x.shape[1] // synth.hop
        own = synth.analyse(x[:, : frames * synth.hop])
        assert np.allclose(out["own magnitude, phase rebuilt"], synth(own)[0].numpy(), atol=1e-5)
        decoded = codec.decoder.logmag(codec.quantizer.decode_frames(codes).transpose(1, 2))[:, :frames]
        old = pitch_drift.LOUD_DB
        try:
            pitch_drift.LOUD_DB = 1000.0
            main = pitch_drift.loud_bin_swaps(codec, codes, x)["the render's loud bins, main band"]
        finally:
            pitch_drift.LOUD_DB = old
        want = torch.cat([own[..., : synth.n_main], decoded[..., synth.n_main :]], -1)
        assert np.allclose(main, synth(want)[0].numpy(), atol=1e-5)
