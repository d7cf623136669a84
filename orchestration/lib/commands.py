"""How to tell a user which command to run next: paths they can paste and the CLI as they run it."""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.lib.settings import PROJECT_ROOT


def short_path(path: Path) -> Path:
    """Relative to the current folder when inside it (shorter lines, paths a user can paste)."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def cli_command() -> str:
    """How the user runs the CLI: `healthscore` when it is on PATH, else the checkout's venv."""
    venv_bin = PROJECT_ROOT / ".venv" / "bin" / "healthscore"
    on_path = any(Path(d, "healthscore").exists() for d in os.environ.get("PATH", "").split(os.pathsep) if d)
    return "healthscore" if on_path or not venv_bin.exists() else str(short_path(venv_bin))


def command_with_data_dir() -> str:
    """The CLI command to suggest, pointed at this run's data: with HEALTHSCORE_DATA_DIR set (an
    example, or your own mappings run as the docs show it), a plain `healthscore sql` would open
    the default warehouse instead."""
    data_dir = os.environ.get("HEALTHSCORE_DATA_DIR", "").strip()
    return (f"HEALTHSCORE_DATA_DIR={short_path(Path(data_dir))} " if data_dir else "") + cli_command()
