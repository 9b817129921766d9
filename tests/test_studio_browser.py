"""The studio end to end in a real headless browser: `audiogen studio --model debug` in a child process, driven by
Playwright over a system Chromium (skipped, with the reason, where either is missing)."""

import pytest

from audiogen.studio.testing import browser_missing

MISSING = browser_missing()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING is not None, reason=f"studio browser tests: {MISSING}")]

DURATION = 3  # seconds per variant: the debug model makes one in about a second
PLANTED = {"text": "calm piano", "duration": 16, "variants": 1, "seed": 3}  # its plan is in the model's index
TRAINING_TITLE = 'Night <img src=x onerror="window.pwned = 1"> Song'  # a training item's title is text, not markup


def debug_model_with_index(folder):
    """The debug model saved in ``folder`` with an originality index whose only item is the plan the studio composes
    for :data:`PLANTED` (16 s of piano: 8 melody symbols, flagged from 6)."""
    from audiogen.generator import MusicGenerator
    from audiogen.originality.testing import plans_index
    from audiogen.studio.form import api_kwargs, clean

    gen = MusicGenerator.debug()
    req = clean(PLANTED)
    plan = gen.generate(req["text"], **api_kwargs(req), seed=req["seed"], originality="off", progress=False).plan
    index = plans_index([plan])
    index.thresholds["melody"] = 6.0
    index.items[0]["title"] = TRAINING_TITLE
    gen.originality_dir = index.save(folder.parent / "index")
    gen.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from audiogen.studio.testing import StudioProcess

    root = tmp_path_factory.mktemp("studio")
    with StudioProcess(root / "library", model=str(debug_model_with_index(root / "model"))) as proc:
        yield proc


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from audiogen.studio.testing import launch_chromium

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    problems = []
    pg.on("pageerror", lambda err: problems.append(str(err)))

    def failed(req):  # a reload or a closed page aborts the event stream and media loads: not a problem
        if req.failure != "net::ERR_ABORTED":
            problems.append(f"request failed: {req.url} ({req.failure})")

    pg.on("requestfailed", failed)

    def console(msg):  # the page's Content-Security-Policy refusing something the page needs
        if msg.type == "error" and ("Content Security Policy" in msg.text or "Refused to" in msg.text):
            problems.append(f"console: {msg.text}")

    pg.on("console", console)
    pg.goto(server.url)
    pg.wait_for_selector("#status.ready", timeout=60_000)
    yield pg
    context.close()
    assert problems == []


def test_generate_two_variants_play_download_and_find_them_after_a_reload(page, server, tmp_path):
    from audiogen.audio import SAMPLE_RATE, load_audio

    page.fill("#f-text", "a rainy night in the city")
    page.select_option("#f-emotion", "melancholic")
    page.fill("#f-style", "piano, lo-fi")
    page.fill("#f-tempo", "84")
    page.fill("#f-duration", str(DURATION))
    page.fill("#f-variants", "2")
    page.fill("#f-seed", "11")
    page.click("#generate")
    page.wait_for_selector("#jobs .job .progress", timeout=30_000)  # the queue shows a progress bar per variant
    assert page.locator(".job").first.locator(".progress").count() == 2
    cards = page.locator(".track")
    cards.nth(1).wait_for(timeout=120_000)
    assert cards.count() == 2
    seeds = sorted(int(t.rsplit(" ", 1)[1]) for t in page.locator(".track .chip", has_text="seed").all_inner_texts())
    assert seeds == [11, 12]
    first = cards.first
    assert "melancholic" in first.inner_text() and "84 BPM" in first.inner_text()
    assert first.locator(".plan summary").inner_text().startswith("Plan · ")
    lines = page.locator(".track .originality").all_inner_texts()
    assert lines == ["Original: nothing close to the training music"] * 2

    first.locator(".play").click()
    page.wait_for_function("() => studio.player.currentTime > 0.3 && !studio.player.paused", timeout=20_000)
    assert first.get_attribute("class").split() == ["track", "playing"]
    first.locator(".play").click()  # pause
    page.wait_for_function("() => studio.player.paused")

    with page.expect_download() as info:
        first.locator("a.dl-mp3").click()
    download = info.value
    assert download.suggested_filename.endswith(".mp3") and download.suggested_filename.startswith("audiogen-")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert load_audio(path, SAMPLE_RATE).shape == (DURATION * SAMPLE_RATE,)

    page.reload()
    page.wait_for_selector(".track")
    assert page.locator(".track").count() == 2
    assert "2 tracks" in page.inner_text("#count")
    page.fill("#q", "rainy night")
    page.wait_for_function("() => document.querySelectorAll('.track').length === 2")
    page.fill("#q", "no such words")
    page.wait_for_selector("#tracks-empty:not([hidden])")


def test_a_request_is_heard_while_it_is_generated_then_its_saved_track_takes_over(page, server):
    import json
    import urllib.request

    page.fill("#f-text", "a live take heard at once")
    page.fill("#f-duration", "60")  # the debug model takes a few seconds: long enough to listen meanwhile
    page.fill("#f-variants", "1")
    page.fill("#f-seed", "21")
    page.click("#generate")
    page.wait_for_function("() => studio.state.live && studio.state.live.position() > 0.2", timeout=60_000)
    job_id = page.evaluate("studio.state.live.job")
    with urllib.request.urlopen(server.url + "api/jobs") as res:  # the local server only
        jobs = json.load(res)["jobs"]
    assert next(j for j in jobs if j["id"] == job_id)["state"] == "running"  # heard before its track exists
    assert page.locator(f'.job[data-job="{job_id}"] .live .live-dot').inner_text() == "● live"
    assert page.evaluate("studio.player.paused")  # the page's player waits for the saved track

    page.wait_for_function("() => studio.state.live === null && studio.player.src.includes('/file/mp3')",
                           timeout=120_000)  # fmt: skip
    page.wait_for_function("() => !studio.player.paused && studio.player.currentTime > 1", timeout=20_000)
    card = page.locator(".track.playing")  # it goes on from where the stream was, in the saved file
    assert card.count() == 1 and "seed 21" in card.inner_text()
    card.locator(".play").click()
    page.wait_for_function("() => studio.player.paused")


