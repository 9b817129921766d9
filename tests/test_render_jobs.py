"""The jobs file of ``audiogen render``: formats, defaults, and a clear error (line + field + what is allowed) for
every malformed case, all reported at once."""

import json
from pathlib import Path

import numpy as np
import pytest

from audiogen.audio import save_audio
from audiogen.render.jobs import CHECKS, FIELDS, Job, default_seed, expand, load_jobs, variant_seed
from audiogen.render.names import check_output_name, inside, name_from_id
from audiogen.render.readers import JobsFileError

HEADER = "id,text,emotion,style,duration,variants,loudness,output\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path) -> list[str]:
    with pytest.raises(JobsFileError) as info:
        load_jobs(path)
    message = str(info.value)
    assert "nothing was rendered" in message
    assert all(str(issue) in message for issue in info.value.issues)
    return [str(issue) for issue in info.value.issues]


def test_csv_jobs_parse_with_canonical_values_and_defaults(tmp_path):
    path = write(
        tmp_path,
        "jobs.csv",
        HEADER + 'a,"hopeful, bright",Happy,piano; Violin,3,2,EBU-R128,\nb,rainy,,,2.5,,-18,b final.mp3\n',
    )
    a, b = load_jobs(path)
    assert (a.id, a.text, a.emotion, a.style, a.duration, a.variants) == ("a", "hopeful, bright", "happy",
                                                                           ("piano", "strings"), 3.0, 2)  # fmt: skip
    assert (a.loudness, a.ending, a.bitrate, a.output, a.line) == ("ebu-r128", "fade", 192, "a", 2)
    assert a.seed == default_seed("a") and b.loudness == -18.0 and b.output == "b final" and b.variants == 1
    assert [item.file for item in expand([a, b])] == ["a-v1.mp3", "a-v2.mp3", "b final.mp3"]
    assert a.mastering().target_lufs == -23.0 and a.mastering().duration == 3.0


def test_jsonl_and_yaml_give_the_same_jobs_as_csv(tmp_path):
    csv_path = write(tmp_path, "j.csv", "id,emotion,tempo,key,duration,seed,style\nx,calm,90,bb major,4,7,lofi;piano\n")
    record = {"id": "x", "emotion": "calm", "tempo": 90, "key": "Bb major", "duration": 4, "seed": 7,
              "style": ["lofi", "piano"]}  # fmt: skip
    jsonl_path = write(tmp_path, "j.jsonl", json.dumps(record) + "\n")
    yaml_path = write(tmp_path, "j.yaml", "jobs:\n  - id: x\n    emotion: calm\n    tempo: 90\n    key: Bb major\n"
                                         "    duration: 4\n    seed: 7\n    style: [lofi, piano]\n")  # fmt: skip
    json_path = write(tmp_path, "j.json", json.dumps({"jobs": [record]}))
    jobs = [load_jobs(p)[0] for p in (csv_path, jsonl_path, yaml_path, json_path)]
    assert jobs[0].key == "A# major" and jobs[0].style == ("lo-fi", "piano") and jobs[0].tempo == 90.0
    assert [j.line for j in jobs] == [2, 1, 2, None]
    strip = [{**vars(j), "line": None, "record": None} for j in jobs]
    assert strip[0] == strip[1] == strip[2] == strip[3]


def test_valence_arousal_and_reference_relative_to_the_jobs_file(tmp_path):
    (tmp_path / "refs").mkdir()
    save_audio(tmp_path / "refs" / "clip.wav", np.full(3200, 0.1, np.float32))
    path = write(tmp_path, "j.jsonl", '{"id": "v", "valence": 0.5, "arousal": -0.2, "reference": "refs/clip.wav", '
                                      '"duration": 2}\n')  # fmt: skip
    (job,) = load_jobs(path)
    assert (job.valence, job.arousal, job.emotion) == (0.5, -0.2, None)
    assert job.reference == (tmp_path / "refs" / "clip.wav").resolve()
    kwargs = job.items()[0].generate_kwargs()
    assert kwargs["reference"] == str(job.reference) and kwargs["valence"] == 0.5 and kwargs["style"] is None


def test_variant_seeds_are_deterministic_distinct_and_the_first_is_the_job_seed():
    seeds = [variant_seed(42, v) for v in range(1, 50)]
    assert seeds[0] == 42 and len(set(seeds)) == 49
    assert seeds == [variant_seed(42, v) for v in range(1, 50)]
    assert all(0 <= s < 2**31 for s in seeds)
    assert default_seed("spot") == default_seed("spot") != default_seed("spot2")


def test_missing_column_is_reported_once_at_the_header(tmp_path):
    path = write(tmp_path, "j.csv", "id,text,emotion\na,x,happy\nb,y,sad\n")
    assert problems(path) == ["line 1, field 'duration': missing column; the header must name id and duration"]


def test_every_malformed_field_is_reported_at_once_with_line_and_field(tmp_path):
    path = write(
        tmp_path,
        "j.csv",
        HEADER
        + "ok,fine,happy,piano,3,1,streaming,\n"
        + "bad1,x,hapy,piano,-2,1,streaming,\n"
        + "bad2,x,sad,pianoo,3,1,loudest,../../etc/evil\n",
    )
    found = problems(path)
    assert len(found) == 5
    assert found[0].startswith("line 3 (job 'bad1'), field 'emotion': unknown emotion 'hapy'. Did you mean 'happy'?")
    assert "Valid emotions:" in found[0]
    assert found[1].startswith("line 3 (job 'bad1'), field 'duration':") and "[1, 600]" in found[1]
    assert found[2].startswith("line 4 (job 'bad2'), field 'style': unknown style tag 'pianoo'")
    assert found[3].startswith("line 4 (job 'bad2'), field 'loudness': loudness must be one of the presets")
    assert found[4].startswith("line 4 (job 'bad2'), field 'output': output name '../../etc/evil' is not allowed")


@pytest.mark.parametrize(
    ("row", "field", "expected"),
    [
        ("a,x,happy,,3,1,loud,", "loudness", "'streaming' (-14 LUFS), 'ebu-r128' (-23 LUFS), 'atsc-a85' (-24 LUFS)"),
        ("a,x,happy,,-3,1,,", "duration", "duration must lie in [1, 600] seconds, got -3"),
        ("a,x,happy,,3,1,,../evil", "output", "it is a path, not a file name"),
        ("a,x,happy,,3,1,,/etc/passwd", "output", "it is a path"),
        ("a,x,happy,,3,1,,..", "output", "it contains '..'"),
        ("a,x,happy,,3,1,,a\x01b", "output", "control character"),
        ("a,x,happy,,3,1,,.hidden", "output", "starts with '.'"),
        ("a,x,happy,,3,1,,con", "output", "reserved device name"),
        ("a,x,happy,,3,0,,", "variants", "allowed: a whole number in [1, 100]"),
        ("a,x,,,3,1,,", None, None),  # text alone is enough
        (",x,happy,,3,1,,", "id", "empty; every job needs id and duration"),
        ("a,,,,3,1,,", None, "nothing to render from"),
    ],
)
def test_single_field_errors(tmp_path, row, field, expected):
    path = write(tmp_path, "j.csv", HEADER + row + "\n")
    if field is None and expected is None:
        assert len(load_jobs(path)) == 1
        return
    (found,) = problems(path)
    prefix = "line 2" + (" (job 'a')" if row.startswith("a,") else "")
    assert found.startswith(prefix + (f", field '{field}': " if field else ": ")), found
    assert expected in found


def test_duplicate_output_names_and_ids(tmp_path):
    rows = "a,x,happy,,3,2,,\nb,x,happy,,3,1,,A-v2\nc,x,happy,,3,1,,\nc,x,sad,,3,1,,c2\n"
    found = problems(write(tmp_path, "j.csv", HEADER + rows))
    assert found == [
        "line 3 (job 'b'), field 'output': file name 'A-v2.mp3' is also produced by job 'a' (line 2); "
        "output names must be unique (case is ignored)",
        "line 5 (job 'c'), field 'id': id 'c' is already used (line 4); ids must be unique",
    ]


def test_json_and_yaml_errors_name_the_line_and_field(tmp_path):
    jsonl = write(tmp_path, "j.jsonl", '{"id": "a", "text": "x", "duration": 2}\n\n{"id": "b", "text": "x", '
                                       '"duration": 2, "emotoin": "sad"}\nnot json\n')  # fmt: skip
    found = problems(jsonl)
    assert found[0].startswith("line 3 (job 'b'), field 'emotoin': unknown field. Did you mean 'emotion'?")
    assert found[1].startswith("line 4: not valid JSON")
    yaml_path = write(tmp_path, "j.yaml", "- id: a\n  text: x\n  duration: 2\n- id: b\n  text: x\n  duration: 2\n"
                                          "  valence: 0.4\n  ending: bounce\n")  # fmt: skip
    found = problems(yaml_path)
    assert "line 8 (job 'b'), field 'ending': unknown ending 'bounce'; allowed: fade, none, loop" in found
    assert "line 4 (job 'b'), field 'arousal': give both valence and arousal (each in [-1, 1]), or neither" in found


def test_unreadable_files_and_missing_reference(tmp_path):
    with pytest.raises(JobsFileError, match=r"unknown jobs file type '\.txt'"):
        load_jobs(write(tmp_path, "j.txt", "id\n"))
    with pytest.raises(JobsFileError, match="holds no jobs"):
        load_jobs(write(tmp_path, "j.csv", "id,duration\n"))
    with pytest.raises(FileNotFoundError):
        load_jobs(tmp_path / "absent.csv")
    found = problems(write(tmp_path, "r.csv", "id,reference,duration\na,nope.wav,2\n"))
    assert found[0].startswith("line 2 (job 'a'), field 'reference': no such clip:")


