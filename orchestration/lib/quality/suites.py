"""Great Expectations suites built from the rules, and their reviewable JSON export.

`python -m orchestration.lib.quality.suites` regenerates expectations/suites/ (a test fails when the
committed files drift from the contracts)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from orchestration.lib.contracts.sources import CONTRACTS
from orchestration.lib.quality.policy import ERROR, WARN
from orchestration.lib.quality.rules import Rule, plan_rules, suite_name
from orchestration.lib.settings import PROJECT_ROOT

SUITES_DIR = PROJECT_ROOT / "expectations" / "suites"


_GX_SEVERITY = {ERROR: "critical", WARN: "warning"}


def _gx():
    """Import Great Expectations lazily (about 3 s) and apply the DuckDB fix once."""
    from orchestration.lib.engines.spark import guard_pyspark_import

    guard_pyspark_import()
    import great_expectations as gx
    from great_expectations.execution_engine import sqlalchemy_execution_engine as sae

    # GX reads query results after closing the connection; with duckdb-engine the cursor IS the
    # connection, so every expectation fails with "list index out of range" (GX #10738, #11579).
    # Dialects in _PERSISTED_CONNECTION_DIALECTS get one StaticPool connection kept open for the
    # engine's life instead. GXSqlDialect has no DuckDB member: the tuple is read both as
    # `name in tuple` (string equality) and `d.value` (prefix of the driver name), so a str
    # carrying a `.value` satisfies both.
    if not any(str(getattr(d, "value", d)) == "duckdb" for d in sae._PERSISTED_CONNECTION_DIALECTS):
        sae._PERSISTED_CONNECTION_DIALECTS = (*sae._PERSISTED_CONNECTION_DIALECTS, _DuckDBDialect("duckdb"))
    return gx


class _DuckDBDialect(str):
    value = "duckdb"


def build_suite(source: str, existing_tables: set[str] | None = None):
    """The GX ExpectationSuite for one source (not attached to any context)."""
    return _suite(suite_name(source), source, plan_rules(source, existing_tables))


def _suite(name: str, source: str, rules: Sequence[Rule]):
    gx = _gx()
    expectations = [
        getattr(gx.expectations, rule.expectation)(
            **rule.kwargs,
            description=rule.description,
            severity=_GX_SEVERITY[rule.severity],
            meta={
                "check_name": rule.check_name,
                "category": rule.category,
                "severity": rule.severity,
                "column": rule.column,
            },
        )
        for rule in rules
    ]
    # Expectations are passed to the constructor: add_expectation() needs an active context.
    suite = gx.ExpectationSuite(
        name=name,
        expectations=expectations,
        meta={
            "source": source,
            "generated_from": "orchestration/lib/contracts/sources.py + orchestration/lib/quality/",
        },
    )
    return suite


def suite_json(source: str) -> dict[str, Any]:
    """A deterministic JSON form of the suite (no ids, no GX version), as committed to git."""
    d = build_suite(source).to_json_dict()
    d.pop("id", None)
    d.get("meta", {}).pop("great_expectations_version", None)
    for e in d["expectations"]:
        e.pop("id", None)
        e.pop("rendered_content", None)
    return d


def export_suites(out_dir: Path | str = SUITES_DIR, sources: Iterable[str] | None = None) -> list[Path]:
    """Write expectations/suites/<source>.json for every (or the given) source."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in sources or CONTRACTS:
        path = out / f"{source}.json"
        path.write_text(json.dumps(suite_json(source), indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths
