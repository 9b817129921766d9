"""Rendering a whole jobs file: every job × variant to a checked MP3, with a ledger, a manifest and a summary.

::

    jobs file ─► load_jobs (all problems at once) ─► items (job × variant, seeds)
             ─► [process 0] lock DIR, remove temporaries, sync ledger (skip verified files, redo broken ones)
             ─► workers: claim an item ─► generate ─► save (temp + rename) ─► decode, measure, SHA-256 ─► done
             ─► [process 0] manifest.csv/json, summary.json

Work is spread over ``workers`` processes on one machine (each loads the model once and claims items from the
ledger), or over the processes of ``accelerate launch`` (each renders the items whose batch index ≡ its rank).

    from audiogen.render import render_batch
    summary = render_batch("briefs.csv", "out/", workers=2)
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import multiprocessing as mp
import os
import socket
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from audiogen.fileio import is_write_failure
from audiogen.render.jobs import Item, expand, load_jobs
from audiogen.render.ledger import Ledger
from audiogen.render.names import inside
from audiogen.render.originality import ledger_record, with_default
from audiogen.render.recover import inspect_file, sync
from audiogen.render.report import FILE_MODE, Summary, summarize, write_manifest, write_summary

GeneratorFactory = Callable[[], Any]
LOCK_NAME = "render.lock"
WRITE_FAILURE = "write failure: "  # how a worker process reports an output it could not write (one line)


class RenderError(RuntimeError):
    """The batch cannot run (output folder busy, no worker could load the model)."""


def load_generator(model: str | None = None) -> Any:
    """The default generator factory: ``MusicGenerator.from_pretrained(model)`` (None: the shipped model)."""
    try:
        from audiogen.generator import MusicGenerator
    except ModuleNotFoundError as err:
        if err.name != "audiogen.generator":
            raise
        raise FileNotFoundError("this build of audiogen has no generation facade (audiogen.generator)") from None
    return MusicGenerator.from_pretrained(model)


@dataclass(frozen=True)
class Shard:
    """Which part of the batch this process renders: items whose batch index ≡ ``rank`` (mod ``world``), and a
    ``barrier`` that waits for every process (a no-op for one process)."""

    rank: int = 0
    world: int = 1
    barrier: Callable[[], None] = lambda: None

    @classmethod
    def from_accelerate(cls) -> Shard:
        """Rank and world size from ``accelerate``'s :class:`PartialState` (one shard when not launched).

        Without a GPU (or with ``accelerate launch --cpu``) the processes meet over gloo (``MULTI_CPU``).
        """
        import torch
        from accelerate import PartialState

        forced_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
        state = PartialState(cpu=forced_cpu or not torch.cuda.is_available())
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if state.num_processes != launched:
            raise RenderError(f"accelerate set up {state.num_processes} process(es) but {launched} were launched")
        if state.device.type == "cuda":
            torch.cuda.set_device(state.device)  # the generator's "cuda" is this process's GPU
        return cls(state.process_index, state.num_processes, state.wait_for_everyone)


@dataclass(frozen=True)
class WorkerSpec:
    """What one rendering process needs (picklable, for worker processes)."""

    folder: Path
    items: dict[tuple[str, int], Item]
    factory: GeneratorFactory
    rank: int = 0
    world: int = 1
    threads: int | None = None


def render_item(generator: Any, item: Item, folder: Path) -> dict[str, Any]:
    """Generate one track, write it (atomically) and measure the written file (see :func:`inspect_file`); the
    result's ``originality`` is the track's originality check (:func:`~audiogen.render.originality.ledger_record`)."""
    path = inside(folder, item.file)
    track = generator.generate(**item.generate_kwargs())
    track.save(path, bitrate=item.job.bitrate)
    os.chmod(path, FILE_MODE)  # save_audio's temporary file is private; a deliverable is readable like any file
    result = inspect_file(path, item.job.duration, item.job.mastering().target_lufs)
    return dict(result, originality=ledger_record(track))


def _log(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def _render_claimed(generator: Any, item: Item, folder: Path, ledger: Ledger) -> bool:
    """Render a claimed item and record the outcome; a failure is recorded, never raised, except one that would fail
    every job alike (a full disk, a read-only or unwritable folder: :func:`audiogen.fileio.is_write_failure`),
    which puts the item back in the queue and stops the batch. True if done."""
    start = time.perf_counter()
    try:
        result = render_item(generator, item, folder)
    except Exception as err:  # one failing job must not stop the batch
        (Path(folder) / item.file).unlink(missing_ok=True)
        if is_write_failure(err):
            with contextlib.suppress(sqlite3.Error):  # the ledger may not be writable either; a re-run redoes it
                ledger.release(item.key)
            raise
        message = f"{type(err).__name__}: {err}"
        ledger.mark_failed(item.key, message, time.perf_counter() - start)
        _log(f"audiogen render: {item.job.id} variant {item.variant} failed: {message}")
        return False
    ledger.mark_done(item.key, result, time.perf_counter() - start)
    return True


def work(spec: WorkerSpec, on_item: Callable[[Ledger], None] | None = None) -> int:
    """Load the generator once, then claim and render items of the shard until none is queued.

    Returns:
        how many items this process handled (done or failed).
    """
    generator = spec.factory()
    if spec.threads and "torch" in sys.modules:  # a generator without torch has no threads to limit
        sys.modules["torch"].set_num_threads(spec.threads)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    handled = 0
    with Ledger(spec.folder) as ledger:
        while (key := ledger.claim(worker, spec.rank, spec.world)) is not None:
            _render_claimed(generator, spec.items[key], spec.folder, ledger)
            handled += 1
            write_manifest(ledger, spec.folder)
            if on_item is not None:
                on_item(ledger)
    return handled


def _worker_main(spec: WorkerSpec, errors: Any) -> None:
    try:
        work(spec)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except BaseException as err:
        if is_write_failure(err):
            errors.put(f"{WRITE_FAILURE}{err}")  # one line: every worker stops on it alike
        else:
            errors.put(traceback.format_exc()[-8000:])  # small: the parent reads it only after join
        raise SystemExit(1) from None


class _Progress:
    """A tqdm bar (with ETA) over the tracks queued at the start, fed from the ledger's counts."""

    def __init__(self, ledger: Ledger, total: int, enabled: bool):
        from tqdm import tqdm

        counts = ledger.counts()
        self.base = counts["done"] + counts["failed"]
        self.bar = tqdm(total=total, disable=not enabled, unit="track", desc="rendering", file=sys.stderr)

    def __call__(self, ledger: Ledger) -> None:
        counts = ledger.counts()
        finished = counts["done"] + counts["failed"] - self.base
        if finished > self.bar.n:
            self.bar.update(finished - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _run_processes(spec: WorkerSpec, workers: int, progress: _Progress, ledger: Ledger) -> None:
    """Render with ``workers`` spawned processes that share the ledger's queue; the parent shows progress."""
    ctx = mp.get_context("spawn")  # no fork: torch's threads do not survive it
    errors = ctx.SimpleQueue()
    threads = max(1, (os.cpu_count() or 1) // workers)
    procs = [ctx.Process(target=_worker_main, args=(replace(spec, threads=threads), errors)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    try:
        while any(proc.is_alive() for proc in procs):
            time.sleep(0.25)
            progress(ledger)
    finally:
        for proc in procs:
            proc.join()
    crashed = [proc for proc in procs if proc.exitcode != 0]
    for proc in crashed:
        error = f"the worker process died (exit code {proc.exitcode}) while rendering this track"
        ledger.fail_running(f"{socket.gethostname()}:{proc.pid}", error)
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    progress(ledger)
    stopped = [m[len(WRITE_FAILURE) :] for m in messages if m.startswith(WRITE_FAILURE)]
    if stopped:
        raise RenderError(f"{stopped[0]}; the batch stopped (make room or fix the folder, then run the same command "
                          "again: it resumes)")  # fmt: skip
    for message in messages:
        _log(f"audiogen render: a worker process stopped:\n{message}")
    if len(crashed) == len(procs) and messages:
        last = messages[0].strip().splitlines()[-1]
        raise RenderError(f"no worker process could render (traceback above); the first one failed with: {last}")


def _lock(folder: Path) -> int:
    """Hold an exclusive lock on the output folder for this run (released when the process ends, even killed)."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RenderError(
            f"{folder} is in use by another 'audiogen render' run; wait for it or use another --out"
        ) from None
    return fd


def _prepare(folder: Path, items: list[Item], model_id: str, retry_failed: bool) -> tuple[set, int]:
    """Process 0, before any rendering: bring the ledger up to date. Returns (queued keys, recovered count)."""
    (folder / "summary.json").unlink(missing_ok=True)  # it will describe this run once it has finished
    with Ledger(folder) as ledger:
        report = sync(ledger, items, folder, model_id, retry_failed)
        write_manifest(ledger, folder)
    if report.temporaries_removed:
        _log(f"audiogen render: removed {report.temporaries_removed} temporary file(s) of an interrupted run")
    return set(report.pending), len(report.adopted)


def render_batch(
    jobs_file: str | Path,
    out: str | Path,
    *,
    model: str | None = None,
    workers: int = 1,
    retry_failed: bool = False,
    progress: bool = True,
    generator_factory: GeneratorFactory | None = None,
    model_id: str | None = None,
    shard: Shard | None = None,
    originality: str | None = None,
) -> Summary | None:
    """Render every job × variant of ``jobs_file`` into ``out`` (see the module docstring).

    Args:
        jobs_file: CSV, JSON lines or YAML (see :mod:`audiogen.render.jobs`); checked completely first.
        out: the output folder (created): MP3s, ``ledger.sqlite``, ``manifest.csv/json``, ``summary.json``.
        model: model folder for the default generator (None: the shipped model).
        workers: processes on this machine, each loading the generator once (ignored under ``shard.world > 1``).
        retry_failed: render tracks that failed in an earlier run again.
        progress: show a progress bar with ETA on stderr.
        generator_factory: a picklable callable returning an object with ``generate(...) -> Track``
            (default: :func:`load_generator` with ``model``); e.g. ``MusicGenerator.debug`` for tests.
        model_id: names the model in the ledger: a changed model re-renders finished tracks (default: the model
            folder, or "default").
        shard: this process's part of an ``accelerate launch`` run (default: the whole batch).
        originality: the originality mode (``check``, ``strict``, ``off``) of the jobs that give none (None: the
            generator's default); the manifest's ``originality`` column and the summary's ``flagged`` show the checks.

    Returns:
        the :class:`Summary` (also written to ``out/summary.json``) in process 0; None in the other processes.

    Raises:
        JobsFileError: the jobs file has problems (all listed); nothing is rendered.
        RenderError: the folder is used by another run, or no worker process could start.
    """
    start = time.perf_counter()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    items = expand(with_default(load_jobs(jobs_file), originality))
    shard = shard or Shard()
    factory = generator_factory or functools.partial(load_generator, model)
    model_id = model_id or (str(Path(model).resolve()) if model else "default")
    folder = Path(out).resolve()
    lock, pending, recovered = None, set(), 0
    if shard.rank == 0:
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--out {folder}: is a file, not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            from audiogen.fileio import path_problem

            why = path_problem(folder) if isinstance(err, NotADirectoryError) else None  # "/x/f.txt is a file, ..."
            raise ValueError(f"--out {folder}: cannot create the output folder ({why or err.strerror})") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"--out {folder}: the output folder is not writable; nothing was rendered")
        lock = _lock(folder)
    try:
        if shard.rank == 0:
            pending, recovered = _prepare(folder, items, model_id, retry_failed)
        shard.barrier()
        spec = WorkerSpec(folder, {item.key: item for item in items}, factory, shard.rank, shard.world)
        with Ledger(folder) as ledger:
            bar = _Progress(ledger, ledger.counts()["queued"], progress and shard.rank == 0)
            try:
                if shard.world > 1 or workers == 1:
                    work(spec, on_item=bar if shard.rank == 0 else None)
                else:
                    _run_processes(spec, workers, bar, ledger)
            finally:
                bar.close()
        shard.barrier()
        if shard.rank != 0:
            return None
        with Ledger(folder) as ledger:
            write_manifest(ledger, folder)
            processes = shard.world if shard.world > 1 else workers
            summary = summarize(ledger, pending, recovered, time.perf_counter() - start, processes)
        write_summary(summary, folder)
        return summary
    finally:
        if lock is not None:
            os.close(lock)
