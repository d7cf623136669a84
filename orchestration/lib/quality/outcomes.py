"""What a validation produces: one outcome per expectation, one verdict per load batch."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestration.lib import clock
from orchestration.lib.quality.policy import CATEGORIES, ERROR, SAMPLE_SIZE, UNIQUENESS, WARN
from orchestration.lib.quality.rules import Rule

RESULTS_TABLE = "quality.check_results"


@dataclass
class ExpectationOutcome:
    check_name: str
    source: str
    category: str
    expectation: str  # GX expectation type, e.g. expect_column_values_to_not_be_null
    column: str | None
    severity: str
    success: bool
    observed_value: Any  # JSON-safe
    unexpected_count: int | None
    failing_sample: list[Any]  # up to SAMPLE_SIZE failing rows (keys + values) or values
    description: str = ""
    scope: str = "rows"  # SCOPE_ROWS, SCOPE_TABLE or SCOPE_CARRIED (see "Incremental validation")
    rows_checked: int | None = None  # rows the expectation was evaluated on (None when carried)
    carried_from_run: str | None = None  # the run whose verdict a carried outcome repeats

    @property
    def blocking(self) -> bool:
        return not self.success and self.severity == ERROR


@dataclass
class BatchVerdict:
    """One load batch validated in a run, and its verdict (quality.validated_batches)."""

    batch_id: str
    loaded_at: dt.datetime | None
    rows: int
    reopened: bool = False  # its previous verdict was error
    verdict: str = "passed"  # passed | warn | error (the row-level outcome of the rows validated with it)


@dataclass
class SourceQualityResult:
    source: str
    suite_name: str
    run_id: str
    checked_at: dt.datetime
    results: list[ExpectationOutcome] = field(default_factory=list)
    seconds: float = 0.0
    # What this run validated: the load batches (new ones, and earlier ones still failing with an
    # error), their rows, and the batches among them that were re-opened by an earlier error.
    batches: list[BatchVerdict] = field(default_factory=list)
    carried_from_run: str | None = None  # set when nothing was new: row-level verdicts repeated
    ran_gx: bool = False

    @property
    def rows_validated(self) -> int:
        return sum(b.rows for b in self.batches)

    @property
    def scope_summary(self) -> str:
        """One line for logs and check metadata: what this run looked at."""
        if self.carried_from_run:
            previous = (
                "failed" if any(not r.success for r in self.results if r.scope == SCOPE_CARRIED) else "passed"
            )
            return f"no new batches since run {self.carried_from_run}; last verdict {previous} (repeated)"
        if not self.batches:
            return "no rows to validate"
        reopened = sum(1 for b in self.batches if b.reopened)
        text = f"{len(self.batches)} batch(es), {self.rows_validated:,} rows validated"
        return text + (f" ({reopened} re-checked after an earlier error)" if reopened else "")

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def category(self, category: str) -> list[ExpectationOutcome]:
        return [r for r in self.results if r.category == category]

    def category_outcome(self, category: str) -> tuple[bool, str]:
        """(passed, severity) of a whole category: severity is error when a failed
        expectation in it has error severity, else warn."""
        rows = self.category(category)
        passed = all(r.success for r in rows)
        severity = ERROR if any(r.blocking for r in rows) else WARN
        return passed, severity

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["checked_at"] = self.checked_at.isoformat()
        return d


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value else None  # NaN -> None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return str(value)


def rule_outcome(
    rule: Rule,
    expectation: str,
    success: bool,
    observed: Any,
    unexpected: int | None,
    sample: list[Any],
    *,
    source: str | None = None,
    severity: str | None = None,
    **extra: Any,
) -> ExpectationOutcome:
    """The outcome of one rule: its name, category, column and description from the rule; source and
    severity from the rule unless given (a carried verdict keeps the severity it was stored with)."""
    return ExpectationOutcome(
        rule.check_name,
        rule.source if source is None else source,
        rule.category,
        expectation,
        rule.column,
        rule.severity if severity is None else severity,
        success,
        observed,
        unexpected,
        sample,
        rule.description,
        **extra,
    )


def _outcome(rule: Rule, gx_result: Any) -> ExpectationOutcome:
    result = gx_result.result or {}
    exc = gx_result.exception_info or {}
    if not exc.get("raised_exception") and isinstance(exc, dict):
        # Metric errors come back keyed by metric id: {"MetricConfigurationID(...)": {...}}.
        nested = [v for v in exc.values() if isinstance(v, dict) and v.get("raised_exception")]
        exc = nested[0] if nested else exc
    expectation = gx_result.expectation_config.type
    if exc.get("raised_exception"):
        message = str(exc.get("exception_message") or "unknown error").splitlines()[0]
        return rule_outcome(rule, expectation, False, f"error: {message}"[:500], None, [])
    if "unexpected_rows" in result.get("details", {}) or rule.expectation == "UnexpectedRowsExpectation":
        unexpected = result.get("observed_value")
        observed: Any = unexpected
        rows = result.get("details", {}).get("unexpected_rows", [])
        if rule.category == UNIQUENESS:  # one row per duplicated raw row: keep each key once
            rows = list({json.dumps(_json_safe(r), sort_keys=True): r for r in rows}.values())
        sample = rows[:SAMPLE_SIZE]
    elif "unexpected_count" in result:
        unexpected = result.get("unexpected_count")
        observed = result.get("unexpected_percent")  # share of rows failing, in %
        if rule.category == UNIQUENESS:  # duplicated key values with their counts
            sample = result.get("partial_unexpected_counts") or []
        else:  # failing rows: primary key + value
            sample = (
                result.get("partial_unexpected_index_list") or result.get("partial_unexpected_list") or []
            )
        sample = sample[:SAMPLE_SIZE]
    else:
        unexpected = None
        observed = result.get("observed_value")
        sample = [] if gx_result.success else [{"observed_value": observed}]
    return rule_outcome(
        rule,
        expectation,
        bool(gx_result.success),
        _json_safe(observed),
        None if unexpected is None else int(unexpected),
        _json_safe(list(sample)),
    )


def _missing_table_outcomes(source: str) -> list[ExpectationOutcome]:
    return [
        ExpectationOutcome(
            f"{source}.{cat}.table_exists",
            source,
            cat,
            "table_exists",
            None,
            ERROR,
            False,
            f"raw.{source} does not exist",
            None,
            [],
            "The raw table exists.",
        )
        for cat in CATEGORIES
    ]


SCOPE_ROWS = "rows"  # evaluated on the rows validated this run
SCOPE_TABLE = "table"  # evaluated on the whole table (staleness, missing table)
SCOPE_CARRIED = "carried"  # nothing new: the verdict of an earlier run, repeated
BATCHES_TABLE = "quality.validated_batches"
NO_BATCH = ""  # rows without a _batch_id (not written by the loader) count as one batch


def _utc_naive(ts: dt.datetime | None) -> dt.datetime:
    if ts is None:
        return clock.now()
    if ts.tzinfo is not None:
        return ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts  # naive timestamps are taken as UTC, like the warehouse's
