"""The `healthscore` command exits without Python's heap teardown (orchestration/cli/main.py:
`entry`): its exit code and output must be those of `main()` all the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_exit_code_and_messages_survive_the_fast_exit(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-card.yml"
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--scorecard", str(missing)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert f"scorecard file {missing} does not exist" in done.stdout
    assert "leaked" not in done.stderr  # multiprocessing's exit handler still ran


def test_help_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "usage: healthscore" in done.stdout
