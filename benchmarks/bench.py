"""`make bench`: the pipeline against the independent yardstick, the own-SQL bound and the pandas peer.

    python -m benchmarks.bench                      # S and M
    python -m benchmarks.bench --sizes L            # L: 100,000 accounts (about 50M usage events)
    python -m benchmarks.bench --sizes XL           # the scale run: 999,999 accounts (6-digit demo ids)
    python -m benchmarks.bench --sizes S --skip-pandas
    python -m benchmarks.bench --sizes M --engine postgres --skip-bound --skip-pandas
                                                       # the pipeline on PostgreSQL (a throwaway
                                                       # server) or a local Spark session

Per size, under .bench/<size>/ (landing files are generated once and cached; warehouses rebuilt):
1. pipeline: `healthscore run` in a child process, exactly as a user runs it; stage times from its
   Timing table;
2. independent: `benchmarks.independent.build`, the feature mart written by hand apart from the dbt
   models (one DuckDB connection), from the pipeline's raw tables; every value compared with the
   pipeline's mart; then the project's scoring SQL over it, timed apart (docs/benchmarks.md);
3. own-SQL bound: `benchmarks.bench_bound` (the project's own compiled dbt SQL in one DuckDB
   connection, no orchestration: what orchestration costs, not how good the SQL is), its scores
   compared with the pipeline's;
4. pandas: `benchmarks.bench_pandas`, capped (default 20 min and 16 GiB RSS: "did not finish").
Each child's peak memory is the largest sum of RSS over its whole process tree, sampled from /proc
every 0.2 s (getrusage only reports the largest single child); the machine's 1-minute load
average is sampled with it (mean and max while the child ran). Results: .bench/results.json, and a
copy per run that later runs do not overwrite: .bench/history/results-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from orchestration.lib.engines.warehouse import memory_limit
from orchestration.lib.settings import PROJECT_ROOT

SIZES = {
    "demo": (500, 365),
    "S": (1_000, 365),
    "5k": (5_000, 365),
    "M": (20_000, 365),
    "L": (100_000, 365),
    "XL": (999_999, 365),
}
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(parents.get(p, []))
    return tree


def _name(pid: int) -> str:
    """A short label for a process: its command line's first words (`python -m x` -> `x`)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a]
    if "-m" in words[:-1]:
        return words[words.index("-m") + 1]
    return " ".join(Path(w).name if "/" in w else w for w in words[:2])[:40] or "?"


def tree_rss_by_process(pid: int) -> dict[int, int]:
    """Bytes resident per process, for pid and all its descendants."""
    sizes = {}
    for p in _children(pid):
        try:
            sizes[p] = int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return sizes


def run_measured(
    cmd: list[str], env: dict, log: Path, timeout: float | None = None, max_rss: int | None = None
) -> dict:
    """Run cmd, sampling its process tree's RSS every 0.2 s; kill it past timeout or max_rss.

    Beside the log, `<log>.rss.tsv` records the tree's RSS every 5 s (wall clock, so it lines up
    with the log's timestamps) and at every new peak (so the file's largest value is the peak);
    the result names the processes at the peak.
    """
    timeline = log.with_suffix(".rss.tsv")
    with log.open("w") as out, timeline.open("w") as tl:
        tl.write("time\telapsed_s\trss_mib\tprocesses (name:MiB)\n")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        peak, at_peak, killed, written = 0, {}, "", -10.0
        loads = [os.getloadavg()[0]]
        try:
            while proc.poll() is None:
                if len(loads) < (time.perf_counter() - t0) / 2:  # one load sample every 2 s
                    loads.append(os.getloadavg()[0])
                sizes = tree_rss_by_process(proc.pid)
                total = sum(sizes.values())
                elapsed = time.perf_counter() - t0
                new_peak = total > peak
                if new_peak:
                    peak = total
                    at_peak = {f"{_name(p)} [{p}]": round(b / 2**20) for p, b in sizes.items()}
                if new_peak or elapsed - written >= 5:
                    written = elapsed
                    procs = " ".join(
                        f"{_name(p)}:{round(b / 2**20)}" for p, b in sizes.items() if b > 32 * 2**20
                    )
                    tl.write(f"{time.strftime('%H:%M:%S')}\t{elapsed:.1f}\t{round(total / 2**20)}\t{procs}\n")
                    tl.flush()
                if timeout and elapsed > timeout:
                    killed = f"time cap {timeout / 60:.0f} min"
                elif max_rss and peak > max_rss:
                    killed = f"memory cap {max_rss / 2**30:.0f} GiB"
                if killed:
                    break
                time.sleep(0.2)
        finally:  # capped, or the benchmark itself interrupted: the child's whole session goes too
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
        seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(peak / 2**20),
        "peak_processes_mib": at_peak,
        "returncode": proc.returncode,
        "killed": killed,
        "load_avg": {"mean": round(sum(loads) / len(loads), 1), "max": round(max(loads), 1)},
        "output": log.read_text(),
    }


