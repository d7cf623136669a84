"""The own-SQL bound for `make bench`: the project's own SQL in one DuckDB connection, no orchestration.

Built from our own compiled dbt SQL, it shows what orchestration, quality gates and publishing
cost, not how good that SQL is: the independent yardstick (benchmarks/independent) does that.

    python -m benchmarks.bench_bound --landing .bench/S/landing --db .bench/S/bound/healthscore.duckdb

What it runs, in one process and one connection:
1. raw.<source> as views over the landing Parquet files (typed per contract, with the load-metadata
   columns the loader adds), instead of the loader's batch tables;
2. every staging / intermediate / mart model that the scores need, from the `dbt compile` output of
   this project (compiled once into .bench/dbt_compile, not timed), in the manifest's dependency
   order, with the project's materialisations;
3. the sentiment texts through the same model the pipeline uses (a Python model: there is no SQL
   version of it), between staging and the intermediate models, as in the pipeline;
4. the scorecard's compiled SQL (`compute_scores`) for the same as_of range the pipeline scores
   (the first run's history: 90 days capped at 100,000 account-days).

No quality gates, no Dagster, no dbt at run time, no publishing: the best this engine does with the
same SQL. `compare_with_pipeline` checks its scores against a pipeline warehouse.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

from orchestration.lib.dbt_cli import dbt_executable, project_args
from orchestration.lib.settings import PROJECT_ROOT

DBT_PROJECT = PROJECT_ROOT / "dbt_project"
# The compiled SQL names the catalog after the warehouse file's stem: keep it "healthscore".
CATALOG = "healthscore"


def compile_project(target_dir: Path) -> Path:
    """`dbt compile` into target_dir (its own folder: never the pipeline's target/); cached by mtime."""
    manifest = target_dir / "manifest.json"
    sources = [
        p for p in DBT_PROJECT.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"} and "target" not in p.parts
    ]
    if manifest.exists() and all(p.stat().st_mtime <= manifest.stat().st_mtime for p in sources):
        return manifest
    target_dir.mkdir(parents=True, exist_ok=True)
    # int_account_sentiment_daily looks the sentiment table up at compile time (empty features
    # without it): compile against a database that has it, as the pipeline's second dbt step does.
    import duckdb

    with duckdb.connect(str(target_dir / f"{CATALOG}.duckdb")) as con:
        con.execute("create schema if not exists sentiment")
        con.execute(
            """create table if not exists sentiment.text_scores (channel varchar, record_id varchar,
            account_id varchar, known_at timestamp, content_hash varchar, model_version varchar,
            compound double, label varchar, is_very_negative boolean, topic varchar, excerpt varchar)"""
        )
    env = {**os.environ, "HEALTHSCORE_WAREHOUSE": str(target_dir / f"{CATALOG}.duckdb")}
    subprocess.run(
        [dbt_executable(), "compile", "--quiet", *project_args(DBT_PROJECT, target_dir)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return manifest


def model_plan(manifest_path: Path) -> list[tuple[str, str, str, str]]:
    """(schema, name, materialisation, compiled SQL) of every model the features need, in dependency order.

    The bi models read the published scores, so they are left out (the bound stops at the scores)."""
    manifest = json.loads(manifest_path.read_text())
    nodes = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    wanted = {k for k, n in nodes.items() if "bi" not in n["fqn"][1:-1]}
    order: list[str] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        for dep in nodes[key]["depends_on"]["nodes"]:
            if dep in wanted:
                visit(dep)
        order.append(key)

    for key in sorted(wanted):
        visit(key)
    plan = []
    for key in order:
        node = nodes[key]
        compiled = Path(manifest_path.parent / "compiled" / node["package_name"] / node["original_file_path"])
        plan.append(
            (
                node["schema"],
                node.get("alias") or node["name"],
                node["config"]["materialized"],
                compiled.read_text(),
            )
        )
    return plan


def raw_view_sql(con, landing: Path, contract) -> str:
    """The landing files of a source, typed and filtered by the loader's own rules (rows the loader
    quarantines are left out here too), with the load-metadata columns the staging models read."""
    from orchestration.lib.ingest.files import _validation_sql

    files = sorted(str(p) for p in (landing / contract.name).glob("*.parquet"))
    if not files:
        cols = ", ".join(f"cast(null as {c.type}) as {c.name}" for c in contract.columns)
        return (
            f"select {cols}, '' as _batch_id, '' as _source_file, '' as _file_checksum, "
            "cast(0 as bigint) as _row_number, cast(null as timestamp) as _loaded_at where false"
        )
    stage = (
        f"(select file_row_number + 1 as __row_number, * exclude (file_row_number) "
        f"from read_parquet({files!r}, file_row_number = true)) as landed"
    )
    names = [r[0] for r in con.execute(f"select * from {stage} limit 0").description]
    columns = {n.strip().lower(): n for n in names if n != "__row_number"}
    validated = _validation_sql(contract, columns, stage)
    cols = ", ".join(c.name for c in contract.columns)
    return (
        f"select {cols}, 'bound' as _batch_id, '' as _source_file, '' as _file_checksum, "
        f"cast(__row_number as bigint) as _row_number, cast(timestamp '2000-01-01' as timestamp) as _loaded_at "
        f"from ({validated}) as v where len(__violations) = 0"
    )


def run_bound(
    landing: Path,
    db_path: Path,
    *,
    compile_dir: Path | None = None,
    history_days: int = 90,
    memory_limit: str | None = None,
    log=print,
) -> dict:
    """Build features and scores from landing files in one connection. Returns seconds per stage."""
    import duckdb

    from orchestration.lib.contracts.sources import CONTRACTS
    from orchestration.lib.scoring.scorecard import load_scorecard_for
    from orchestration.lib.scoring.scores import compute_scores, history_days_for
    from orchestration.lib.sentiment.model import load_model
    from orchestration.lib.sentiment.score import score_warehouse_texts

    manifest = compile_project(compile_dir or PROJECT_ROOT / ".bench" / "dbt_compile")
    plan = model_plan(manifest)
    if db_path.name != f"{CATALOG}.duckdb":
        raise ValueError(
            f"the bound's database file must be named {CATALOG}.duckdb (the compiled SQL's catalog)"
        )
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for p in (db_path, db_path.with_suffix(".duckdb.wal")):
        p.unlink(missing_ok=True)
    stages: dict[str, float] = {}
    started = time.perf_counter()
    con = duckdb.connect(
        str(db_path), config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    if memory_limit:
        con.execute(f"set memory_limit = '{memory_limit}'")
    t0 = time.perf_counter()
    con.execute("create schema if not exists raw")
    for contract in CONTRACTS.values():
        con.execute(f"create view raw.{contract.name} as {raw_view_sql(con, landing, contract)}")
    stages["raw views"] = time.perf_counter() - t0

    staging = [m for m in plan if m[0] == "staging"]
    rest = [m for m in plan if m[0] != "staging"]

    def build(models) -> None:
        for schema, name, materialized, sql in models:
            con.execute(f"create schema if not exists {schema}")
            kind = "view" if materialized == "view" else "table"
            con.execute(f"create or replace {kind} {schema}.{name} as {sql}")

    t0 = time.perf_counter()
    build(staging)
    stages["staging"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    relations = {
        "tickets": "staging.stg_support__tickets",
        "surveys": "staging.stg_surveys__responses",
        "notes": "staging.stg_crm__account_notes",
        "social": "staging.stg_social__mentions",
    }
    score_warehouse_texts(con, relations, load_model())
    stages["sentiment"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    build(rest)
    stages["features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    card = load_scorecard_for(
        con, PROJECT_ROOT / "scorecards" / "default.yml", "marts.fct_account_features_daily"
    )
    end, accounts = con.execute(
        "select max(as_of_date), count(distinct account_id) from marts.fct_account_features_daily "
        "where as_of_date = (select max(as_of_date) from marts.fct_account_features_daily)"
    ).fetchone()
    # the same first-run history as the pipeline: history_days, capped in account-days
    start = end - dt.timedelta(days=history_days_for(accounts, history_days) - 1)
    compute_scores(
        con, card, features_table="marts.fct_account_features_daily", as_of_start=start, as_of_end=end
    )
    con.execute("create or replace table main.bound_scores as select * from _sc_final")
    stages["scoring"] = time.perf_counter() - t0
    con.close()
    stages["total"] = time.perf_counter() - started
    log(f"bound: {', '.join(f'{k} {v:.1f} s' for k, v in stages.items())}")
    return stages


def compare_with_pipeline(bound_db: Path, pipeline_db: Path) -> dict:
    """Scores of the bound vs the pipeline's latest score version, same accounts, dates, objectives."""
    import duckdb

    con = duckdb.connect(str(bound_db), read_only=True)
    try:
        con.execute(f"attach '{pipeline_db}' as pipeline (read_only)")
        row = con.execute(
            """
            with p as (
                select account_id, as_of_date, objective, health_score as final_score, grade
                from pipeline.scores.health_scores
                where score_version = (select max(score_version) from pipeline.scores.health_scores)
            ),
            b as (select account_id, as_of_date, objective, final_score, grade from main.bound_scores)
            select
                (select count(*) from p) as pipeline_rows,
                (select count(*) from b) as bound_rows,
                count(*) filter (where p.account_id is null or b.account_id is null) as unmatched,
                count(*) filter (where p.account_id is not null and b.account_id is not null
                    and (abs(coalesce(p.final_score, -1) - coalesce(b.final_score, -1)) > 1e-6
                         or coalesce(p.grade, '') <> coalesce(b.grade, ''))) as different
            from p full outer join b using (account_id, as_of_date, objective)
            """
        ).fetchone()
    finally:
        con.close()
    return dict(zip(["pipeline_rows", "bound_rows", "unmatched", "different"], row, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--landing", required=True)
    parser.add_argument("--db", required=True, help=f"output DuckDB file, named {CATALOG}.duckdb")
    parser.add_argument("--compile-dir", default=str(PROJECT_ROOT / ".bench" / "dbt_compile"))
    parser.add_argument("--history-days", type=int, default=90)
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--compare", help="a pipeline warehouse to compare the scores with")
    args = parser.parse_args(argv)
    stages = run_bound(
        Path(args.landing),
        Path(args.db),
        compile_dir=Path(args.compile_dir),
        history_days=args.history_days,
        memory_limit=args.memory_limit,
    )
    print("STAGES " + json.dumps(stages))
    if args.compare:
        print("COMPARE " + json.dumps(compare_with_pipeline(Path(args.db), Path(args.compare)), default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
