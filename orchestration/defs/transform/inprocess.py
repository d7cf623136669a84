"""Run dbt inside the Dagster process (dbtRunner) instead of a `dbt` subprocess per step.

Why: a `dbt build` subprocess pays its start-up and a project parse on every invocation
(about 10 s here; 2.7-4.5 s start-up plus 2.3-5.4 s parse measured on an idle machine), and Dagster splits
this project into three dbt steps around the Python assets (sentiment, scoring). In process,
dbt is imported and the project parsed once per process (partial parsing), and
each build costs only its SQL (about 0.5 s of overhead).

What stays the same: dagster-dbt computes the subset selection for the step and turns each
dbt result event into the Dagster events it would emit for the CLI (Output per model,
AssetCheckResult per test), so lineage, asset checks and blocking behave as before; dbt's
own progress lines still go to stdout. A failed model or test fails the step after every
event has been reported.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg

from orchestration.lib.dbt_cli import project_args
from orchestration.lib.progress import Progress

_MANIFESTS: dict[tuple[str, float, str], Any] = {}
_LOCK = threading.Lock()
_DONE = object()


def _manifest(project_dir: Path, manifest_path: Path):
    """The parsed dbt Manifest, once per process and manifest version.

    Parsed in process (a Manifest read back from manifest.json lacks the generic tests' parse
    state), in a private target folder seeded with the project's partial-parse file, so that
    concurrent processes never write the shared target/. The partial-parse file dbt writes there
    then replaces the seed (atomically): dbt reparses everything when the profile differs from the
    seed's (another warehouse path or engine), and the next run on that profile then parses only
    what changed (docs/benchmarks.md, "Fixed costs of a small run").
    """
    from dbt.cli.main import dbtRunner

    # Parsed per engine too: a manifest holds the macros of the adapter it was parsed for.
    key = (str(manifest_path), manifest_path.stat().st_mtime, os.environ.get("HEALTHSCORE_ENGINE", "duckdb"))
    with _LOCK:
        if key not in _MANIFESTS:
            _MANIFESTS.clear()
            scratch = Path(tempfile.mkdtemp(prefix="dbt-parse-", dir=manifest_path.parent))
            try:
                seed = manifest_path.parent / "partial_parse.msgpack"
                if seed.exists():
                    shutil.copy2(seed, scratch / seed.name)
                result = dbtRunner().invoke(
                    [
                        "parse",
                        "--quiet",
                        "--log-level-file",
                        "none",
                        *project_args(project_dir, scratch, scratch),
                    ]
                )
                parsed = scratch / seed.name
                if result.success and parsed.exists():
                    os.replace(parsed, seed)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            if not result.success:
                raise dg.Failure(f"dbt parse failed: {result.exception}")
            _MANIFESTS[key] = result.result
        return _MANIFESTS[key]


def release_duckdb() -> None:
    """dbt-duckdb keeps its database open in a class-level environment after a build; in
    process that would hold the warehouse with dbt's configuration, so the next connection
    (scoring, a read-only summary) could not open it. Close it: the next build reopens it."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        environment.close()


@contextmanager
def _env(overrides: Mapping[str, str | None]):
    saved = {k: os.environ.get(k) for k in overrides}
    try:
        for k, v in overrides.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_RESULT_EVENTS = ("LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult")


class _NodeState(NamedTuple):
    started: bool
    name: str


