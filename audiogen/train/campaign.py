"""Long training that accumulates over many sittings: one work folder, one command to resume.

A good codec and LM need more CPU-hours than one sitting gives, so every run lives outside the source tree, in the
work folder named by ``$AUDIOGEN_WORK`` (default ``~/audiogen-work``)::

    WORK/data/debian/manifest.jsonl     real music (rebuilt by ``audiogen data build-debian`` when missing)
    WORK/data/symbolic/manifest.jsonl   rendered scores (``audiogen data build-symbolic``, two SoundFonts)
    WORK/data/heldout/manifest.jsonl    real music for evaluation only (DATA.md, "Held-out real music")
    WORK/notes/                         basic-pitch's note posteriors of the corpus (the codec's note teacher)
    WORK/runs/STAGE/                    each stage's run folder: last.pt, log.jsonl, config.json, stdout.log, pid

Commands::

    python -m audiogen.train.campaign start     # resume the current stage in the background (or start it)
    python -m audiogen.train.campaign status    # which stage, its step, its last log line, running or not
    python -m audiogen.train.campaign stop      # stop it (it resumes from its last checkpoint at the next start)
    python -m audiogen.train.campaign finish    # end the current stage where it stands; the next start moves on

``start`` is safe to run at any time: it does nothing while the stage's process is alive. It takes the first stage
not finished (its trainer reached ``max_steps``, or ``finish`` ended it early because its goals are met), and when
that stage's trainer finishes, the same background process goes on with the next one. A stage
whose run folder is gone (a new machine) starts again from the last weights committed to the package
(``init_from``), not from zero. Each trainer checkpoints atomically (every 200 steps or 10 minutes) and resumes
exactly where it stopped. Runs take one thread (``num_threads: 1``) and a lower priority, so the machine's other
core stays free.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def work_dir() -> Path:
    """The work folder: ``$AUDIOGEN_WORK`` or ``~/audiogen-work``."""
    return Path(os.environ.get("AUDIOGEN_WORK") or Path.home() / "audiogen-work").expanduser()


@dataclass(frozen=True)
class Stage:
    """One stage of the campaign: commands run in order in its run folder, the last of them a resumable trainer
    (``{py}``, ``{work}``, ``{repo}``, ``{run}`` and ``{manifests}`` are filled in), and the committed weights the
    trainer starts from when its run folder is new (the first of ``init_from`` that exists)."""

    name: str
    commands: tuple[tuple[str, ...], ...]
    init_from: tuple[str, ...] = ()
    # what it trained is in the shipped default model (or was tried and set aside): on a machine with no trace of
    # any such stage's run (a new one) they count as finished, and the campaign goes on from the first stage that
    # is not; once one of them has a log (started by name, ``--stage``), they run in order as any other
    superseded: bool = False

    def run_dir(self, work: Path) -> Path:
        return work / "runs" / self.name

    def _fill(self, arg: str, work: Path) -> str:
        manifests = ",".join(str(m) for m in corpus_manifests(work))
        return arg.format(py=sys.executable, work=work, repo=REPO, run=self.run_dir(work), manifests=manifests)

    def prepare(self, work: Path) -> list[list[str]]:
        """The commands before the trainer (each resumable or quick)."""
        return [[self._fill(a, work) for a in c] for c in self.commands[:-1]]

    def command(self, work: Path) -> list[str]:
        """The trainer's command line."""
        cmd = [self._fill(a, work) for a in self.commands[-1]]
        start = next((p for p in self.init_from if (REPO / p / "config.json").is_file()), None)
        if start:
            cmd.append(f"init_from={REPO / start}")
        return cmd

    def done(self, work: Path) -> bool:
        """Finished: its trainer reached its recipe's ``max_steps``, or ``campaign finish`` ended it."""
        run = self.run_dir(work)
        if (run / "done").is_file():
            return True
        if self.superseded and not any((s.run_dir(work) / "log.jsonl").is_file() for s in STAGES if s.superseded):
            return True
        try:
            max_steps = int(json.loads((run / "config.json").read_text())["max_steps"])
        except (OSError, ValueError, KeyError):
            return False
        return last_step(run)[0] >= max_steps


