"""The studio's speed: time from the Generate click to the first audible result, and the server's overhead against
the same request through the Python API, in one run (and, optionally, the README's screenshots).

    OMP_NUM_THREADS=1 python eval/bench_studio.py --repeats 3 --duration 10 [--screenshots docs/studio]
    OMP_NUM_THREADS=1 python eval/bench_studio.py --screenshots docs/studio --screenshots-only   # no timings

Each repeat runs the request once through ``MusicGenerator.generate`` + ``Track.save`` (MP3) in this process and
once through the page: a headless Chromium fills the form of ``audiogen studio`` (the same model, a child process),
clicks Generate, waits for the result's card and presses play; the clock stops when the player is playing. Both
use one torch thread, one after the other (never at once), after a warm-up request each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

TEXT = "a hopeful corporate track with piano and strings"


def _api_seconds(gen, duration: float, seed: int, out: Path) -> float:
    start = time.perf_counter()
    track = gen.generate(TEXT, emotion="happy", style=["piano", "strings"], duration=duration, seed=seed,
                         progress=False)  # fmt: skip
    track.save(out)
    return time.perf_counter() - start


def _fill(page, duration: float, seed: int, variants: int = 1) -> None:
    page.fill("#f-text", TEXT)
    page.select_option("#f-emotion", "happy")
    page.fill("#f-style", "piano, strings")
    page.fill("#f-duration", f"{duration:g}")
    page.fill("#f-variants", str(variants))
    page.fill("#f-seed", str(seed))


def _studio_seconds(page, duration: float, seed: int, variants: int = 1) -> float:
    """Click → the first new card's player is playing."""
    _fill(page, duration, seed, variants)
    before = page.locator(".track").count()
    start = time.perf_counter()
    page.click("#generate")
    page.locator(".track").nth(before).wait_for(timeout=600_000)
    card = page.locator(".track").first
    card.locator(".play").click()
    page.wait_for_function("() => studio.player.currentTime > 0 && !studio.player.paused", timeout=60_000)
    seconds = time.perf_counter() - start
    card.locator(".play").click()  # pause
    return seconds


def _server_job_seconds(url: str) -> float:
    with urllib.request.urlopen(url + "api/jobs") as res:
        done = [j for j in json.load(res)["jobs"] if j["state"] == "done"]
    newest = max(done, key=lambda j: j["id"])
    return newest["finished"] - newest["started"]


def screenshots(page, out: Path, duration: float) -> None:
    """The README's pictures: the page with its library (one track playing, its plan open), a request running
    (progress per variant), a bad request's messages, and a video brief (what it reads as, its result's MP4)."""
    out.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.reload()
    page.wait_for_selector(".track")
    first = page.locator(".track").first
    first.locator(".plan summary").click()
    first.locator(".play").click()
    page.wait_for_timeout(2500)
    page.screenshot(path=str(out / "studio.png"))
    first.locator(".play").click()

    _fill(page, duration, 300, variants=3)
    page.fill("#f-text", "a tense chase through a night market")
    page.select_option("#f-emotion", "tense")
    page.fill("#f-style", "electronic, drums")
    page.click("#generate")
    bars_past_40 = "() => [...document.querySelectorAll('.job .bar i')].some(b => parseFloat(b.style.width) > 40)"
    page.wait_for_function(bars_past_40, timeout=600_000)
    page.screenshot(path=str(out / "queue.png"), clip={"x": 0, "y": 0, "width": 1440, "height": 560})

    page.reload()
    page.wait_for_selector("#status")
    page.click('#emo-mode [data-mode="pad"]')
    box = page.locator("#pad").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.7)
    page.fill("#f-text", "a slow, wistful theme")
    page.fill("#f-tempo", "300")
    page.fill("#f-duration", "0.5")
    page.click("#generate")
    page.wait_for_selector('.err[data-for="tempo"]:not(:empty)')
    form = page.locator("#request").bounding_box()
    clip = {"x": form["x"] - 8, "y": 0, "width": form["width"] + 16, "height": form["y"] + form["height"] + 8}
    page.screenshot(path=str(out / "errors.png"), full_page=True, clip=clip)
    page.wait_for_function("() => document.querySelectorAll('.job .state.running, .job .state.queued').length === 0",
                           timeout=600_000)  # fmt: skip
    brief_screenshot(page, out)


