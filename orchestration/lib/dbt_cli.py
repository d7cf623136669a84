"""The dbt command line as every caller spells it: the executable and the project's folder flags."""

from __future__ import annotations

import sys
from pathlib import Path


def dbt_executable() -> str:
    """The dbt installed next to this Python (the project's virtualenv), else `dbt` on PATH."""
    dbt = Path(sys.executable).parent / "dbt"
    return str(dbt) if dbt.exists() else "dbt"


def project_args(
    project_dir: Path | str, target_path: Path | str | None = None, log_path: Path | str | None = None
) -> list[str]:
    """--project-dir and --profiles-dir (profiles.yml sits in the project), and where given the
    folders for dbt's artefacts and logs."""
    args = ["--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    if target_path is not None:
        args += ["--target-path", str(target_path)]
    if log_path is not None:
        args += ["--log-path", str(log_path)]
    return args