def _code(codec: str, tokens: str, reuse: str | None = None) -> tuple[tuple[str, ...], ...]:
    """The commands that code the corpus by ``codec`` into the token cache ``tokens`` and read its controls (from
    the audio, or taken from the cache ``reuse`` of the same corpus where it has them); both skip what is done."""
    manifests = ("{work}/data/debian/manifest.jsonl", "{work}/data/symbolic/manifest.jsonl")
    return (
        ("{py}", "-m", "audiogen.cli", "codec", "cache", *manifests, "--codec", codec, "--out", tokens),
        ("{py}", "-m", "audiogen.cli", "codec", "controls", *manifests, "--cache", tokens,
         *(("--reuse", reuse) if reuse else ())),
    )  # fmt: skip


def _recode(codec: str, tokens: str, source: str, reuse: str | None = None) -> tuple[tuple[str, ...], ...]:
    """The commands that move the performer to a new codec's tokens before it is fine-tuned: :func:`_code`, then a
    token map from ``source``'s codes to ``codec``'s."""
    return (
        *_code(codec, tokens, reuse),
        ("{py}", "-m", "audiogen.train.token_map", "--source", source, "--target", codec, "--manifest",
         "{work}/data/debian/manifest.jsonl", "--out", f"{tokens}/token_map.npz", "--minutes", "40"),
    )  # fmt: skip