def _load(run: dict) -> str:
    return f"load {run['load_avg']['mean']:.1f} (max {run['load_avg']['max']:.1f})"


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _generate(name: str, accounts: int, days: int, landing: Path, env: dict) -> None:
    marker = landing / f".generated-{accounts}x{days}"
    if marker.exists():
        return
    shutil.rmtree(landing, ignore_errors=True)
    print(f"[{name}] generating {accounts:,} accounts x {days} days ...", flush=True)
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "healthscore"),
            "demo-data",
            "--accounts",
            str(accounts),
            "--days",
            str(days),
            "--landing",
            str(landing),
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    print(f"[{name}] generated in {time.perf_counter() - t0:.1f} s", flush=True)
    marker.write_text("ok")


def _engine_env(engine: str, work: Path, stack: ExitStack) -> dict:
    """Settings for a pipeline on `engine`; PostgreSQL gets a throwaway server (stopped by `stack`)."""
    if engine == "duckdb":
        return {}
    if engine == "spark":
        shutil.rmtree(work / "spark", ignore_errors=True)
        return {"HEALTHSCORE_ENGINE": "spark", "HEALTHSCORE_SPARK_DIR": str(work / "spark")}
    import psycopg2

    from tests.support import pg_server as pg_server

    why_not = pg_server.available()
    if why_not:
        raise SystemExit(f"cannot start PostgreSQL for the benchmark: {why_not}")
    server = stack.enter_context(pg_server.postgres_server())
    con = psycopg2.connect(server.dsn)
    con.autocommit = True
    con.cursor().execute("create database healthscore")
    con.close()
    return {
        "HEALTHSCORE_ENGINE": "postgres",
        "HEALTHSCORE_PG_HOST": server.host,
        "HEALTHSCORE_PG_PORT": str(server.port),
        "HEALTHSCORE_PG_USER": server.user,
        "HEALTHSCORE_PG_DBNAME": "healthscore",
    }


