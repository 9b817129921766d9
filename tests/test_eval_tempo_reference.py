"""The tempo reading's ceiling on music of known tempo: band statistics and the command."""

import numpy as np
import soundfile as sf

from audiogen.data.manifest import Record, write_manifest
from audiogen.eval.tempo_reference import SECTION, band_rows, main


def test_band_rows_count_hits_and_octave_errors():
    pairs = [(60.0, 120.5), (60.0, 61.0), (100.0, 101.0), (100.0, 130.0), (176.0, 88.0)]
    rows = {r[0]: r[1:] for r in band_rows(pairs)}
    assert rows["below 85 BPM"] == ["2", "0.50", "0.50", "0.50", "0.00"]
    assert rows["85–135 BPM"] == ["2", "0.50", "0.50", "0.00", "0.00"]
    assert rows["above 135 BPM"] == ["1", "0.00", "0.00", "0.00", "1.00"]
    assert rows["all"][:3] == ["5", "0.40", "0.40"]


def test_command_reads_click_tracks_and_writes_its_section(tmp_path):
    sr, records = 22050, []
    for i, tempo in enumerate((100.0, 128.0)):
        y = np.zeros(int(8 * sr), dtype=np.float32)
        for t in np.arange(0.2, 7.9, 60.0 / tempo):
            y[int(t * sr) : int(t * sr) + 300] = np.hanning(300).astype(np.float32)
        sf.write(tmp_path / f"c{i}.wav", y, sr)
        rec = Record(path=f"c{i}.wav", duration=8.0, sample_rate=sr, source="t", licence="CC0", split="valid")
        rec.tempo = tempo
        records.append(rec)
    write_manifest(tmp_path / "m.jsonl", records)
    out = tmp_path / "B.md"
    assert main(["--manifest", str(tmp_path / "m.jsonl"), "--seconds", "8", "--out", str(out)]) == 0
    text = out.read_text()
    assert SECTION in text and "| all | 2 | 1.00 | 1.00 | 0.00 | 0.00 |" in text