# In order: each stage trains what the next depends on.
# 1. Codec v3, from the last committed v3 weights when they exist, else from codec v2.
# 2. A decoder for v3's (frozen) tokens that plays the bass from a finer spectrogram (codec-v3-bass.yaml), then
#    the same with more context for its bass band (codec-v3-bass-context.yaml).
# 3. A pilot of codec v4: v3 whose encoder also reads the bass at a resolution that separates its semitones (a new
#    token space; codec-v4-pilot.yaml), run before the LM goes on, since it decides which tokens the LM should learn.
# 4. The performer on v3's tokens: the finished codec exported, the corpus coded (tokens, then the controls read
#    from the audio, taken from the shipped codec's token cache WORK/tokens-default where it has them: the
#    originality index's, same corpus, same frame rate), a token map from the shipped codec's codes to v3's (to start
#    the new embeddings), the LM.
# 5. The performer moved to v4's tokens: the v4 pilot frozen and the corpus coded again (controls and beats are read
#    from the audio: taken from v3's cache), a token map from v3's codes to v4's, the LM of stage 4 fine-tuned on them.
# 6. The v4 pilot trained on, its new input layer at ten times the rate (at the run's rate it hardly moved): v4
#    keeps 25 of 33 rendered keys, short of 8 in 10, and the bass is what it loses. Its codebooks are fine-tuned, not
#    replaced, so the LM moves to its tokens as it moved from v3's to v4's. It starts from the shipped codec, which is
#    the v4 pilot at its last step (release 0.4.0). At step 3,000 it kept 26 of 33 keys (v4: 25), its valid chroma
#    still rising (0.909 → 0.915) and its bass tones nearer their pitch, so it goes on to 6,000 (the rate is flat
#    after the warmup, so a longer run is the same run continued).
# 7. A decoder for stage 6's (frozen) tokens, trained on with a loss on the chroma of its magnitudes: stage 6 keeps
#    51 of 65 rendered keys, and the keys it loses are tipped by small tilts of the pitch-class balance, lost as much
#    from the unquantized latent (recipes/cpu-small/codec-v5-decoder.yaml). Its tokens are stage 6's, so the next
#    stage does not wait for it.
# 8. The performer moved to stage 6's tokens (as in stage 5): the shipped performer (stage 5's last step) fine-tuned
#    from a token map between the shipped codec's codes and the new codec's, on the first six codebooks (stage 7's
#    decoder keeps 89 % of the rendered keys there, 78 % at four). Stages 6-8 are release 0.5.0.
# 9. The same performer trained on (lm-v5-long.yaml): its two new codebooks were still learning. Its tokens are the
#    shipped codec's (the cache is coded again from it on a new machine), its start the shipped LM.
STAGES = (
    Stage("codec-v3", (("{py}", "-m", "audiogen.train.codec", "{repo}/recipes/cpu-small/codec-v3.yaml",
                        "run_dir={run}", "manifests=[{manifests}]", "notes_dir={work}/notes"),),
          ("audiogen/pretrained/codec-v3", "audiogen/pretrained/default/codec"), superseded=True),
    Stage("codec-v3-bass", (
        ("{py}", "-m", "audiogen.train.codec", "export", "{work}/runs/codec-v3", "{work}/codec-v3-frozen"),
        ("{py}", "-m", "audiogen.train.codec", "{repo}/recipes/cpu-small/codec-v3-bass.yaml", "run_dir={run}",
         "manifests=[{manifests}]", "init_from={work}/codec-v3-frozen"),
    ), superseded=True),
    Stage("codec-v3-bass-context", (
        ("{py}", "-m", "audiogen.train.codec", "export", "{work}/runs/codec-v3-bass", "{work}/codec-v3-bass"),
        ("{py}", "-m", "audiogen.train.codec", "{repo}/recipes/cpu-small/codec-v3-bass-context.yaml",
         "run_dir={run}", "manifests=[{manifests}]", "init_from={work}/codec-v3-bass"),
    ), superseded=True),
    Stage("codec-v4-pilot", (
        ("{py}", "-m", "audiogen.train.codec", "export", "{work}/runs/codec-v3-bass", "{work}/codec-v3-bass"),
        ("{py}", "-m", "audiogen.train.codec", "{repo}/recipes/cpu-small/codec-v4-pilot.yaml", "run_dir={run}",
         "manifests=[{manifests}]", "init_from={work}/codec-v3-bass", "notes_dir={work}/notes"),
    ), superseded=True),
    Stage("lm-v3", (
        ("{py}", "-m", "audiogen.train.codec", "export", "{work}/runs/codec-v3", "{work}/codec-v3"),
        *_recode("{work}/codec-v3", "{work}/tokens-v3", "{repo}/audiogen/pretrained/default/codec",
                 reuse="{work}/tokens-default"),
        ("{py}", "-m", "audiogen.train.lm", "{repo}/recipes/cpu-small/lm-v3.yaml", "run_dir={run}",
         "cache={work}/tokens-v3", "init_from={repo}/audiogen/pretrained/default/lm",
         "init_token_map={work}/tokens-v3/token_map.npz"),
    ), superseded=True),
    Stage("lm-v4", (
        ("{py}", "-m", "audiogen.train.codec", "export", "{work}/runs/codec-v4-pilot", "{work}/codec-v4"),
        ("{py}", "-m", "audiogen.train.lm", "export", "{work}/runs/lm-v3", "{work}/lm-v3"),
        *_recode("{work}/codec-v4", "{work}/tokens-v4", "{work}/codec-v3", reuse="{work}/tokens-v3"),
        ("{py}", "-m", "audiogen.train.lm", "{repo}/recipes/cpu-small/lm-v4.yaml", "run_dir={run}",
         "cache={work}/tokens-v4", "init_from={work}/lm-v3", "init_token_map={work}/tokens-v4/token_map.npz"),
    ), superseded=True),
    Stage("codec-v4-pilot2", (
        ("{py}", "-m", "audiogen.train.codec", "{repo}/recipes/cpu-small/codec-v4-pilot.yaml", "run_dir={run}",
         "manifests=[{manifests}]", "notes_dir={work}/notes", "bass_pitch_lr=0.003", "max_steps=6000"),
    ), ("audiogen/pretrained/default/codec",), superseded=True),
    Stage("codec-v5-decoder", (
        ("{py}", "-m", "audiogen.train.codec", "export", "{work}/runs/codec-v4-pilot2", "{work}/codec-v5"),
        ("{py}", "-m", "audiogen.train.codec", "{repo}/recipes/cpu-small/codec-v5-decoder.yaml", "run_dir={run}",
         "manifests=[{manifests}]", "init_from={work}/codec-v5"),
    ), superseded=True),
    Stage("lm-v5", (
        ("{py}", "-m", "audiogen.train.codec", "export", "{work}/runs/codec-v4-pilot2", "{work}/codec-v5"),
        *_recode("{work}/codec-v5", "{work}/tokens-v5", "{repo}/audiogen/pretrained/default/codec"),
        ("{py}", "-m", "audiogen.train.lm", "{repo}/recipes/cpu-small/lm-v5.yaml", "run_dir={run}",
         "cache={work}/tokens-v5", "init_from={repo}/audiogen/pretrained/default/lm",
         "init_token_map={work}/tokens-v5/token_map.npz"),
    ), superseded=True),
    Stage("lm-v5-long", (
        *_code("{repo}/audiogen/pretrained/default/codec", "{work}/tokens-v5"),
        ("{py}", "-m", "audiogen.train.lm", "{repo}/recipes/cpu-small/lm-v5-long.yaml", "run_dir={run}",
         "cache={work}/tokens-v5"),
    ), ("audiogen/pretrained/default/lm",)),
)  # fmt: skip