def _counts(engine: str, env: dict, warehouse: Path) -> tuple[int, int]:
    """Usage events loaded and feature rows built, read from the engine the pipeline ran on."""
    sql = (
        "select (select count(*) from raw.usage_events),"
        " (select count(*) from marts.fct_account_features_daily)"
    )
    if engine == "duckdb":
        import duckdb

        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql).fetchone()
    # In a child process: the engine's settings live in env, and Spark's JVM ends with it.
    code = (
        "from orchestration.lib.engines.factory import open_engine\n"
        f"with open_engine() as e: print(*e.execute({sql!r}).fetchone())"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    events, rows = out.stdout.split()[-2:]
    return int(events), int(rows)


def run_size(name: str, args: argparse.Namespace, root: Path) -> dict:
    with ExitStack() as stack:
        return _run_size(name, args, root, stack)


def _run_size(name: str, args: argparse.Namespace, root: Path, stack: ExitStack) -> dict:
    accounts, days = SIZES[name]
    days = args.days or days
    work = root / name
    landing = work / "landing"
    # Other engines keep their run's files apart, so a DuckDB result and its warehouse stay put.
    run_dir = work if args.engine == "duckdb" else work / args.engine
    warehouse = run_dir / "warehouse" / "healthscore.duckdb"
    env = {
        **os.environ,
        "HEALTHSCORE_LANDING_DIR": str(landing),
        "HEALTHSCORE_WAREHOUSE": str(warehouse),
        "DAGSTER_HOME": str(run_dir / "dagster_home"),
    }
    _generate(name, accounts, days, landing, env)
    result: dict = {
        "size": name,
        "engine": args.engine,
        "accounts": accounts,
        "days": days,
        "landing_mib": round(_dir_size(landing) / 2**20, 1),
    }

    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(run_dir / "warehouse", ignore_errors=True)
    shutil.rmtree(run_dir / "dagster_home", ignore_errors=True)
    env.update(_engine_env(args.engine, run_dir, stack))
    # the reference date the pipeline's dbt step receives (today, or HEALTHSCORE_REFERENCE_DATE):
    # the independent yardstick builds for the same one even if it runs after midnight
    from orchestration.lib.quality.policy import reference_date

    reference = reference_date().isoformat()
    print(f"[{name}] pipeline (healthscore run, engine {args.engine}) ...", flush=True)
    run = run_measured(
        [str(Path(sys.executable).parent / "healthscore"), "run"], env, run_dir / "pipeline.log"
    )
    if run["returncode"] != 0:
        raise SystemExit(
            f"[{name}] pipeline failed after {run['seconds']} s (peak {run['peak_rss_mib']} MiB); "
            f"see {run_dir / 'pipeline.log'}"
        )
    stages = {
        m.group(1).strip(): float(m.group(2))
        for m in re.finditer(r"^\s{2,4}(\S[\w .]+?)\s+([\d.]+) s$", run["output"], re.M)
    }
    result["usage_events"], result["feature_rows"] = _counts(args.engine, env, warehouse)
    result["pipeline"] = {
        "seconds": run["seconds"],
        "peak_rss_mib": run["peak_rss_mib"],
        "peak_processes_mib": run["peak_processes_mib"],
        "load_avg": run["load_avg"],
        "stages": stages,
        "warehouse_mib": round(_dir_size(run_dir / "warehouse") / 2**20, 1),
    }
    print(
        f"[{name}] pipeline {run['seconds']} s, {_load(run)}, peak {run['peak_rss_mib']} MiB "
        f"({', '.join(f'{k} {v}' for k, v in run['peak_processes_mib'].items())}); "
        f"RSS over time: {run_dir / 'pipeline.rss.tsv'}",
        flush=True,
    )

    if args.skip_independent:
        pass
    elif args.engine != "duckdb":
        print(f"[{name}] independent yardstick skipped: it reads a DuckDB warehouse's raw tables", flush=True)
    else:
        result["independent"] = run_independent(
            name, work, warehouse, env, reference, buckets=args.independent_buckets
        )

    if not args.skip_bound:
        print(
            f"[{name}] own-SQL bound (the project's compiled dbt SQL, one DuckDB connection) ...", flush=True
        )
        bound_db = work / "bound" / "healthscore.duckdb"
        run = run_measured(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_bound",
                "--landing",
                str(landing),
                "--db",
                str(bound_db),
                "--compare",
                str(warehouse),
            ],
            env,
            work / "bound.log",
        )
        if run["returncode"] != 0:
            raise SystemExit(
                f"[{name}] bound failed after {run['seconds']} s (peak {run['peak_rss_mib']} MiB); "
                f"see {work / 'bound.log'}"
            )
        out = run["output"]
        result["bound"] = {
            "seconds": run["seconds"],
            "peak_rss_mib": run["peak_rss_mib"],
            "load_avg": run["load_avg"],
            "stages": json.loads(re.search(r"^STAGES (.*)$", out, re.M).group(1)),
            "compare": json.loads(re.search(r"^COMPARE (.*)$", out, re.M).group(1)),
            "warehouse_mib": round(_dir_size(bound_db.parent) / 2**20, 1),
        }
        print(
            f"[{name}] own-SQL bound {run['seconds']} s, {_load(run)}, peak {run['peak_rss_mib']} MiB, "
            f"scores vs pipeline {result['bound']['compare']}",
            flush=True,
        )
        shutil.rmtree(bound_db.parent, ignore_errors=True)

    if not args.skip_pandas:
        print(f"[{name}] pandas peer (cap {args.pandas_minutes} min, {args.pandas_gib} GiB) ...", flush=True)
        run = run_measured(
            [sys.executable, "-m", "benchmarks.bench_pandas", "--landing", str(landing)],
            env,
            work / "pandas.log",
            timeout=args.pandas_minutes * 60,
            max_rss=int(args.pandas_gib * 2**30),
        )
        finished = run["returncode"] == 0
        result["pandas"] = {
            "seconds": run["seconds"],
            "peak_rss_mib": run["peak_rss_mib"],
            "load_avg": run["load_avg"],
            "finished": finished,
            "why_not": run["killed"] or ("" if finished else f"exit {run['returncode']}"),
        }
        print(
            f"[{name}] pandas {run['seconds']} s, {_load(run)}, peak {run['peak_rss_mib']} MiB"
            + ("" if finished else f" DID NOT FINISH ({result['pandas']['why_not']})"),
            flush=True,
        )
    return result


