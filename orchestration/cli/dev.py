"""`healthscore dev`: the Dagster UI on this checkout's run history, or on an example's
(`--example ravenstack`: its own warehouse, mappings, reference date and Dagster home)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from orchestration.cli.common import _dagster_home, _say, ensure_manifest
from orchestration.lib.settings import PROJECT_ROOT, Settings

# `dagster dev` is superseded by `dg dev` (not installed here): its notice says nothing to act on.
DEV_COMMAND_NOTICE = "ignore:Function `dev_command` is superseded"


def dev_command(host: str, port: int, example: str = "", say=_say) -> tuple[list[str], dict[str, str]]:
    """The `dagster dev` command line and its environment (the example's when one is given)."""
    if example:
        from orchestration.lib.ingest.examples import apply_example

        reference_date = apply_example(example, say=say).reference_date
        # The example's data has no later days: its Partitions tab ends there, not today (set for
        # the UI only: a run scores its reference date's partition either way).
        os.environ["HEALTHSCORE_PARTITIONS_END"] = reference_date.isoformat()
    home = _dagster_home()
    # The code location's resources and dbt's profile read the warehouse path from the environment.
    os.environ.setdefault("HEALTHSCORE_WAREHOUSE", str(Settings.from_env().warehouse_path))
    warnings = os.environ.get("PYTHONWARNINGS", "")
    env = {**os.environ, "PYTHONWARNINGS": ",".join(w for w in (warnings, DEV_COMMAND_NOTICE) if w)}
    dagster = Path(sys.executable).with_name("dagster")
    workspace = PROJECT_ROOT / "workspace.yaml"
    say(f"Dagster UI on http://{host}:{port} (run history: DAGSTER_HOME={home}); Ctrl-C stops it.")
    return [str(dagster), "dev", "-h", host, "-p", str(port), "-w", str(workspace)], env


def cmd_dev(args: argparse.Namespace) -> int:
    argv, env = dev_command(args.host, args.port, example=args.example)
    ensure_manifest()  # parses dbt only when its files changed since the last parse
    # Started from a script or make, SIGINT may arrive ignored: `dagster dev` would then not stop on
    # Ctrl-C / kill -INT (STACK.md). Default it before handing the process over.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execve(argv[0], argv, env)
    return 0  # not reached