def current_stage(work: Path) -> Stage:
    """The first stage not finished (the last one when all are)."""
    return next((s for s in STAGES if not s.done(work)), STAGES[-1])


def running_stage(work: Path) -> Stage | None:
    """The stage whose trainer is alive, if any (it may not be the current one: a stage added before it, or one
    started by name). A runner that went on from stage to stage left its pid in each of their folders: the last of
    them is the one it runs."""
    return next((s for s in reversed(STAGES) if _alive(s.run_dir(work) / "pid")), None)


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"audiogen.train" in cmdline else None


def last_step(run: Path) -> tuple[int, dict | None]:
    """The last logged step of a run folder and its last training line (or ``(0, None)``)."""
    log = run / "log.jsonl"
    if not log.is_file():
        return 0, None
    last = None
    for line in log.read_text().splitlines():
        try:
            last = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
    return (int(last["step"]), last) if last else (0, None)


def corpus_manifests(work: Path) -> list[Path]:
    """The corpus every stage trains on: real music, then rendered scores."""
    return [work / "data" / "debian" / "manifest.jsonl", work / "data" / "symbolic" / "manifest.jsonl"]


def ensure_corpus(work: Path) -> list[Path]:
    """Build what is missing of the corpus in ``WORK/data`` (as DATA.md describes; downloads from the Debian
    archive, no labels needed for the codec): the game-music index (under a minute) and the rendered scores (576
    composer pieces and an hour of music21's corpus, over two SoundFonts; about half an hour on one core)."""
    debian, symbolic = corpus_manifests(work)
    data = work / "data"
    if not debian.is_file():
        print(f"campaign: building the real-music corpus in {data}", flush=True)
        subprocess.run([sys.executable, "-m", "audiogen.cli", "data", "build-debian", "--work", str(data),
                        "--out", str(debian), "--no-analysis"], check=True)  # fmt: skip
    sf2 = data / "sf" / "fluid" / "usr" / "share" / "sounds" / "sf2" / "FluidR3_GM.sf2"
    if not symbolic.is_file() or not (data / "symbolic" / "done").is_file():
        if not sf2.is_file():
            (data / "sf").mkdir(parents=True, exist_ok=True)
            subprocess.run(["apt-get", "download", "fluid-soundfont-gm"], cwd=data / "sf", check=True)
            deb = next((data / "sf").glob("fluid-soundfont-gm_*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(data / "sf" / "fluid")], check=True)
        print(f"campaign: rendering the symbolic corpus in {symbolic.parent}", flush=True)
        subprocess.run([sys.executable, "-m", "audiogen.cli", "data", "build-symbolic", "--out", str(symbolic.parent),
                        "--pieces", "576", "--music21-hours", "1", "--seed", "0", "--soundfont", "default",
                        "--soundfont", str(sf2), "--jobs", "1"], check=True)  # fmt: skip
        (data / "symbolic" / "done").write_text("built\n")
    ensure_heldout(data / "heldout")
    ensure_notes(work, [debian, symbolic])
    return [debian, symbolic]


def ensure_notes(work: Path, manifests: list[Path]) -> Path:
    """basic-pitch's note posteriors of every corpus record in ``WORK/notes``, which the codec recipes' note teacher
    reads (``notes_dir``; a crop whose record has none trains without it): built once, about 0.035 s of one thread
    per second of audio (three quarters of an hour for the corpus), resumed where it stopped."""
    notes = work / "notes"
    if not (notes / "done").is_file():
        print(f"campaign: caching the corpus's note posteriors in {notes}", flush=True)
        subprocess.run([sys.executable, "-m", "audiogen.data.note_cache", *map(str, manifests), "--out", str(notes)],
                       check=True)  # fmt: skip
        notes.mkdir(parents=True, exist_ok=True)
        (notes / "done").write_text("built\n")
    return notes


HELDOUT_PACKAGES = ("asc-music", "fillets-ng-data", "hedgewars-data", "lincity-ng-data", "supertux-data")


def ensure_heldout(folder: Path) -> Path:
    """The held-out real music (evaluation only; DATA.md): five more Debian game packages' music, indexed."""
    manifest = folder / "manifest.jsonl"
    if manifest.is_file():
        return manifest
    music = folder / "music"
    music.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *HELDOUT_PACKAGES], cwd=folder, check=True)
    for deb in folder.glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(folder / "x")], check=True)
    for path in (folder / "x").rglob("*"):
        rel = path.relative_to(folder / "x")
        if path.is_file() and path.suffix.lower() in (".ogg", ".mp3") and "music" in str(rel).lower():
            # PACKAGE-folder__NAME, as DATA.md's shell lines name them (the fourth path component, usr/share/games/X)
            parts = rel.parts
            (music / f"{parts[3] if len(parts) > 4 else parts[0]}__{path.name}").write_bytes(path.read_bytes())
    subprocess.run([sys.executable, "-m", "audiogen.cli", "data", "scan", str(music), "--out", str(manifest),
                    "--source", "heldout", "--licence", "GPL / CC-BY-SA (Debian game packages)",
                    "--min-duration", "30", "--no-analysis"], check=True)  # fmt: skip
    return manifest


