"""``audiogen render``: a whole batch renders to checked MP3s (loudness, true peak, length, checksums), a failing
job is recorded while the others finish, re-runs skip finished work and redo broken files, and worker processes
or accelerate-style shards never render an item twice.

Most tests use the fast synthetic stand-in of ``test_render_fakes``; one runs the real facade's tiny
``MusicGenerator.debug`` model through the same ``generator_factory`` argument.
"""

import csv
import functools
import json
import os
import sqlite3
import threading

import pytest
import torch
from test_render_fakes import FakeGenerator, fake_factory

from audiogen.audio import SAMPLE_RATE, load_audio
from audiogen.cli import main as cli_main
from audiogen.generator import MusicGenerator
from audiogen.mastering.measure import integrated_loudness, true_peak_db
from audiogen.render import batch
from audiogen.render.batch import Shard, render_batch
from audiogen.render.jobs import expand, load_jobs
from audiogen.render.ledger import Ledger
from audiogen.render.recover import file_sha256

EMOTIONS = ("happy", "sad", "calm", "tense", "epic", "dreamy", "playful", "dark", "romantic", "energetic")
LOUDNESS = ("streaming", "ebu-r128", "-18", "atsc-a85")
TARGETS = {"streaming": -14.0, "ebu-r128": -23.0, "-18": -18.0, "atsc-a85": -24.0}