def run_independent(
    name: str, work: Path, warehouse: Path, env: dict, reference: str, *, buckets: int = 0
) -> dict:
    """The independent yardstick from the pipeline's raw tables, checked value by value against
    the pipeline's mart, then scored (the pipeline's first-run history) and timed apart.
    buckets: its account buckets (0: its default, one per 20,000 accounts)."""
    print(f"[{name}] independent yardstick (hand-written SQL, one DuckDB connection) ...", flush=True)
    out = work / "independent" / "healthscore.duckdb"
    run = run_measured(
        [
            sys.executable,
            "-m",
            "benchmarks.independent.build",
            "--warehouse",
            str(warehouse),
            "--out",
            str(out),
            "--reference-date",
            reference,
            "--compare",
            "--score-history-days",
            "90",
            *(["--buckets", str(buckets)] if buckets else []),
        ],
        env,
        work / "independent.log",
    )
    out_text = run["output"]
    found = re.search(r"^STAGES (.*)$", out_text, re.M)
    if not found:
        raise SystemExit(f"[{name}] independent build failed; see {work / 'independent.log'}")
    stages = json.loads(found.group(1))
    compare = json.loads(re.search(r"^COMPARE (.*)$", out_text, re.M).group(1))
    from benchmarks.independent.build import is_equal

    equal = is_equal(compare)
    result = {
        "seconds": run["seconds"],
        # the child's own clock: the mart, and the project's scoring SQL over it
        "mart_seconds": round(stages["mart"], 1),
        "scoring_seconds": round(stages.get("scoring", 0.0), 1),
        "peak_rss_mib": run["peak_rss_mib"],
        "load_avg": run["load_avg"],
        "stages": stages,
        "equal": equal,
        "compare": compare,
    }
    verdict = (
        f"EQUAL to the pipeline's mart ({compare['pipeline_rows']:,} rows x {compare['columns_compared']} columns)"
        if equal
        else "DIFFERENT from the pipeline's mart: "
        + json.dumps(
            {
                k: compare[k]
                for k in ("unmatched_rows", "only_in_pipeline", "only_in_independent")
                if compare[k]
            }
            | {c: m["rows"] for c, m in compare["mismatches"].items()}
        )
    )
    print(
        f"[{name}] independent mart {result['mart_seconds']} s + scoring {result['scoring_seconds']} s "
        f"(process {run['seconds']} s), {_load(run)}, peak {run['peak_rss_mib']} MiB; {verdict}",
        flush=True,
    )
    shutil.rmtree(out.parent, ignore_errors=True)
    return result


def _mean_load(run: dict | None) -> str:
    return f"{run['load_avg']['mean']:.1f}" if run and "load_avg" in run else "-"


