"""``audiogen studio``: start the studio's local web server and print its address."""

from __future__ import annotations

import argparse
import socket
import sys

DEFAULT_PORT = 8765
EXTRA_HINT = "pip install 'audiogen[studio]'"
MAX_UPLOAD_MB = 1000.0


def _require_extra() -> None:
    missing = []
    for name in ("fastapi", "uvicorn", "python_multipart"):
        try:
            __import__(name)
        except ModuleNotFoundError:
            missing.append(name)
    if missing:
        names = " and ".join(missing)
        raise ValueError(f"the studio needs {names}, which are not installed; install them with {EXTRA_HINT}")


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must lie in [0, 65535] (0 = any free port), got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ValueError(f"--host {host!r}: not an address of this machine ({err.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise ValueError(f"--host {host} --port {port}: {err.strerror}; pick another port (0 = any free one)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The address a browser on this machine opens for ``sock``."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def open_library(root):
    """The library at ``root``, locked for this server; every refusal is a one-line ``ValueError`` (another studio
    uses it, its database is not a studio's, or cannot be opened)."""
    import sqlite3

    from audiogen.studio.library import Library, LibraryBusyError

    try:
        return Library(root, exclusive=True)
    except LibraryBusyError as err:
        raise ValueError(f"{err}; stop it first, or name another --library") from None
    except sqlite3.Error as err:
        raise ValueError(f"{root}: the library's database cannot be opened ({err})") from None


def _run(args: argparse.Namespace) -> int:
    _require_extra()
    import uvicorn

    from audiogen.studio.app import create_app
    from audiogen.studio.library import default_library_dir, library_root
    from audiogen.studio.worker import Worker
    from audiogen.threads import apply_threads, pick_threads

    pick_threads(args.threads)  # a bad --threads fails before anything starts
    if not 1 <= args.max_upload_mb <= 1_000_000:
        raise ValueError(f"--max-upload-mb must lie in [1, 1000000] (megabytes per uploaded brief), got "
                         f"{args.max_upload_mb:g}")  # fmt: skip
    if args.model not in (None, "debug"):
        from pathlib import Path

        if not (Path(args.model) / "lm" / "config.json").is_file():
            raise ValueError(f"--model {args.model}: not an audiogen model folder (needs codec/ and lm/), or 'debug'")
    root, moved = library_root(args.library or default_library_dir())  # never a folder of the user's files
    library = open_library(root)
    try:
        requeued = library.recover()
        library.sweep()
        sock = _bind(args.host, args.port)
    except BaseException:
        library.unlock()
        raise
    apply_threads(args.threads)
    worker = Worker(library, args.model)
    port = sock.getsockname()[1]
    app = create_app(library, worker, max_upload_bytes=int(args.max_upload_mb * 1e6), host=args.host, port=port)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3, access_log=False)
    if moved:
        print(f"audiogen studio: {moved}", flush=True)
    if requeued:
        print(f"audiogen studio: {requeued} job(s) interrupted by the last stop are queued again", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        warning = "audiogen studio: warning: listening beyond this machine; anyone who can reach it can use it"
        print(warning, file=sys.stderr, flush=True)
    where = f"library {library.root}, model {args.model or 'default'}"  # the address last: it says "ready"
    print(f"audiogen studio: {url_of(sock)}  ({where}; Ctrl+C stops)", flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        library.unlock()
    return 0


def register(sub) -> None:
    """Add ``audiogen studio`` to the command line."""
    p = sub.add_parser("studio", help="a local web page to audition, compare and keep tracks")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--model", default=None, help="model folder (default: the shipped model; 'debug' = tiny random)")
    p.add_argument(
        "--library", default=None,
        help="library folder (default: $AUDIOGEN_STUDIO_LIBRARY, else ~/.local/share/audiogen/studio)",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for generation (default: AUDIOGEN_THREADS, else the cores not busy with other work)",
    )  # fmt: skip
    p.add_argument(
        "--max-upload-mb", type=float, default=MAX_UPLOAD_MB,
        help=f"the largest picture or video brief the page accepts, in MB (default {MAX_UPLOAD_MB:g})",
    )  # fmt: skip
    p.set_defaults(func=_run)