def start(work: Path, stage: Stage) -> int:
    """Start ``stage`` in the background (unless it is running): a detached ``run`` that builds what is missing of
    the corpus, then runs the trainer and, when it finishes its stage, the next ones (:func:`run_stage`), logging to
    ``RUN/stdout.log``."""
    run = stage.run_dir(work)
    pid = _alive(run / "pid")
    if pid:
        print(f"campaign: {stage.name} is already running (pid {pid}), step {last_step(run)[0]}")
        return 0
    run.mkdir(parents=True, exist_ok=True)
    cmd = ["nice", "-n", "5", sys.executable, "-m", "audiogen.train.campaign", "run", "--stage", stage.name]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", AUDIOGEN_WORK=str(work))
    with (run / "stdout.log").open("a") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)
    (run / "pid").write_text(f"{proc.pid}\n")
    print(f"campaign: {stage.name} started (pid {proc.pid}) from step {last_step(run)[0]}; log {run / 'stdout.log'}")
    return 0


def run_stage(work: Path, stage: Stage) -> int:
    """In the foreground: build what is missing of the corpus, run the stage's preparing commands, then its trainer
    (child processes; SIGTERM is passed on to the one running, and nothing starts after it). When the trainer
    finishes its stage, go on with the next stage not finished, in the same process (its pid written into that
    stage's run folder), until none is left. Returns the last trainer's exit status (0 when every stage is
    finished)."""
    import signal

    ensure_corpus(work)
    child: list[subprocess.Popen] = []
    stopping = []

    def on_term(signum, frame) -> None:
        stopping.append(signum)
        for proc in child:
            proc.send_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        while True:
            for step in stage.prepare(work):
                print("campaign:", " ".join(step), flush=True)
                child[:] = [subprocess.Popen(step, cwd=REPO)]  # SIGTERM reaches it (every step resumes)
                rc = child[0].wait()
                if stopping:
                    print(f"campaign: stopped while preparing {stage.name}", flush=True)
                    return rc
                if rc != 0:
                    raise subprocess.CalledProcessError(rc, step)
            cmd = stage.command(work)
            print("campaign:", " ".join(cmd), flush=True)
            child[:] = [subprocess.Popen(cmd, cwd=REPO)]
            rc = child[0].wait()
            if rc != 0 or stopping or not stage.done(work):
                return rc
            following = current_stage(work)
            if following is stage or following.done(work):
                print(f"campaign: {stage.name} finished; every stage is finished", flush=True)
                return 0
            print(f"campaign: {stage.name} finished; going on with {following.name}", flush=True)
            run = following.run_dir(work)
            run.mkdir(parents=True, exist_ok=True)
            (run / "pid").write_text(f"{os.getpid()}\n")
            stage = following
    finally:
        signal.signal(signal.SIGTERM, previous)