def brief_screenshot(page, out: Path) -> None:
    """A video brief: the form with what the video reads as (length, cuts, each shot's mood, the duration taken from
    it) and the library's newest card, its result (with the MP4 download)."""
    from audiogen.brief.synth import colour_field_video

    page.reload()
    page.wait_for_selector("#status.ready")
    with tempfile.TemporaryDirectory() as tmp:
        spot = Path(tmp) / "product-spot.mp4"
        colours = [(240, 190, 60), (40, 60, 120), (230, 80, 60), (250, 240, 220)]
        colour_field_video(spot, [2.4, 4.8, 7.2], 9.6, colours=colours, size=(320, 180))
        page.set_input_files("#f-brief", str(spot))
        page.wait_for_selector("#brief-card:not([hidden])")
    page.fill("#f-text", "an upbeat product spot")
    page.fill("#f-style", "")
    page.fill("#f-variants", "1")
    page.fill("#f-seed", "400")
    before = page.locator(".track .brief-chip").count()
    page.click("#generate")
    page.locator(".track .brief-chip").nth(before).wait_for(timeout=600_000)
    page.wait_for_selector("#toast:not(.show)")
    page.screenshot(path=str(out / "brief.png"), clip={"x": 0, "y": 0, "width": 1440, "height": 780})


def _seed_library(page, duration: float) -> None:
    """Four variants of the benchmark's request, so the screenshots show a library."""
    _fill(page, duration, 200, variants=4)
    page.click("#generate")
    page.locator(".track").nth(3).wait_for(timeout=600_000)
    page.wait_for_function("() => document.querySelectorAll('.job .state.running, .job .state.queued').length === 0",
                           timeout=600_000)  # fmt: skip


@contextlib.contextmanager
def _studio_page(model: str | None):
    """``(server process, page)``: a studio on a temporary library and a headless Chromium page on it, ready."""
    from playwright.sync_api import sync_playwright

    from audiogen.studio.testing import StudioProcess, launch_chromium

    with (
        tempfile.TemporaryDirectory() as tmp,
        StudioProcess(Path(tmp) / "library", model=model, threads=1, timeout=300) as proc,
        sync_playwright() as p,
    ):
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(proc.url)  # wait_for_function takes "() => ..." here: the page's CSP forbids evaluating a bare string
        page.wait_for_selector("#status.ready", timeout=300_000)
        try:
            yield proc, page
        finally:
            browser.close()


def _screenshots_only(args) -> int:
    if not args.screenshots:
        raise SystemExit("--screenshots-only needs --screenshots DIR")
    with _studio_page(args.model) as (_proc, page):
        _seed_library(page, args.duration)
        screenshots(page, Path(args.screenshots), args.duration)
    print(f"screenshots written to {args.screenshots}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--variants", type=int, default=4, help="also time the first of this many variants (0: skip)")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--screenshots", default=None, help="write the README's screenshots into this folder")
    ap.add_argument("--screenshots-only", action="store_true", help="take the screenshots, time nothing")
    args = ap.parse_args(argv)
    if args.screenshots_only:
        return _screenshots_only(args)

    import torch

    from audiogen.generator import MusicGenerator

    torch.set_num_threads(1)
    load = os.getloadavg()
    gen = MusicGenerator.from_pretrained(args.model)
    api, studio, server = [], [], []
    first_of_n = None
    with tempfile.TemporaryDirectory() as tmp, _studio_page(args.model) as (proc, page):
        _api_seconds(gen, 2.0, 0, Path(tmp) / "warm.mp3")  # warm-ups: first calls pay one-off costs
        _studio_seconds(page, 2.0, 0)
        for r in range(args.repeats):
            api.append(_api_seconds(gen, args.duration, 100 + r, Path(tmp) / "api.mp3"))
            studio.append(_studio_seconds(page, args.duration, 100 + r))
            server.append(_server_job_seconds(proc.url))
        if args.variants > 1:
            first_of_n = _studio_seconds(page, args.duration, 200, args.variants)
            page.wait_for_function("() => document.querySelectorAll('.job .state.running').length === 0",
                                   timeout=600_000)  # fmt: skip
        if args.screenshots:
            screenshots(page, Path(args.screenshots), args.duration)
    med = statistics.median
    print(f"\nCommand: `OMP_NUM_THREADS=1 python eval/bench_studio.py --repeats {args.repeats} "
          f"--duration {args.duration:g}{' --screenshots ' + args.screenshots if args.screenshots else ''}`  ")
    print(f"Model: {gen.model_version}. Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} at start; 1 torch thread.\n")  # fmt: skip
    print(f"| what ({args.duration:g} s track, 1 variant; median of {args.repeats}) | seconds |")
    print("|---|---|")
    print(f"| Python API: `generate` + `save` (MP3) | {med(api):.2f} |")
    print(f"| studio: click → first audible result (player playing) | {med(studio):.2f} |")
    print(f"| studio: the job on the server (generate, MP3 + WAV + MIDI, waveform, library row) | {med(server):.2f} |")
    print(f"| **overhead: studio click-to-audio / API** | **{med(studio) / med(api):.2f}×** |")
    if first_of_n is not None:
        print(f"| studio: click → first audible of {args.variants} variants | {first_of_n:.2f} |")
    print("\nper repeat (API / studio / server job):",
          ", ".join(f"{a:.2f}/{s:.2f}/{j:.2f}" for a, s, j in zip(api, studio, server, strict=True)))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