def ratio_table(results: list[dict]) -> str:
    """Per size: the pipeline against the independent yardstick (the ratio that says how good the
    SQL is), then against the own-SQL bound and the pandas peer; each time with its load average."""
    lines = [
        f"{'size':<5}{'accounts':>10}{'events':>12}{'pipeline s':>11}{'load':>6}"
        f"{'indep s':>9}{'+scoring':>9}{'load':>6}{'indep MiB':>10}{'pipe/indep':>11}{'pipe/(i+sc)':>12}"
        f"{'equal':>7}"
    ]
    for r in results:
        p, i = r["pipeline"], r.get("independent")
        row = (
            f"{r['size']:<5}{r['accounts']:>10,}{r['usage_events']:>12,}{p['seconds']:>11.1f}"
            f"{_mean_load(p):>6}"
        )
        if i:
            with_scoring = i["mart_seconds"] + i["scoring_seconds"]
            row += (
                f"{i['mart_seconds']:>9.1f}{with_scoring:>9.1f}{_mean_load(i):>6}"
                f"{i['peak_rss_mib']:>10,}{p['seconds'] / i['mart_seconds']:>10.1f}x"
                f"{p['seconds'] / with_scoring:>11.1f}x{'yes' if i['equal'] else 'NO':>7}"
            )
        else:
            row += f"{'-':>9}{'-':>9}{'-':>6}{'-':>10}{'-':>11}{'-':>12}{'-':>7}"
        lines.append(row)
    lines += [
        "",
        f"{'size':<5}{'own-SQL s':>10}{'load':>6}{'pipe/own':>9}{'pandas s':>10}{'load':>6}{'pandas/pipe':>12}"
        f"{'pipe MiB':>9}{'own MiB':>9}{'pandas MiB':>11}{'gates %':>8}",
    ]
    for r in results:
        p = r["pipeline"]
        b, pd_ = r.get("bound"), r.get("pandas")
        gates = p["stages"].get("quality checks", 0.0)
        pandas_s = "-" if not pd_ else (f"{pd_['seconds']:.0f}" if pd_["finished"] else "DNF")
        if not pd_:
            speedup = "-"
        elif pd_["finished"]:
            speedup = f"{pd_['seconds'] / p['seconds']:.1f}x"
        elif "time cap" in pd_["why_not"]:  # it was still running: at least this much slower
            speedup = f">{pd_['seconds'] / p['seconds']:.1f}x"
        else:  # out of memory: no time to compare
            speedup = "no (mem)"
        own_s = f"{b['seconds']:.1f}" if b else "-"
        own_load = _mean_load(b)
        pipe_own = f"{p['seconds'] / b['seconds']:.2f}x" if b else "-"
        pandas_load = _mean_load(pd_)
        lines.append(
            f"{r['size']:<5}{own_s:>10}{own_load:>6}{pipe_own:>9}{pandas_s:>10}{pandas_load:>6}{speedup:>12}"
            f"{p['peak_rss_mib']:>9,}{(b['peak_rss_mib'] if b else 0):>9,}"
            f"{(pd_['peak_rss_mib'] if pd_ else 0):>11,}{100 * gates / p['seconds']:>7.0f}%"
        )
    lines.append("")
    for r in results:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["pipeline"]["stages"].items() if k != "total")
        lines.append(f"{r['size']} pipeline stages (s): {stages}")
        if r.get("independent"):
            lines.append(
                f"{r['size']} independent stages (s): "
                + ", ".join(f"{k} {v:.1f}" for k, v in r["independent"]["stages"].items())
            )
        if r.get("bound"):
            lines.append(
                f"{r['size']} own-SQL bound stages (s): "
                + ", ".join(f"{k} {v:.1f}" for k, v in r["bound"]["stages"].items())
                + f"; scores vs pipeline: {r['bound']['compare']}"
            )
    return "\n".join(lines)


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = (
        int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
        * 1024
    )
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "cpu": cpu,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["S", "M"], choices=list(SIZES))
    parser.add_argument("--root", default=str(PROJECT_ROOT / ".bench"))
    parser.add_argument(
        "--engine",
        default="duckdb",
        choices=["duckdb", "postgres", "spark"],
        help="the warehouse the pipeline runs on (the bound and the peer are DuckDB and pandas)",
    )
    parser.add_argument(
        "--skip-independent",
        action="store_true",
        help="skip the independent yardstick (and its equality check)",
    )
    parser.add_argument(
        "--independent-buckets",
        type=int,
        default=0,
        help="account buckets of the independent yardstick (default 0: one per 20,000 accounts)",
    )
    parser.add_argument(
        "--skip-bound", action="store_true", help="skip the own-SQL bound (the project's compiled dbt SQL)"
    )
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--pandas-minutes", type=float, default=20)
    parser.add_argument("--pandas-gib", type=float, default=16)
    parser.add_argument(
        "--days", type=int, default=0, help="days of history instead of the size's 365 (a shorter scale run)"
    )
    args = parser.parse_args(argv)
    # `kill` (SIGTERM) unwinds like Ctrl-C: the running child and a throwaway PostgreSQL stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    results = [run_size(name, args, root) for name in args.sizes]
    print()
    print(ratio_table(results))
    summary = {
        "machine": machine(),
        "command": "python -m benchmarks.bench " + " ".join(argv or sys.argv[1:]),
        # the settings that change speed and memory, as this run had them
        "settings": {
            "HEALTHSCORE_DUCKDB_MEMORY_LIMIT": memory_limit(),
            "HEALTHSCORE_DBT_THREADS": os.environ.get("HEALTHSCORE_DBT_THREADS", "2"),
        },
        "results": results,
    }
    out, kept = write_results(
        root, "results" if args.engine == "duckdb" else f"results-{args.engine}", summary
    )
    print(f"\nresults: {out} (kept as {kept})")
    return 0


def write_results(root: Path, name: str, payload: dict, now: dt.datetime | None = None) -> tuple[Path, Path]:
    """`<root>/<name>.json`, the latest results, and a copy that the next run does not overwrite:
    `<root>/history/<name>-<UTC time>.json`. A benchmark's figures are quoted in docs/benchmarks.md
    with the file they came from, so a rerun must not replace them."""
    text = json.dumps(payload, indent=2, default=str)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    kept = root / "history" / f"{name}-{stamp}.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(text)
    latest = root / f"{name}.json"
    latest.write_text(text)
    return latest, kept


if __name__ == "__main__":
    raise SystemExit(main())
