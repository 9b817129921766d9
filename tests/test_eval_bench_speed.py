"""The speed benchmark's baseline: a temporary checkout of the release, importable, and gone afterwards."""

import subprocess
from pathlib import Path

import pytest

from audiogen.eval.bench_speed import RELEASE, release_checkout


def _worktrees() -> list[str]:
    out = subprocess.run(["git", "worktree", "list", "--porcelain"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line.startswith("worktree ")]


@pytest.mark.skipif(
    subprocess.run(["git", "cat-file", "-e", f"{RELEASE}^{{commit}}"], capture_output=True).returncode != 0,
    reason=f"this checkout's history does not hold the release commit {RELEASE} (a shallow clone)",
)
def test_the_release_checkout_is_importable_and_removed_after():
    before = _worktrees()
    with release_checkout() as tree:
        assert (tree / "audiogen" / "generator.py").is_file()
        assert (tree / "audiogen" / "conditioning").resolve() == (tree / "conditioning").resolve()
        assert str(tree) in " ".join(_worktrees())
    assert _worktrees() == before and not Path(tree).exists()
