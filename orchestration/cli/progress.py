"""What `healthscore run` prints while the pipeline runs, and the full log it keeps in a file.

By default the terminal gets one line per stage (ingest, quality gates, dbt, scoring, publish),
the progress lines of long steps (orchestration/lib/progress.py: at most one per step every 15 s),
every warning and error, and each failed step; `-v` adds the pipeline's own progress messages
(rows loaded per file, dbt models built, score versions). Everything, Dagster's DEBUG events and
dbt's output included, goes to the log file whatever the verbosity.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from typing import TextIO

import dagster as dg

from orchestration.lib.progress import PROGRESS_PREFIX

QUIET, VERBOSE, DEBUG = "quiet", "verbose", "debug"
# Messages that say nothing to a user of the command (still in the log file).
_NOISE = ("A dbt subsetted execution is being performed",)
# Dagster names a step that did not run once per output it would have read: "... were not
# executed: ['healthscore_dbt_models_2', 'healthscore_dbt_models_2', ...]" (17 times for the dbt
# step after a blocking gate failed). The terminal names each upstream step once.
_NOT_EXECUTING = re.compile(
    r"^(Dependencies for step \S+ (?:failed|were not executed)): \[(.*)\]\. Not executing\.$"
)


def readable(message: str) -> str:
    """A message for the terminal: Dagster's list of steps that did not run, each named once."""
    match = _NOT_EXECUTING.match(message)
    if not match:
        return message
    steps = list(dict.fromkeys(name.strip(" '\"") for name in match.group(2).split(",") if name.strip()))
    return f"{match.group(1)}: {', '.join(steps)}. Not executing."


def stage_of(step_key: str) -> str:
    """The stage a step belongs to, as the timing table and the progress lines name it."""
    if "quality" in step_key or "check" in step_key:
        return "quality gates"
    if step_key.startswith("raw_"):
        return "ingest"
    if "health_scores" in step_key:
        return "scoring"
    if "dbt" in step_key:
        return "dbt models"
    if step_key.startswith("published"):
        return "publish"
    if step_key.startswith("sentiment"):
        return "sentiment"
    return step_key


class _ProgressHandler(logging.Handler):
    def __init__(self, verbosity: str, out: TextIO, log: TextIO | None) -> None:
        super().__init__(level=logging.DEBUG)
        self.verbosity = verbosity
        self.out = out
        self.stage: str | None = None
        self.file = log

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key")
        message = str(meta.get("orig_message") or record.getMessage())
        when = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        if self.file is not None:
            label = step or "-"
            kind = event.event_type_value if event is not None else record.levelname
            self.file.write(f"{when} {record.levelname:<7} {label} {kind}: {message}\n")
            self.file.flush()
        kind = event.event_type_value if event is not None else None
        if kind == "STEP_START" and step:
            stage = stage_of(step)
            if stage != self.stage:
                self.stage = stage
                self._say(f"[{when}] {stage} ...")
            return
        if kind == "STEP_FAILURE" and step:
            error = getattr(event.event_specific_data, "error", None)
            detail = error.message.strip().splitlines()[0] if error is not None and error.message else ""
            self._say(f"[{when}] FAILED {step}: {detail}")
            return
        if event is not None and self.verbosity != DEBUG:
            return  # Dagster's own events: in the file
        if any(message.startswith(n) for n in _NOISE) and self.verbosity != DEBUG:
            return
        if message.startswith(PROGRESS_PREFIX) and record.levelno >= logging.INFO:
            self._say(f"[{when}] {step + ': ' if step else ''}{message.removeprefix(PROGRESS_PREFIX)}")
            return
        if (
            record.levelno >= logging.WARNING
            or (record.levelno >= logging.INFO and self.verbosity in (VERBOSE, DEBUG))
            or self.verbosity == DEBUG
        ):
            prefix = f"{record.levelname}: " if record.levelno >= logging.WARNING else ""
            self._say(f"[{when}] {prefix}{step + ': ' if step else ''}{readable(message)}")


def progress_logger(verbosity: str = QUIET, log: TextIO | None = None, out: TextIO | None = None):
    """A Dagster logger definition for `job.with_logger_defs` (replaces the console logger).
    `log`: an open text file that receives every record (the caller closes it)."""

    @dg.logger(description="healthscore run: stage lines and warnings; the full log in a file")
    def _logger(_init_context):
        logger = logging.Logger("healthscore", level=logging.DEBUG)
        logger.addHandler(_ProgressHandler(verbosity, out or sys.stdout, log))
        return logger

    return _logger
