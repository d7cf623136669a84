"""A fingerprint of the published scores: the same data and scorecard must give the same values.

`healthscore run` on a pinned demo (200 accounts x 120 days, seed 7, ending 2026-06-30, with
"today" and the staleness reference pinned to that day), then a hash per column of
scores.health_scores_current and scores.health_scores in key order. Columns that name a run rather
than a score (run ids, code version, batch ids, timestamps of computation) are left out. A change
that should only make the pipeline faster must leave every hash as it is:

    .venv/bin/python -m benchmarks.score_fingerprint --out before.json   # on the old code
    .venv/bin/python -m benchmarks.score_fingerprint --compare before.json

tests/integration/test_scores_fingerprint.py runs the same against tests/snapshots/scores.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

ACCOUNTS, DAYS, SEED, END_DATE = 200, 120, 7, "2026-06-30"
# They name the run, not the score.
VOLATILE = {"run_id", "code_version", "input_batches_id", "computed_at"}
TABLES = {
    "scores.health_scores_current": ("account_id", "as_of_date", "objective"),
    "scores.health_scores": ("account_id", "as_of_date", "objective"),
}


def pinned_env(data_dir: Path, dagster_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTHSCORE_", "DAGSTER_HOME"))}
    return {
        **env,
        "HEALTHSCORE_DATA_DIR": str(data_dir),
        "HEALTHSCORE_TODAY": END_DATE,
        "HEALTHSCORE_REFERENCE_DATE": END_DATE,
        "DAGSTER_HOME": str(dagster_home),
    }


def column_hashes(
    con: duckdb.DuckDBPyConnection, relation: str, key: tuple[str, ...], exclude: set[str] = frozenset()
) -> dict[str, str]:
    """{"column TYPE": md5 of its values in key order} for every column of `relation` not excluded.

    Doubles (and decimals) are rounded to 9 decimals: the order in which a running sum adds its
    terms may move the last bits, never the ninth decimal. Shared by the scores fingerprint and
    tests/integration/test_mart_fingerprint.py."""
    columns = [
        (n, t)
        for n, t in con.execute(f"select column_name, column_type from (describe {relation})").fetchall()
        if n not in exclude
    ]

    def as_text(name: str, kind: str) -> str:
        rounded = kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL")
        value = f'round("{name}", 9)' if rounded else f'"{name}"'
        return f"coalesce(cast({value} as varchar), '<null>')"

    order = ", ".join(key)
    hashes = con.execute(
        "select "
        + ", ".join(f"md5(string_agg({as_text(n, t)}, '|' order by {order}))" for n, t in columns)
        + f" from {relation}"
    ).fetchone()
    return {f"{n} {t}": h for (n, t), h in zip(columns, hashes, strict=True)}


def fingerprint(con: duckdb.DuckDBPyConnection) -> dict:
    """Per table: row count and an md5 per column of its values in key order (doubles to 9 decimals)."""
    out: dict = {}
    for relation, key in TABLES.items():
        (rows,) = con.execute(f"select count(*) from {relation}").fetchone()
        out[relation] = {"rows": rows, "columns": column_hashes(con, relation, key, VOLATILE)}
    return out


def run_pinned_demo(work: Path, python: str = sys.executable) -> dict:
    """Generate the pinned demo, run the pipeline on it with the healthscore CLI, fingerprint it."""
    data, home = work / "data", work / "dagster_home"
    env = pinned_env(data, home)
    cli = [python, "-m", "orchestration.cli"]
    subprocess.run(
        [*cli, "demo-data", "--accounts", str(ACCOUNTS), "--days", str(DAYS), "--seed", str(SEED),
         "--end-date", END_DATE, "--landing", str(data / "landing")],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    run = subprocess.run([*cli, "run"], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"healthscore run failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
    with duckdb.connect(str(data / "warehouse" / "healthscore.duckdb"), read_only=True) as con:
        return fingerprint(con)


def differences(got: dict, stored: dict) -> list[str]:
    found = []
    for relation in sorted(set(got) | set(stored)):
        a, b = got.get(relation, {}), stored.get(relation, {})
        if a.get("rows") != b.get("rows"):
            found.append(f"{relation}: {a.get('rows')} rows, expected {b.get('rows')}")
        ca, cb = a.get("columns", {}), b.get("columns", {})
        found += [f"{relation}.{c}" for c in sorted(set(ca) | set(cb)) if ca.get(c) != cb.get(c)]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the fingerprint to this JSON file")
    parser.add_argument("--compare", help="compare with this JSON file (exit 1 when different)")
    parser.add_argument("--keep", help="run in this folder and keep it (default: a temp folder)")
    args = parser.parse_args()
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="score-fingerprint-"))
    try:
        got = run_pinned_demo(work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.out:
        Path(args.out).write_text(json.dumps(got, indent=2) + "\n")
    print(json.dumps({r: v["rows"] for r, v in got.items()}))
    if args.compare:
        diff = differences(got, json.loads(Path(args.compare).read_text()))
        print("identical" if not diff else "DIFFERENT: " + ", ".join(diff))
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
