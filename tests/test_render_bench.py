"""The batch-rendering benchmark script: its jobs file is valid, and it appends its table under its own heading."""

from test_render_fakes import fake_factory

from audiogen.eval import bench_render
from audiogen.render.jobs import expand, load_jobs


def test_bench_jobs_render_and_the_table_lands_in_its_section(tmp_path):
    jobs = bench_render.write_jobs(tmp_path / "jobs.csv", jobs=9, variants=2, duration=2.0)
    items = expand(load_jobs(jobs))
    assert len(items) == 18 and len({item.seed for item in items}) == 18
    small = bench_render.write_jobs(tmp_path / "small.csv", jobs=2, variants=1, duration=2.0)
    results = bench_render.bench(small, tmp_path, [1], generator_factory=fake_factory)
    rows = bench_render.table(results)
    assert rows[2].startswith("| 1 | 2 | 0 | ")
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Batch rendering\n\nold entry\n\n## Data loading\n\nother\n")
    bench_render.append_section(md, ["new entry", *rows])
    text = md.read_text()
    assert text.index("old entry") < text.index("new entry") < text.index("## Data loading")
    assert text.count("## Batch rendering") == 1 and text.endswith("other\n")
