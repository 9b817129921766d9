"""Batch rendering: a jobs file of briefs in, deliverable MP3s out.

``audiogen render JOBS --out DIR [--model DIR] [--workers N] [--retry-failed] [--no-progress]`` checks the whole jobs
file (:mod:`audiogen.render.jobs`), then renders every job × variant through the generator, keeps a crash-safe
ledger (:mod:`audiogen.render.ledger`), a manifest and a summary in DIR (:mod:`audiogen.render.report`), and resumes
where it stopped when run again (:mod:`audiogen.render.recover`). :func:`render_batch` is the same from Python.
"""

from audiogen.render.cli import register

_LAZY = {
    "render_batch": "batch",
    "RenderError": "batch",
    "Shard": "batch",
    "load_jobs": "jobs",
    "expand": "jobs",
    "Job": "jobs",
    "Item": "jobs",
    "JobsFileError": "readers",
    "Summary": "report",
}

__all__ = ["register", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"audiogen.render.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'audiogen.render' has no attribute {name!r}")
