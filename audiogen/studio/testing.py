"""Driving the studio from outside, for its tests, its benchmark and its screenshots: start ``audiogen studio`` in a
child process on a free port, find a Chromium for Playwright, and talk to an app in-process as its page does.

Playwright's own browser download is not needed: a Chromium from the distribution's packages
(``apt-get install chromium``) is found on ``PATH``, or named by ``$AUDIOGEN_CHROMIUM``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_ADDRESS = re.compile(r"audiogen studio: (http://\S+)")


PAGE_ORIGIN = "http://127.0.0.1"  # where an in-process client's requests say they come from


def page_client(app, **kwargs):
    """A FastAPI ``TestClient`` for ``app`` that sends what the studio's page sends: Host ``127.0.0.1``, the page's
    Origin and its token (``X-Studio-Token``). Use it as a context manager, like ``TestClient``."""
    from fastapi.testclient import TestClient

    from audiogen.studio.guard import TOKEN_HEADER

    headers = {"Origin": PAGE_ORIGIN, TOKEN_HEADER: app.state.guard.token, **kwargs.pop("headers", {})}
    return TestClient(app, base_url=PAGE_ORIGIN, headers=headers, **kwargs)


@contextlib.contextmanager
def studio_over(folder: str | os.PathLike, generator):
    """``(client, library, worker)`` over a fresh library in ``folder`` with ``generator``: the client is
    :func:`page_client`'s, the worker is not started (tests run it by hand with ``worker.run_once()``)."""
    from audiogen.studio.app import create_app
    from audiogen.studio.library import Library
    from audiogen.studio.worker import Worker

    library = Library(folder)
    worker = Worker(library, generator=generator)
    with page_client(create_app(library, worker, start_worker=False)) as client:
        yield client, library, worker


def find_chromium() -> str | None:
    """A Chromium executable: ``$AUDIOGEN_CHROMIUM``, else the first of :data:`CHROMIUM_NAMES` on ``PATH``."""
    named = os.environ.get("AUDIOGEN_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ModuleNotFoundError:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if find_chromium() is None:
        return "no Chromium found: install one with `apt-get install chromium` (Debian) or set $AUDIOGEN_CHROMIUM"
    return None


def launch_chromium(playwright):
    """A headless Chromium under Playwright (the system one of :func:`find_chromium`)."""
    path = find_chromium()
    if path is None:
        raise RuntimeError(browser_missing())
    args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
    return playwright.chromium.launch(executable_path=path, headless=True, args=args)


class StudioProcess:
    """``audiogen studio --port 0`` in a child process; ``url`` is its address once it has printed it.

    Use as a context manager; ``stop()`` ends it with SIGINT (a clean shutdown), then SIGKILL if it hangs."""

    def __init__(
        self, library: str | os.PathLike, model: str | None = "debug", threads: int | None = 1, timeout: float = 60.0
    ) -> None:
        cmd = [sys.executable, "-m", "audiogen.cli", "studio", "--port", "0", "--library", str(library)]
        cmd += ["--model", model] if model else []
        cmd += ["--threads", str(threads)] if threads else []
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self.url = self._wait_for_address(timeout)
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_for_address(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            found = _ADDRESS.search(line)
            if found:
                return found.group(1)
        self.stop()
        raise RuntimeError("audiogen studio did not start:\n" + "".join(self.lines))

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self, timeout: float = 10.0) -> int:
        """Stop the server; returns its exit status."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> StudioProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