def run_dbt(
    context: dg.AssetExecutionContext,
    args: Sequence[str],
    *,
    project_dir: Path,
    manifest_path: Path,
    translator: Any,
    leave_out: Callable[[list[str], Mapping[str, Any]], Collection[str]] | None = None,
) -> Generator[Any, None, list[str]]:
    """`dbt <args>` for the step's selection, in process; yields the step's Dagster events.

    `leave_out` gets the unique ids of the models selected (and the manifest, as parsed here)
    and returns those to leave out of the build, with the tests on them alone (staging tables
    whose inputs did not change: orchestration/lib/staging_builds.py), and unit tests not to run
    (unit_test.* ids). Returns the unique ids of the models built and of the unit tests that
    passed."""
    from dagster_dbt.asset_utils import (
        DAGSTER_DBT_EXCLUDE_METADATA_KEY,
        DAGSTER_DBT_SELECT_METADATA_KEY,
        DAGSTER_DBT_SELECTOR_METADATA_KEY,
        DBT_INDIRECT_SELECTION_ENV,
        get_subset_selection_for_context,
    )
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
    from dagster_dbt.dbt_manifest import validate_manifest
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    manifest_json = validate_manifest(manifest_path)
    selection, indirect = get_subset_selection_for_context(
        context=context,
        manifest=manifest_json,
        select=context.op.tags.get(DAGSTER_DBT_SELECT_METADATA_KEY),
        exclude=context.op.tags.get(DAGSTER_DBT_EXCLUDE_METADATA_KEY),
        selector=context.op.tags.get(DAGSTER_DBT_SELECTOR_METADATA_KEY),
        dagster_dbt_translator=translator,
        current_dbt_indirect_selection_env=os.getenv(DBT_INDIRECT_SELECTION_ENV),
    )
    selection, models, dropped = _without(selection, manifest_json, leave_out, context)
    for uid in dropped:
        # An output all the same: the steps downstream read the table as it is (an output not
        # yielded would make Dagster skip them).
        node = manifest_json["nodes"][uid]
        yield dg.Output(
            None,
            output_name=context.assets_def.get_output_name_for_asset_key(translator.get_asset_key(node)),
            metadata={"rebuilt": False, "why": "same code and raw batches as its last build"},
        )
    if dropped and not selection[selection.index("--select") + 1].strip():
        return []  # every selected model unchanged: nothing to run
    target_path = Path(tempfile.mkdtemp(prefix="dbt-", dir=project_dir / "target"))
    full_args = [
        *args,
        *selection,
        *project_args(project_dir, target_path, target_path),
        # dbt's console output goes through Dagster's log instead (below): levels, the run's log
        # file, the UI's event log; the terminal of `healthscore run` stays quiet by default.
        "--quiet",
        "--no-use-colors",
        # No dbt.log: it went into the step's temp folder, removed after the step, and writing it
        # (a size check for rotation per line) took 2.6 s of dbt's threads in a daily run at M.
        "--log-level-file",
        "none",
    ]
    context.log.debug(f"dbt (in process): {' '.join(full_args)}")

    results: queue.Queue = queue.Queue()

    def on_event(event: Any) -> None:
        if event.info.name in _RESULT_EVENTS:
            results.put(msg_to_dict(event))
        elif event.info.name in ("NodeStart", "NodeFinished"):  # which models run, for progress lines
            results.put(_NodeState(event.info.name == "NodeStart", event.data.node_info.node_name))
        elif event.info.level in ("info", "warn", "error") and event.info.msg:
            results.put((event.info.level, event.info.msg))

    outcome: dict[str, Any] = {}
    passed_unit_tests: list[str] = []

    def invoke() -> None:
        try:
            runner = dbtRunner(manifest=_manifest(project_dir, manifest_path), callbacks=[on_event])
            with _env({DBT_INDIRECT_SELECTION_ENV: indirect, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
                outcome["result"] = runner.invoke(full_args)
        except BaseException as error:  # reported in the step, never lost in the thread
            outcome["error"] = error
        finally:
            release_duckdb()
            results.put(_DONE)

    # dbt's callbacks arrive on its own threads: a worker thread runs dbt, this generator
    # streams the Dagster events as models and tests finish.
    worker = threading.Thread(target=invoke, name="dbt-in-process", daemon=True)
    worker.start()
    # Progress lines (at most one per 15 s): nodes done, and the models running when none finished.
    progress, done, total, latest = Progress(context.log.info), 0, 0, ""
    running: set[str] = set()
    try:
        while True:
            try:
                raw = results.get(timeout=progress.every)
            except queue.Empty:
                progress(
                    f"dbt: {done} of {total} models and tests done; running {', '.join(sorted(running))}"
                    if running
                    else f"dbt: {done} of {total} models and tests done"
                    if done
                    else "dbt: parsing the project and planning the build"
                )
                continue
            if raw is _DONE:
                break
            if isinstance(raw, _NodeState):
                (running.add if raw.started else running.discard)(raw.name)
                continue
            if isinstance(raw, tuple):  # a line dbt would have printed
                level, message = raw
                {"warn": context.log.warning, "error": context.log.error}.get(level, context.log.debug)(
                    f"dbt: {message}"
                )
                continue
            info, data = raw.get("info", {}), raw.get("data", {})
            unique_id = (data.get("node_info") or {}).get("unique_id") or ""
            if unique_id.startswith("unit_test.") and str(data.get("status")).lower() == "pass":
                passed_unit_tests.append(unique_id)
            if data.get("total") or data.get("num_models"):  # a node finished (tests: num_models)
                done, total = done + 1, data.get("total") or data.get("num_models")
                node = data.get("node_info") or {}
                if info.get("name") != "LogTestResult":  # models/<group>/...: the group reads as progress
                    latest = f" ({(node.get('node_path') or '').split('/')[0]}: {node.get('node_name', '?')})"
                progress(f"dbt: {done} of {total} models and tests done{latest}")
            if info.get("msg"):  # models at info (-v), passing tests at debug, failures as such
                level = info.get("level")
                log = (
                    context.log.error
                    if level == "error"
                    else context.log.warning
                    if level == "warn"
                    else context.log.debug
                    if info.get("name") == "LogTestResult"
                    else context.log.info
                )
                log(f"dbt: {info['msg']}")
            event = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
            yield from event.to_default_asset_events(
                manifest=manifest_json, dagster_dbt_translator=translator, context=context
            )
        worker.join()
    finally:
        shutil.rmtree(target_path, ignore_errors=True)
    if "error" in outcome:
        raise dg.Failure(f"dbt {' '.join(args)} could not run: {outcome['error']}") from outcome["error"]
    result = outcome["result"]
    if not result.success:
        failed = []
        for node_result in getattr(result.result, "results", None) or []:
            if str(node_result.status) in ("error", "fail", "runtime error"):
                failed.append(f"{node_result.node.name} ({node_result.status}: {node_result.message})")
        detail = "; ".join(failed) if failed else str(result.exception or "see the dbt output above")
        raise dg.Failure(f"dbt {' '.join(args)} failed: {detail}")
    return models + passed_unit_tests


# The dbt tests left out with their unchanged staging tables in this process (`_without`). Their
# asset checks get no result in the step, so Dagster warns, once per check that gates a later
# step, that the step "will proceed without gating on it": on every daily run, about what the
# step's own INFO line already explains. Those warnings, for exactly these checks, are dropped.
_LEFT_OUT_CHECKS: set[str] = set()
_UNGATED = re.compile(r"^Blocking asset check '[^']*:([^':]+)' emitted no result in step ")


class _LeftOutCheckWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        match = _UNGATED.match(record.getMessage())
        return not (match and match.group(1) in _LEFT_OUT_CHECKS)


logging.getLogger("dagster._core.execution.plan.active").addFilter(_LeftOutCheckWarnings())


def _without(
    selection: list[str],
    manifest: Mapping[str, Any],
    leave_out: Callable[[list[str], Mapping[str, Any]], Collection[str]] | None,
    context: dg.AssetExecutionContext,
) -> tuple[list[str], list[str], list[str]]:
    """The step's `--select` list without the models `leave_out` names and the tests on them
    alone (tests that also read a model still selected stay: dbt's indirect selection, or their
    own entry); the unique ids of the models that stay selected, and of those left out. A
    selection that is not a list of the manifest's resources (`fqn:*`, a selector) is kept whole
    (and nothing is recorded for it: the next run rebuilds what it cannot vouch for)."""
    if "--select" not in selection:
        return selection, [], []
    at = selection.index("--select") + 1
    by_fqn = {".".join(node["fqn"]): uid for uid, node in manifest["nodes"].items()}
    names = selection[at].split()
    uids = [by_fqn.get(name) for name in names]
    if any(uid is None for uid in uids):
        return selection, [], []
    models = [uid for uid in uids if uid.startswith("model.")]
    dropped = set(leave_out(models, manifest)) if leave_out is not None else set()
    unit_tests = sorted(uid for uid in dropped if uid.startswith("unit_test."))
    dropped -= set(unit_tests)
    if unit_tests:
        unit_names = [manifest["unit_tests"][uid]["name"] for uid in unit_tests]
        at_exclude = selection.index("--exclude") + 1 if "--exclude" in selection else None
        excluded = " ".join(f"unit_test:{name}" for name in unit_names)
        if at_exclude is None:
            selection = [*selection, "--exclude", excluded]
        else:
            selection = [
                *selection[:at_exclude],
                f"{selection[at_exclude]} {excluded}".strip(),
                *selection[at_exclude + 1 :],
            ]
        context.log.info(
            f"{len(unit_names)} dbt unit test(s) not run: they passed on this same code before (any change "
            f"of the model, its upstream, the test or a macro runs them again): {', '.join(unit_names)}"
        )
    if not dropped:
        return selection, models, []

    def kept(uid: str) -> bool:
        if uid in dropped:
            return False
        parents = [p for p in manifest["nodes"][uid]["depends_on"]["nodes"] if p.startswith("model.")]
        return not (uid.startswith("test.") and parents and set(parents) <= dropped)

    remaining = [name for name, uid in zip(names, uids, strict=True) if kept(uid)]
    # Every test on the left-out tables alone, listed in the selection or not (dbt's indirect
    # selection adds a selected model's tests; the step's asset checks are all of them).
    _LEFT_OUT_CHECKS.update(
        node["name"] for uid, node in manifest["nodes"].items() if uid.startswith("test.") and not kept(uid)
    )
    context.log.info(
        f"{len(dropped)} staging table(s) unchanged since their last build (same code, same raw "
        f"batches), not rebuilt or retested (`--full-refresh` rebuilds every model): "
        f"{', '.join(sorted(u.split('.')[-1] for u in dropped))}"
    )
    return (
        [*selection[:at], " ".join(remaining), *selection[at + 1 :]],
        [m for m in models if m not in dropped],
        sorted(dropped),
    )
