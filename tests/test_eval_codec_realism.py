from types import SimpleNamespace

import numpy as np
import pytest

from audiogen.eval import codec_realism as CR


def test_codec_specs_name_a_folder_and_a_number_of_codebooks():
    assert CR.parse_codec("runs/codec:6") == ("runs/codec", 6)
    assert CR.parse_codec("C:/models/codec:4") == ("C:/models/codec", 4)  # the last colon splits
    for bad in ("runs/codec", "runs/codec:", "runs/codec:0", ":4", "runs/codec:x"):
        with pytest.raises(ValueError, match="DIR:K"):
            CR.parse_codec(bad)
    with pytest.raises(SystemExit):
        CR.main(["--codec", "runs/codec"])  # refused before anything is loaded


def test_renders_go_through_each_codec_at_its_codebooks_and_are_read_back():
    import torch

    from audiogen.codec.model import Codec, CodecConfig
    from audiogen.compose.planner import compose_plan
    from tests.test_codec import TINY

    torch.manual_seed(0)
    codec = Codec(CodecConfig(**TINY)).eval()
    plan = compose_plan("a calm piano piece", duration=4.0, seed=1, use_minilm=False)
    req = SimpleNamespace(id="p-a")
    calls = []

    class Counting:  # the tiny codec, counting the codebooks it is asked for
        n_q = codec.n_q

        def encode(self, audio, n_q):
            calls.append(n_q)
            return codec.encode(audio, n_q=n_q)

        def decode(self, codes):
            return codec.decode(codes)

    codecs = {"one": (Counting(), 1), "many": (Counting(), 99)}
    records = CR.render_records([(req, 0, plan)], codecs, log=lambda m: None)
    assert [r["system"] for r in records] == ["render", "one", "many"]
    assert calls == [1, codec.n_q]  # capped at the codec's own
    for r in records:
        assert r["audio"].shape == records[0]["audio"].shape and np.isfinite(r["audio"]).all()
        assert 0.0 <= r["chord"] <= 1.0 and r["plan"] is plan
    summary = CR.bp.summarise(records, ["render", "one", "many"])
    table = CR.rows(["render", "one", "many"], summary, None)
    assert [row[0] for row in table] == ["render", "one", "many"] and all(len(row) == len(CR.COLUMNS) for row in table)
    assert table[0][5] == "–"  # no judge: no pairs, distance or probe