def test_output_names_cannot_escape_the_folder(tmp_path):
    assert check_output_name("Spot 1 (final).mp3") == "Spot 1 (final)"
    assert name_from_id("brand/spot:1") == "brand-spot-1"
    assert name_from_id("../../x") == "x"
    for bad in ("a/b", "a\\b", "..", "../x", "/abs", "C:evil", "x\ny", "", "a|b", "name."):
        with pytest.raises(ValueError, match="allowed: a plain file name"):
            check_output_name(bad)
    assert inside(tmp_path, "ok.mp3") == (tmp_path / "ok.mp3").resolve()
    with pytest.raises(ValueError, match="outside"):
        inside(tmp_path, "../x.mp3")


def test_job_is_frozen_and_items_carry_the_mastering_spec():
    assert set(CHECKS) == set(FIELDS)  # every documented field has a check
    job = Job(id="a", duration=2.0, text="x", loudness=-20.0, ending="loop", seed=5, output="a")
    (item,) = job.items()
    kwargs = item.generate_kwargs()
    assert kwargs["seed"] == 5 and kwargs["mastering"].target_lufs == -20.0 and kwargs["mastering"].ending == "loop"
    assert item.params("m1") != item.params("m2")
    with pytest.raises(AttributeError):
        job.id = "b"


def test_a_yaml_alias_bomb_is_refused_in_a_few_bytes_of_message(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    ) + "jobs:\n  - id: j\n    text: *i\n    duration: 2\n"
    found = problems(write(tmp_path, "bomb.yaml", bomb))
    assert len(found) == 1 and "anchors and aliases" in found[0] and found[0].startswith("line 1")
    assert sum(len(f) for f in found) < 300


def test_an_unterminated_csv_quote_does_not_swallow_the_rows_after_it(tmp_path):
    text = HEADER + 'a,"calm sea,calm,piano,10,1,streaming,a\nb,storm,tense,strings,10,1,streaming,b\n' \
        'c,wind,calm,piano,10,1,streaming,c\n'
    found = problems(write(tmp_path, "q.csv", text))
    assert any("unterminated quote" in f and f.startswith("line 2") for f in found)


def test_bad_values_are_quoted_as_bounded_excerpts(tmp_path):
    huge = "9" * 100 + "x" * 100_000
    found = problems(write(tmp_path, "h.csv", HEADER + f"a,t,{huge},piano,{huge},1,streaming,a\n"))
    assert found and all(len(f) < 500 for f in found)


@pytest.mark.parametrize("name,text", [
    ("f.csv", HEADER + "a,calm sea,calm,piano,10,1,streaming,a\nb,\"storm, at sea\",tense,strings,12,2,-16,b\n"),
    ("f.jsonl", '{"id": "a", "text": "calm", "duration": 3}\n'
                '{"id": "b", "text": "x", "emotion": "sad", "duration": 4}\n'),
    ("f.yaml", "jobs:\n  - id: a\n    text: calm\n    duration: 3\n  - id: b\n    style: [piano, strings]\n"
               "    duration: 4\n"),
])  # fmt: skip
def test_fuzzed_jobs_files_end_in_jobs_or_a_clear_error(tmp_path, name, text):
    """A seeded corpus of mutated jobs files: each one loads or is refused with a JobsFileError, quickly."""
    import time

    rng = np.random.default_rng(11)
    alphabet = [*',;"\'\n:-[]{}&*#\\ \t', "\u00e9", "\U0001f3b5", "\x00", "=", "9" * 50]
    t0 = time.perf_counter()
    for i in range(150):
        chars = list(text)
        for _ in range(int(rng.integers(1, 8))):
            pos = int(rng.integers(0, len(chars)))
            op = rng.integers(0, 3)
            if op == 0:
                chars[pos] = str(rng.choice(alphabet))
            elif op == 1:
                del chars[pos : pos + int(rng.integers(1, 12))]
            else:
                chars.insert(pos, str(rng.choice(alphabet)) * int(rng.integers(1, 30)))
        path = tmp_path / f"{i}{Path(name).suffix}"
        path.write_text("".join(chars), encoding="utf-8")
        try:
            jobs = load_jobs(path)
            assert all(isinstance(j, Job) for j in jobs)
        except JobsFileError as err:
            assert len(str(err)) < 20_000
    assert time.perf_counter() - t0 < 60


def test_deeply_nested_json_is_a_clear_error(tmp_path):
    deep = '[{"id": "a", "text": ' + "[" * 100_000 + "]" * 100_000 + ', "duration": 2}]'
    found = problems(write(tmp_path, "deep.json", deep))
    assert "nested too deeply" in found[0]
    found = problems(write(tmp_path, "deep.jsonl", '{"id": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"))
    assert "nested too deeply" in found[0]


def test_name_limits_count_bytes_not_characters(tmp_path):
    emoji = "\U0001f3b5" * 100  # 100 characters, 400 bytes
    assert len(name_from_id(emoji).encode()) <= 200
    with pytest.raises(ValueError, match="bytes long in UTF-8"):
        check_output_name(emoji)
    found = problems(write(tmp_path, "e.csv", HEADER + f"a,t,happy,piano,2,1,streaming,{emoji}\n"))
    assert any("bytes long" in f for f in found)