def test_a_track_close_to_a_training_item_is_flagged_on_its_card(page):
    page.evaluate("request => submit(request)", PLANTED)  # what the form sends, through the page's own path
    line = page.locator(".track .originality.flagged")
    line.wait_for(timeout=120_000)
    assert line.inner_text() == f"Flagged: close to {TRAINING_TITLE} (melody)"
    assert line.locator("img").count() == 0 and page.evaluate("window.pwned === undefined")
    assert line.get_attribute("title").startswith("FLAGGED, close to a training item: melody 8 notes (flag at 6)")
    card = line.locator("xpath=ancestor::article")
    assert "seed 3" in card.locator(".chips").inner_text()


def test_a_bad_tempo_is_explained_next_to_the_field(page):
    before = page.locator(".job").count()
    page.fill("#f-text", "too fast")
    page.fill("#f-tempo", "300")
    page.click("#generate")
    message = page.locator('.err[data-for="tempo"]')
    message.wait_for()
    assert message.inner_text() == "tempo must lie in [40, 220] BPM, got 300"
    assert "invalid" in page.get_attribute("#f-tempo", "class")
    assert page.locator(".job").count() == before  # nothing was queued
    page.fill("#f-tempo", "120")
    page.fill("#f-duration", "9999")
    page.click("#generate")
    page.wait_for_function("() => document.querySelector('.err[data-for=duration]').textContent.includes('[1, 600]')")
    assert page.inner_text('.err[data-for="tempo"]') == ""


def test_the_mood_pad_sends_a_valence_arousal_point(page, server):
    import json
    import urllib.request

    page.click('#emo-mode [data-mode="pad"]')
    box = page.locator("#pad").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25)  # positive, excited
    assert "valence 0.50 · arousal 0.50" in page.inner_text("#pad-read")
    page.fill("#f-text", "a bright fanfare")
    page.fill("#f-duration", "2")
    page.fill("#f-variants", "1")
    page.click("#generate")
    page.wait_for_selector("#toast.show")
    with urllib.request.urlopen(server.url + "api/jobs") as res:  # the local server only
        jobs = json.load(res)["jobs"]
    request = next(j["request"] for j in jobs if j["request"]["text"] == "a bright fanfare")
    assert (request["valence"], request["arousal"], request["emotion"]) == (0.5, 0.5, None)


def test_a_picture_brief_is_read_shown_and_used(page, server, tmp_path):
    import json
    import urllib.request

    from audiogen.brief.image import read_image
    from audiogen.brief.synth import contrast_pair, save_rgb

    poster = save_rgb(contrast_pair(5)[0], tmp_path / "poster.png")
    reading = read_image(poster)
    page.set_input_files("#f-brief", str(poster))
    page.wait_for_selector("#brief-card:not([hidden])")
    assert page.inner_text("#brief-name") == "poster.png"
    assert f"valence {reading.valence:+.2f}".replace("-", "−") in page.inner_text("#brief-read")
    page.wait_for_function("() => document.querySelector('#brief-thumb').naturalWidth > 0")  # the thumbnail loaded
    assert page.get_attribute('#emo-mode [data-mode="auto"]', "aria-checked") == "true"  # the picture sets the mood
    page.fill("#f-text", "a poster in motion")
    page.fill("#f-duration", "2")
    page.fill("#f-variants", "1")
    page.click("#generate")
    chip = page.locator(".track .brief-chip", has_text="picture: poster.png")
    chip.wait_for(timeout=120_000)
    track_id = chip.locator("xpath=ancestor::article").get_attribute("data-id")
    with urllib.request.urlopen(f"{server.url}api/tracks/{track_id}") as res:  # the local server only
        track = json.load(res)
    assert (track["valence"], track["arousal"]) == (reading.valence, reading.arousal)
    assert track["request"]["brief"]["name"] == "poster.png"


def test_star_delete_and_cancel_carry_the_pages_token(page, server):
    """Every change the page makes passes the server's Origin and token checks, also after the token changed (the
    page reads it again once and sends the request again)."""
    import json
    import urllib.request

    page.fill("#f-text", "a short sketch to star and delete")
    page.fill("#f-duration", "2")
    page.fill("#f-variants", "1")
    page.click("#generate")
    card = page.locator(".track", has_text="a short sketch to star and delete").first
    card.wait_for(timeout=120_000)
    track_id = card.get_attribute("data-id")
    page.evaluate("studio.state.options.token = 'stale'")  # as after a restart of the server
    card.locator(".star").click()
    page.wait_for_selector(f'.track[data-id="{track_id}"] .star.on')
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator(f'.track[data-id="{track_id}"] .delete').click()
    page.wait_for_selector(f'.track[data-id="{track_id}"]', state="detached")

    page.fill("#f-text", "a long request to cancel")
    page.fill("#f-duration", "30")
    page.fill("#f-variants", "8")
    page.click("#generate")
    job = page.locator(".job", has_text="a long request to cancel")
    job.locator("button.cancel").click()
    job.wait_for(state="detached", timeout=30_000)  # cancelled jobs leave the queue
    with urllib.request.urlopen(server.url + "api/jobs") as res:  # the local server only
        jobs = json.load(res)["jobs"]
    assert next(j for j in jobs if j["request"]["text"] == "a long request to cancel")["state"] == "cancelled"
