"""`healthscore features`: the feature catalog (docs/features.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestration.cli.common import _published_or_warehouse, _say
from orchestration.lib.settings import Settings


def cmd_features(args: argparse.Namespace) -> int:
    import duckdb

    from orchestration.lib.features.catalog import feature_catalog, format_catalog

    path = Path(args.db) if args.db else _published_or_warehouse(Settings.from_env())
    with duckdb.connect(str(path), read_only=True) as con:
        try:
            catalog = feature_catalog(con, features_only=not args.all)
        except LookupError as exc:
            _say(f"{path}: {exc}")
            return 1
    print(format_catalog(catalog))
    return 0
