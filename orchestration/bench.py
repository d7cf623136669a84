"""`make bench`: end-to-end pipeline time, time per stage, peak memory and warehouse size.

    python -m orchestration.bench                 # size S (1,000 accounts x 365 days)
    python -m orchestration.bench --sizes S M     # M: 20,000 accounts (about 10M usage events)

Each size runs in a fresh folder under .bench/<size>/ (the generated landing files are cached
between runs; the warehouse is rebuilt). The pipeline runs as `healthscore run` in a child
process, exactly as a user runs it; peak RSS is the largest resident set of any process in its
tree (getrusage of the children), the stage times come from the run's own timing table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from orchestration.lib.settings import PROJECT_ROOT

SIZES = {"S": (1_000, 365), "M": (20_000, 365), "L": (100_000, 365)}


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_size(name: str, accounts: int, days: int, root: Path) -> dict:
    work = root / name
    landing = work / "landing"
    env = {
        **os.environ,
        "HEALTHSCORE_LANDING_DIR": str(landing),
        "HEALTHSCORE_WAREHOUSE": str(work / "warehouse" / "healthscore.duckdb"),
        "DAGSTER_HOME": str(work / "dagster_home"),
    }
    healthscore = str(Path(sys.executable).parent / "healthscore")
    marker = landing / f".generated-{accounts}x{days}"
    if not marker.exists():
        shutil.rmtree(landing, ignore_errors=True)
        print(f"[{name}] generating {accounts:,} accounts x {days} days ...", flush=True)
        t0 = time.perf_counter()
        subprocess.run(
            [healthscore, "demo-data", "--accounts", str(accounts), "--days", str(days), "--landing", str(landing)],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        print(f"[{name}] generated in {time.perf_counter() - t0:.1f} s", flush=True)
        marker.write_text("ok")
    shutil.rmtree(work / "warehouse", ignore_errors=True)
    shutil.rmtree(work / "dagster_home", ignore_errors=True)
    print(f"[{name}] running the pipeline ...", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run([healthscore, "run"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    (work / "run.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"[{name}] pipeline failed; see {work / 'run.log'}")
    stages = {
        m.group(1).strip(): float(m.group(2))
        for m in re.finditer(r"^\s{2,4}(\S[\w .]+?)\s+([\d.]+) s$", proc.stdout, re.M)
    }
    import duckdb

    with duckdb.connect(env["HEALTHSCORE_WAREHOUSE"], read_only=True) as con:
        events = con.execute("select count(*) from raw.usage_events").fetchone()[0]
    return {
        "size": name,
        "accounts": accounts,
        "days": days,
        "usage_events": events,
        "seconds": round(seconds, 1),
        "stages": stages,
        "peak_rss_mib": round(max(peak_kib, before) / 1024),
        "warehouse_mib": round(_dir_size(work / "warehouse") / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["S"], choices=sorted(SIZES))
    parser.add_argument("--root", default=str(PROJECT_ROOT / ".bench"))
    args = parser.parse_args(argv)
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    results = [run_size(name, *SIZES[name], root) for name in args.sizes]
    print()
    print(f"{'size':<5}{'accounts':>10}{'events':>12}{'seconds':>9}{'peak MiB':>10}{'wh MiB':>8}  stages")
    for r in results:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items() if k != "total")
        print(
            f"{r['size']:<5}{r['accounts']:>10,}{r['usage_events']:>12,}{r['seconds']:>9.1f}"
            f"{r['peak_rss_mib']:>10,}{r['warehouse_mib']:>8}  {stages}"
        )
    (root / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nresults: {root / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
