"""Where things live. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    warehouse_path: Path
    dbt_project_dir: Path
    scorecards_dir: Path

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("HEALTHSCORE_DATA_DIR", PROJECT_ROOT / "data"))
        return cls(
            landing_dir=Path(os.environ.get("HEALTHSCORE_LANDING_DIR", data_dir / "landing")),
            warehouse_path=Path(
                os.environ.get("HEALTHSCORE_WAREHOUSE", data_dir / "warehouse" / "healthscore.duckdb")
            ),
            dbt_project_dir=PROJECT_ROOT / "dbt_project",
            scorecards_dir=Path(os.environ.get("HEALTHSCORE_SCORECARDS_DIR", PROJECT_ROOT / "scorecards")),
        )


def project_path(path: str | Path) -> Path:
    """A path a user gave (a scorecard, an output folder): absolute as is; relative, from the
    working directory when it exists there, else from the project root."""
    path = Path(path)
    return path if path.is_absolute() or path.exists() else PROJECT_ROOT / path