def write_jobs(path, count=10, variants=2, extra_rows=()):
    """``count`` briefs of 2–3 s with mixed loudness targets, endings, tempi and keys."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "emotion", "style", "tempo", "key", "duration", "variants", "loudness", "ending"])
        for i in range(count):
            ending = ("fade", "none", "loop")[i % 3]
            w.writerow([f"spot-{i:02d}", f"a {EMOTIONS[i % 10]} ad", EMOTIONS[i % 10], "piano; strings", 90 + 5 * i,
                        "A minor", 2 + (i % 2) * 0.5, variants, LOUDNESS[i % 4], ending])  # fmt: skip
        for row in extra_rows:
            w.writerow(row)
    return path


def ledger_rows(folder):
    with Ledger(folder) as ledger:
        return {row.key: row for row in ledger.rows()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """10 briefs × 2 variants rendered once, shared by the checks below."""
    root = tmp_path_factory.mktemp("batch")
    jobs = write_jobs(root / "jobs.csv")
    summary = render_batch(jobs, root / "out", generator_factory=fake_factory, progress=False)
    return root, summary


def test_batch_renders_every_job_and_variant(rendered):
    root, summary = rendered
    out = root / "out"
    assert (summary.rendered, summary.skipped, summary.failed, summary.pending, summary.total) == (20, 0, 0, 0, 20)
    expected = {item.file for item in expand(load_jobs(root / "jobs.csv"))}
    assert {p.name for p in out.glob("*.mp3")} == expected and len(expected) == 20
    assert not list(out.glob(".*part*"))
    rows = ledger_rows(out)
    for item in expand(load_jobs(root / "jobs.csv")):
        row = rows[item.key]
        audio = load_audio(out / item.file, allow_silent=True)
        assert abs(audio.size / SAMPLE_RATE - item.job.duration) <= 0.05
        assert (row.status, row.attempts, row.seed) == ("done", 1, item.seed)
        assert row.sha256 == file_sha256(out / item.file) and row.size_bytes == (out / item.file).stat().st_size
    assert len({row.sha256 for row in rows.values()}) == 20  # every variant differs
    with sqlite3.connect(out / "ledger.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_loudness_and_true_peak_are_measured_on_the_decoded_mp3(rendered):
    root, _ = rendered
    out = root / "out"
    for job in load_jobs(root / "jobs.csv"):
        target = TARGETS[str(job.loudness) if isinstance(job.loudness, str) else f"{job.loudness:g}"]
        for item in job.items():
            audio = load_audio(out / item.file)
            assert abs(integrated_loudness(audio, SAMPLE_RATE) - target) <= 1.0, item.file
            assert true_peak_db(audio, SAMPLE_RATE) <= -1.0, item.file
            row = ledger_rows(out)[item.key]
            assert abs(row.lufs - integrated_loudness(audio, SAMPLE_RATE)) < 1e-6 and row.warning is None


def test_manifest_and_summary_files(rendered):
    root, summary = rendered
    out = root / "out"
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20 and {r["status"] for r in rows} == {"done"} and rows[0]["file"] == "spot-00-v1.mp3"
    assert (rows[0]["text"], rows[0]["emotion"], rows[0]["style"]) == ("a happy ad", "happy", "piano; strings")
    tracks = json.loads((out / "manifest.json").read_text())["tracks"]
    assert [t["file"] for t in tracks] == [r["file"] for r in rows] and tracks[0]["sha256"] == rows[0]["sha256"]
    data = json.loads((out / "summary.json").read_text())
    assert data["rendered"] == 20 and data["skipped"] == 0 and data["failed"] == 0
    assert data["audio_minutes"] == pytest.approx((10 * 2 + 10 * 2.5) / 60, abs=0.01)
    assert data["wall_s"] > 0 and data["tracks_per_min"] == pytest.approx(20 / (data["wall_s"] / 60), rel=0.01)
    assert summary.lines()[0].startswith("rendered 20, skipped 0 (already done), failed 0")


def test_rerun_skips_verified_tracks_and_redoes_broken_ones(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.csv", count=3, variants=1)
    out = tmp_path / "out"
    render_batch(jobs, out, generator_factory=fake_factory, progress=False)
    first = ledger_rows(out)
    with open(out / "spot-00.mp3", "ab") as f:
        f.write(b"junk")  # checksum no longer matches
    (out / ".spot-01.mp3.abc12_x9.part.mp3").write_bytes(b"half a file")  # a write the crash interrupted
    mine = [out / ".important.partner-list.txt", out / ".notes.abcdefgh.part", out / ".other.mp3.abcdefgh.part.mp3"]
    for path in mine:  # the user's own files, some named like temporaries of files this batch does not write
        path.write_text("keep me")
    with Ledger(out) as ledger:  # spot-01 was being rendered when the process died; its file was never renamed
        ledger.conn.execute("UPDATE items SET status = 'running' WHERE job_id = 'spot-01'")
    (out / "spot-01.mp3").unlink()
    mtime = (out / "spot-02.mp3").stat().st_mtime_ns
    summary = render_batch(jobs, out, generator_factory=fake_factory, progress=False)
    assert (summary.rendered, summary.skipped, summary.failed) == (2, 1, 0)
    assert not (out / ".spot-01.mp3.abc12_x9.part.mp3").exists()
    assert all(path.read_text() == "keep me" for path in mine)  # only our own temporaries are ever deleted
    assert (out / "spot-02.mp3").stat().st_mtime_ns == mtime
    rows = ledger_rows(out)
    assert rows[("spot-00", 1)].sha256 == first[("spot-00", 1)].sha256  # same seed, same audio, same bytes
    assert rows[("spot-00", 1)].attempts == 2 and rows[("spot-02", 1)].attempts == 1


def test_a_crashed_render_whose_file_was_complete_is_adopted(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.csv", count=2, variants=1)
    out = tmp_path / "out"
    render_batch(jobs, out, generator_factory=fake_factory, progress=False)
    with Ledger(out) as ledger:  # crash between the rename and the ledger update
        ledger.conn.execute("UPDATE items SET status = 'running', sha256 = NULL WHERE job_id = 'spot-01'")
    summary = render_batch(jobs, out, generator_factory=fake_factory, progress=False)
    assert (summary.rendered, summary.skipped, summary.recovered) == (0, 2, 1)
    row = ledger_rows(out)[("spot-01", 1)]
    assert row.status == "done" and row.sha256 == file_sha256(out / "spot-01.mp3")


def test_a_failing_job_is_recorded_and_the_others_finish(tmp_path, capsys):
    jobs = write_jobs(tmp_path / "jobs.csv", count=3, extra_rows=[["bad", "explode now", "sad", "", "", "", 2, 2]])
    out = tmp_path / "out"
    factory = functools.partial(fake_factory, fail_on="explode")
    summary = render_batch(jobs, out, generator_factory=factory, progress=False)
    assert (summary.rendered, summary.failed, summary.failed_this_run) == (6, 2, 2)
    rows = ledger_rows(out)
    assert rows[("bad", 1)].status == "failed" and "RuntimeError: the model cannot render" in rows[("bad", 1)].error
    assert not (out / "bad-v1.mp3").exists() and len(list(out.glob("*.mp3"))) == 6
    manifest = json.loads((out / "manifest.json").read_text())["tracks"]
    assert [t["status"] for t in manifest if t["job_id"] == "bad"] == ["failed", "failed"]
    assert "bad variant 1 failed" in capsys.readouterr().err
    again = render_batch(jobs, out, generator_factory=fake_factory, progress=False)  # failures are kept ...
    assert (again.rendered, again.skipped, again.failed) == (0, 6, 2)
    again = render_batch(jobs, out, generator_factory=fake_factory, progress=False, retry_failed=True)  # ... or retried
    assert (again.rendered, again.skipped, again.failed) == (2, 6, 0)
    assert ledger_rows(out)[("bad", 2)].attempts == 2


def test_a_changed_brief_is_rendered_again(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.csv", count=2, variants=1)
    out = tmp_path / "out"
    render_batch(jobs, out, generator_factory=fake_factory, progress=False)
    jobs.write_text(jobs.read_text().replace("a sad ad", "a slower sad ad"))
    summary = render_batch(jobs, out, generator_factory=fake_factory, progress=False)
    assert (summary.rendered, summary.skipped) == (1, 1)


def test_concurrent_claims_never_hand_out_an_item_twice(tmp_path):
    items = expand(load_jobs(write_jobs(tmp_path / "jobs.csv", count=10, variants=8)))
    with Ledger(tmp_path) as ledger:
        ledger.sync([(item, item.params("m"), "new", None) for item in items])
    claimed: list[tuple[str, int]] = []

    def claim_all(name):
        with Ledger(tmp_path) as ledger:
            while (key := ledger.claim(name)) is not None:
                claimed.append(key)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(item.key for item in items) and len(claimed) == 80


class _Recording(FakeGenerator):
    def __init__(self, log):
        super().__init__()
        self.log = log

    def generate(self, **kwargs):
        self.log.append(kwargs["seed"])
        return super().generate(**kwargs)


def test_accelerate_style_shards_render_their_own_items_once(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.csv", count=5, variants=1)
    items = expand(load_jobs(jobs))
    barrier = threading.Barrier(2, timeout=120)
    logs: dict[int, list[int]] = {0: [], 1: []}
    results = {}

    def rank(r):
        shard = Shard(rank=r, world=2, barrier=barrier.wait)
        factory = functools.partial(_Recording, logs[r])
        results[r] = render_batch(jobs, tmp_path / "out", generator_factory=factory, progress=False, shard=shard)

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert logs[0] == [items[i].seed for i in (0, 2, 4)] and logs[1] == [items[i].seed for i in (1, 3)]
    assert results[1] is None and (results[0].rendered, results[0].processes) == (5, 2)


def test_worker_processes_share_the_queue(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.csv", count=4, variants=2)
    summary = render_batch(jobs, tmp_path / "out", generator_factory=fake_factory, workers=2, progress=False)
    assert (summary.rendered, summary.failed, summary.processes) == (8, 0, 2)
    rows = ledger_rows(tmp_path / "out")
    assert all(row.attempts == 1 and row.status == "done" for row in rows.values())


def test_cli_reports_bad_jobs_files_and_renders_good_ones(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,emotion,duration,loudness\na,hapy,3,streaming\nb,sad,3,loudest\n")
    assert cli_main(["render", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert (
        "2 problems" in err
        and "line 2 (job 'a'), field 'emotion'" in err
        and "line 3 (job 'b'), field 'loudness'" in err
    )
    assert not (tmp_path / "o").exists()
    good = write_jobs(tmp_path / "good.csv", count=2, variants=1)
    assert cli_main(["render", str(good), "--out", str(tmp_path / "o"), "--check"]) == 0
    assert "2 jobs, 2 tracks" in capsys.readouterr().out
    monkeypatch.setattr(batch, "load_generator", lambda model=None: FakeGenerator())
    assert cli_main(["render", str(good), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "rendered 2, skipped 0" in out and "tracks/min" in out
    assert cli_main(["render", str(good), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2


def test_the_real_debug_model_renders_through_the_batch(tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"id": "a", "text": "calm piano", "emotion": "calm", "style": "piano", "tempo": 90, "key": "A minor", '
        '"duration": 2, "variants": 2}\n'
        '{"id": "b", "text": "epic brass", "valence": 0.3, "arousal": 0.8, "duration": 2.5, "loudness": "ebu-r128", '
        '"ending": "loop"}\n'
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: more threads only contend
    try:
        summary = render_batch(jobs, tmp_path / "out", generator_factory=MusicGenerator.debug, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert (summary.rendered, summary.failed) == (3, 0)
    for item in expand(load_jobs(jobs)):
        audio = load_audio(tmp_path / "out" / item.file, allow_silent=True)
        assert abs(audio.size / SAMPLE_RATE - item.job.duration) <= 0.05
        assert true_peak_db(audio, SAMPLE_RATE) <= -1.0


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.csv", count=1, variants=1)
    (tmp_path / "out").mkdir()
    held = batch._lock(tmp_path / "out")
    try:
        with pytest.raises(batch.RenderError, match="in use by another 'audiogen render' run"):
            render_batch(jobs, tmp_path / "out", generator_factory=fake_factory, progress=False)
    finally:
        os.close(held)
    assert render_batch(jobs, tmp_path / "out", generator_factory=fake_factory, progress=False).rendered == 1


def test_manifest_csv_cells_never_start_a_spreadsheet_formula(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.csv", count=1, variants=1,
                      extra_rows=[["evil", '=HYPERLINK("http://x","click")', "happy", "piano", 100, "C", 2, 1,
                                   "streaming", "fade"]])  # fmt: skip
    out = tmp_path / "out"
    render_batch(jobs, out, generator_factory=fake_factory, progress=False)
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = {r["job_id"]: r for r in csv.DictReader(f)}
    assert rows["evil"]["text"] == "'=HYPERLINK(\"http://x\",\"click\")"
    assert float(rows["evil"]["lufs"]) < 0  # a negative number is a number, not a formula
    manifest = json.loads((out / "manifest.json").read_text())
    assert any(t["text"].startswith("=HYPERLINK") for t in manifest["tracks"])  # JSON keeps the text as given