def status(work: Path, stage: Stage) -> int:
    run = stage.run_dir(work)
    step, line = last_step(run)
    pid = _alive(run / "pid")
    state = f"running (pid {pid})" if pid else "stopped"
    print(f"campaign: work folder {work}; stage {stage.name}: {state}, step {step}")
    if line:
        print(json.dumps(line))
    return 0


def stop(work: Path, stage: Stage) -> int:
    pid = _alive(stage.run_dir(work) / "pid")
    if not pid:
        print(f"campaign: {stage.name} is not running")
        return 0
    os.kill(pid, 15)
    print(f"campaign: stopped {stage.name} (pid {pid}); it resumes from its last checkpoint at the next start")
    return 0


def finish(work: Path, stage: Stage) -> int:
    """End ``stage`` where it stands (its goals are met): the next ``start`` moves on to the next stage."""
    stop(work, stage)
    run = stage.run_dir(work)
    run.mkdir(parents=True, exist_ok=True)
    (run / "done").write_text(f"finished at step {last_step(run)[0]}\n")
    print(f"campaign: {stage.name} marked finished at step {last_step(run)[0]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audiogen.train.campaign", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("start", "status", "stop", "finish", "run"),
                    help="finish: end the stage where it stands; run: in the foreground")  # fmt: skip
    ap.add_argument("--stage", default=None, choices=[s.name for s in STAGES],
                    help="default: the first stage not finished")  # fmt: skip
    args = ap.parse_args(argv)
    work = work_dir()
    if args.stage:
        stage = next(s for s in STAGES if s.name == args.stage)
    elif args.action in ("status", "stop"):  # what is running, else what would run next
        stage = running_stage(work) or current_stage(work)
    else:
        stage = current_stage(work)
    actions = {"start": start, "status": status, "stop": stop, "finish": finish, "run": run_stage}
    return actions[args.action](work, stage)


if __name__ == "__main__":
    sys.exit(main())
