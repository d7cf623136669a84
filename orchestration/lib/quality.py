"""Quality gates on the raw tables: Great Expectations 1.x suites derived from the contracts.

No Dagster here (the asset checks live in orchestration/defs/quality/checks.py).

How it fits together
--------------------
1. `plan_rules(source)` turns a source contract plus the POLICY section below into a list of
   `Rule`s: plain data (check name, category, severity, GX expectation type and kwargs). It does
   not import Great Expectations.
2. `build_suite(source)` turns those rules into a GX `ExpectationSuite`; `export_suites()` writes
   them to `expectations/suites/<source>.json` (reviewable, and a test fails when the committed
   files drift from the contracts).
3. `validate_sources(warehouse_path, sources)` validates the suites INSIDE DuckDB through a GX SQL
   datasource (duckdb-engine): one datasource for all sources, every expectation compiled to
   SQL, only counts and small samples come back to Python. Row-level rules run on the rows of
   load batches not validated before (and of batches still failing with an error), staleness on
   the whole table; a source with nothing new runs no GX (see "Validation, proportional to new
   data" below). Afterwards the GX engines are disposed (DuckDB's file lock is released), every
   result row is appended to `quality.check_results` and every batch verdict to
   `quality.validated_batches`.

Categories: completeness, validity, uniqueness, referential_integrity, staleness.
Severities: "error" (blocks downstream work) and "warn" (recorded and shown, work goes on).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestration.lib import clock
from orchestration.lib.contracts import CONTRACTS, SourceContract, get_contract
from orchestration.lib.engines import create_table_sql, engine_name, open_engine
from orchestration.lib.settings import PROJECT_ROOT
from orchestration.lib.warehouse import connect, quote_ident, quote_literal, warehouse_settings

ERROR = "error"
WARN = "warn"
SEVERITIES = (ERROR, WARN)

COMPLETENESS = "completeness"
VALIDITY = "validity"
UNIQUENESS = "uniqueness"
REFERENTIAL_INTEGRITY = "referential_integrity"
STALENESS = "staleness"
CATEGORIES = (COMPLETENESS, VALIDITY, UNIQUENESS, REFERENTIAL_INTEGRITY, STALENESS)

SUITES_DIR = PROJECT_ROOT / "expectations" / "suites"
RESULTS_TABLE = "quality.check_results"
SAMPLE_SIZE = 5  # failing keys / values kept per expectation

# =====================================================================================
# POLICY: every severity decision and every rule that is not in the contracts lives here.
# Column-level facts (required, allowed values, ranges, references, freshness) live in
# orchestration/lib/contracts.py; change them there.
# =====================================================================================

# Completeness: required columns must never be null (error). Optional columns with a
# `min_fill` in their contract warn below that share of non-null values; the others are
# sparse by nature (closed_at of open tickets, responded_at of unanswered surveys).

# Uniqueness of the primary key. Staging dedupes duplicate keys (latest load wins), so a
# duplicate is a warning, except where a duplicate would fan out every join in scoring.
UNIQUENESS_ERROR_SOURCES = frozenset({"accounts"})

# Referential integrity: any orphan (a reference to a key that is not in the referenced raw
# table) is a warning; more than this share of orphan rows is an error.
RI_ERROR_ORPHAN_RATE = 0.01

# Validity (allowed values, min/max ranges) is a warning, except for the columns below, where a
# bad value would silently corrupt scores. Value: why.
VALIDITY_ERROR_COLUMNS: dict[tuple[str, str], str] = {
    ("accounts", "segment"): "selects the peer group and the segment weights",
    ("subscriptions", "mrr"): "revenue features and ARR-weighted roll-ups",
    ("subscriptions", "arr"): "revenue features and ARR-weighted roll-ups",
    ("subscriptions", "status"): "decides which contract terms are active",
    ("support_tickets", "csat_score"): "averaged into the support score",
    ("survey_responses", "survey_type"): "decides the NPS or CSAT scale of `score`",
    ("survey_responses", "score"): "averaged into the sentiment score",
    ("account_notes", "rating"): "averaged into the relationship score",
    ("invoices", "amount"): "payment-risk features",
    ("outcomes", "outcome_type"): "labels for back-tests and weight fitting",
    ("overrides", "objective"): "overrides are applied to published scores as they are",
    ("overrides", "action"): "overrides are applied to published scores as they are",
    ("overrides", "value"): "overrides are applied to published scores as they are",
    ("overrides", "grade"): "overrides are applied to published scores as they are",
}


@dataclass(frozen=True)
class CrossFieldRule:
    """A row-level rule over several columns. `ok` is a SQL predicate; a row violates the rule
    when `ok` is false (a NULL result counts as passing: missing values are completeness's job)."""

    name: str
    ok: str
    columns: tuple[str, ...]
    severity: str
    description: str


CROSS_FIELD_RULES: dict[str, tuple[CrossFieldRule, ...]] = {
    "subscriptions": (
        CrossFieldRule(
            "end_date_not_before_start_date",
            "end_date >= start_date",
            ("start_date", "end_date"),
            WARN,
            "A term cannot end before it starts.",
        ),
    ),
    "support_tickets": (
        CrossFieldRule(
            "closed_at_not_before_opened_at",
            "closed_at >= opened_at",
            ("opened_at", "closed_at"),
            WARN,
            "A ticket cannot be closed before it was opened.",
        ),
    ),
    "survey_responses": (
        CrossFieldRule(
            "responded_at_not_before_sent_at",
            "responded_at >= sent_at",
            ("sent_at", "responded_at"),
            WARN,
            "A response cannot come back before the survey was sent.",
        ),
        CrossFieldRule(
            "csat_score_between_1_and_5",
            "survey_type <> 'csat' or score between 1 and 5",
            ("survey_type", "score"),
            ERROR,
            "CSAT scores are 1-5 (the contract's 0-10 range is the NPS scale).",
        ),
    ),
    "invoices": (
        CrossFieldRule(
            "due_date_not_before_issued_at",
            "due_date >= issued_at",
            ("issued_at", "due_date"),
            WARN,
            "An invoice cannot be due before it was issued.",
        ),
    ),
    "overrides": (
        CrossFieldRule(
            "expires_at_after_created_at",
            "expires_at > created_at",
            ("created_at", "expires_at"),
            WARN,
            "An override that expires before it is made never applies.",
        ),
        CrossFieldRule(
            "set_score_has_value",
            "action <> 'set_score' or value is not null",
            ("action", "value"),
            ERROR,
            "set_score needs a value.",
        ),
        CrossFieldRule(
            "adjust_score_has_value",
            "action <> 'adjust_score' or value is not null",
            ("action", "value"),
            ERROR,
            "adjust_score needs a value.",
        ),
        CrossFieldRule(
            "set_grade_has_grade",
            "action <> 'set_grade' or grade is not null",
            ("action", "grade"),
            ERROR,
            "set_grade needs a grade.",
        ),
    ),
}

# Staleness: the newest `freshness_column` value must be within `stale_after_days` of the
# reference time, and the table must not be empty. Severity: the contract's stale_severity.
# A source that was never provided (no rows, no load batch) is a warning, "source not provided":
# scoring goes on without its factors (they show in missing_factors and lower the confidence).
# The reference time is now (orchestration.lib.clock: HEALTHSCORE_TODAY moves it), or the day after HEALTHSCORE_REFERENCE_DATE (for data exported in
# the past, e.g. the RavenStack example).
REFERENCE_DATE_ENV = "HEALTHSCORE_REFERENCE_DATE"
NOT_PROVIDED = "source not provided"


# Cross-source rules (bring your own data, issue 9): consistency between sources that no single
# table can show, e.g. usage before the account existed or after it churned, and two churn labels
# that disagree. Warnings: real exports have these flaws; they are reported with counts, not
# blocking, not dropped. `query` selects the offending rows (one row per counted unit) from `src`
# (this source's raw table) and other raw tables; raw tables may hold a key more than once, so
# lookups are aggregated per key.
@dataclass(frozen=True)
class CrossSourceRule:
    name: str
    query: str
    severity: str
    description: str


_FIRST_CREATED = "(select account_id, min(created_at) as created_at from raw.accounts group by account_id)"
_FIRST_CHURN = (
    "(select account_id, min(outcome_date) as churn_date from raw.outcomes "
    "where outcome_type = 'churn' group by account_id)"
)
# Account churn flag from a mapping's `extras: {churn_flag: ...}` ('true' / 'false').
_CHURN_FLAG = (
    "(select record_id as account_id, bool_or(lower(value) in ('true', '1', 'yes')) as flagged "
    "from raw._mapped_extras where source = 'accounts' and name = 'churn_flag' group by record_id)"
)

CROSS_SOURCE_RULES: dict[str, tuple[CrossSourceRule, ...]] = {
    "usage_events": (
        CrossSourceRule(
            "event_before_account_created",
            f"select src.event_id, src.account_id, src.event_at, a.created_at from src "
            f"join {_FIRST_CREATED} as a on a.account_id = src.account_id where src.event_at < a.created_at",
            WARN,
            "No usage before the account was created (accounts.created_at).",
        ),
        CrossSourceRule(
            "event_after_churn",
            f"select src.event_id, src.account_id, src.event_at, o.churn_date from src "
            f"join {_FIRST_CHURN} as o on o.account_id = src.account_id "
            "where cast(src.event_at as date) > o.churn_date",
            WARN,
            "No usage after the account's first churn outcome.",
        ),
    ),
    "support_tickets": (
        CrossSourceRule(
            "ticket_before_account_created",
            f"select src.ticket_id, src.account_id, src.opened_at, a.created_at from src "
            f"join {_FIRST_CREATED} as a on a.account_id = src.account_id where src.opened_at < a.created_at",
            WARN,
            "No ticket opened before the account was created.",
        ),
    ),
    "accounts": (
        CrossSourceRule(
            "churn_flag_without_churn_outcome",
            f"select distinct src.account_id from src join {_CHURN_FLAG} as f on f.account_id = src.account_id "
            f"where f.flagged and src.account_id not in (select account_id from {_FIRST_CHURN} as first_churn)",
            WARN,
            "Accounts the CRM flags as churned have a churn outcome (the two churn labels agree).",
        ),
        CrossSourceRule(
            "churn_outcome_without_churn_flag",
            f"select distinct src.account_id from src join {_CHURN_FLAG} as f on f.account_id = src.account_id "
            f"where not f.flagged and src.account_id in (select account_id from {_FIRST_CHURN} as first_churn)",
            WARN,
            "Accounts with a churn outcome are flagged as churned by the CRM (the two churn labels agree).",
        ),
    ),
}

# =====================================================================================
# Rules (plain data, no GX)
# =====================================================================================


@dataclass(frozen=True)
class Rule:
    check_name: str  # <source>.<category>.<rule>[.<column>], stable across runs
    source: str
    category: str
    severity: str
    column: str | None
    expectation: str  # GX 1.x expectation class name in great_expectations.expectations
    kwargs: dict[str, Any]
    description: str

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.check_name}: unknown category {self.category!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.check_name}: unknown severity {self.severity!r}")


# Name of the suite parameter carrying the staleness cut-off (reference time - stale_after_days).
FRESHNESS_CUTOFF_PARAM = "freshness_cutoff"


def suite_name(source: str) -> str:
    return f"raw.{source}"


def _q(name: str) -> str:
    return quote_ident(name)


def _rows_query(contract: SourceContract, where: str, columns: Sequence[str]) -> str:
    """An UnexpectedRowsExpectation query returning the primary key and `columns` of bad rows.

    GX substitutes `{batch}` with an aliased subquery, so the batch is wrapped in a CTE to give
    it a name of our own.
    """
    cols = [contract.primary_key, *[c for c in columns if c != contract.primary_key]]
    select = ", ".join(f"src.{_q(c)}" for c in cols)
    return f"with src as (select * from {{batch}}) select {select} from src where {where}"


def _orphans_query(contract: SourceContract, column: str, min_rate: float | None) -> str:
    ref = get_contract(contract.column(column).references or "")
    pk = _q(ref.primary_key)
    col = _q(column)
    orphans = (
        f"select src.{_q(contract.primary_key)}, src.{col} from src "
        f"where src.{col} is not null and src.{col} not in "
        f"(select r.{pk} from raw.{_q(ref.name)} as r where r.{pk} is not null)"
    )
    query = f"with src as (select * from {{batch}}), orphans as ({orphans}) select * from orphans"
    if min_rate is not None:
        query += f" where (select count(*) from orphans) > {min_rate!r} * (select count(*) from src)"
    return query


def _duplicates_query(contract: SourceContract) -> str:
    """Keys of the validated rows that occur more than once in the WHOLE raw table, one result row
    per duplicated raw row ({value, count}): new keys are checked against every existing key and
    against each other, and only the keys of the validated rows are looked up."""
    pk = _q(contract.primary_key)
    return (
        f"with src as (select * from {{batch}}), dups as (select t.{pk} as value, count(*) as count "
        f"from raw.{_q(contract.name)} as t where t.{pk} in (select src.{pk} from src where src.{pk} is not null) "
        f"group by t.{pk} having count(*) > 1) select dups.value, dups.count from dups "
        # one row per duplicated raw row (portable: no range() / generate_series)
        f"join raw.{_q(contract.name)} as r on r.{pk} = dups.value order by dups.value"
    )


def _tables_in(query: str) -> set[str]:
    return set(re.findall(r"raw\.(\w+)", query))


def plan_rules(source: str, existing_tables: set[str] | None = None) -> list[Rule]:
    """Every rule for one source, in a stable order, derived from its contract and the POLICY."""
    c = get_contract(source)
    rules: list[Rule] = []

    def add(
        category: str,
        name: str,
        severity: str,
        column: str | None,
        expectation: str,
        kwargs: dict[str, Any],
        description: str,
    ) -> None:
        check = f"{source}.{category}.{name}" + (f".{column}" if column else "")
        rules.append(Rule(check, source, category, severity, column, expectation, kwargs, description))

    # completeness
    for col in c.columns:
        if col.required:
            add(
                COMPLETENESS,
                "not_null",
                ERROR,
                col.name,
                "ExpectColumnValuesToNotBeNull",
                {"column": col.name},
                f"Required column {col.name} is never null.",
            )
        elif col.min_fill is not None:
            add(
                COMPLETENESS,
                "mostly_filled",
                WARN,
                col.name,
                "ExpectColumnValuesToNotBeNull",
                {"column": col.name, "mostly": col.min_fill},
                f"Optional column {col.name} is at least {col.min_fill:.0%} filled.",
            )

    # validity
    for col in c.columns:
        severity = ERROR if (source, col.name) in VALIDITY_ERROR_COLUMNS else WARN
        if col.allowed_values is not None:
            add(
                VALIDITY,
                "in_set",
                severity,
                col.name,
                "ExpectColumnValuesToBeInSet",
                {"column": col.name, "value_set": list(col.allowed_values)},
                f"{col.name} is one of {', '.join(col.allowed_values)}.",
            )
        if col.min_value is not None or col.max_value is not None:
            add(
                VALIDITY,
                "in_range",
                severity,
                col.name,
                "ExpectColumnValuesToBeBetween",
                {"column": col.name, "min_value": col.min_value, "max_value": col.max_value},
                f"{col.name} is within [{col.min_value}, {col.max_value}] (inclusive).",
            )
    for rule in CROSS_FIELD_RULES.get(source, ()):
        for name in rule.columns:
            c.column(name)  # fail early on a rule naming an unknown column
        add(
            VALIDITY,
            rule.name,
            rule.severity,
            None,
            "UnexpectedRowsExpectation",
            {"unexpected_rows_query": _rows_query(c, f"not coalesce(({rule.ok}), true)", rule.columns)},
            rule.description,
        )

    # uniqueness
    add(
        UNIQUENESS,
        "unique",
        ERROR if source in UNIQUENESS_ERROR_SOURCES else WARN,
        c.primary_key,
        "UnexpectedRowsExpectation",
        {"unexpected_rows_query": _duplicates_query(c)},
        f"Primary key {c.primary_key} is unique (the validated rows' keys against every row of the table).",
    )

    # referential integrity
    for col in c.columns:
        if col.references is None:
            continue
        ref = get_contract(col.references)
        add(
            REFERENTIAL_INTEGRITY,
            "no_orphans",
            WARN,
            col.name,
            "UnexpectedRowsExpectation",
            {"unexpected_rows_query": _orphans_query(c, col.name, None)},
            f"Every {col.name} exists in raw.{ref.name}.{ref.primary_key}.",
        )
        add(
            REFERENTIAL_INTEGRITY,
            "orphan_rate",
            ERROR,
            col.name,
            "UnexpectedRowsExpectation",
            {"unexpected_rows_query": _orphans_query(c, col.name, RI_ERROR_ORPHAN_RATE)},
            f"At most {RI_ERROR_ORPHAN_RATE:.0%} of rows have a {col.name} missing from raw.{ref.name}.",
        )

    for rule in CROSS_SOURCE_RULES.get(source, ()):
        # A cross-source rule needs its other tables (e.g. raw._mapped_extras exists only when a
        # mapping declared extras); without them it does not apply, and a failing query would
        # poison the rest of the source's validation.
        if existing_tables is not None and not _tables_in(rule.query) <= existing_tables:
            continue
        add(
            REFERENTIAL_INTEGRITY,
            f"cross_source.{rule.name}",
            rule.severity,
            None,
            "UnexpectedRowsExpectation",
            {"unexpected_rows_query": f"with src as (select * from {{batch}}) {rule.query}"},
            rule.description,
        )

    # staleness
    add(
        STALENESS,
        "not_empty",
        c.stale_severity,
        None,
        "ExpectTableRowCountToBeBetween",
        {"min_value": 1},
        "The table has rows.",
    )
    add(
        STALENESS,
        "fresh",
        c.stale_severity,
        c.freshness_column,
        "ExpectColumnMaxToBeBetween",
        {"column": c.freshness_column, "min_value": {"$PARAMETER": FRESHNESS_CUTOFF_PARAM}},
        f"The newest {c.freshness_column} is at most {c.stale_after_days} days old.",
    )
    return rules


# =====================================================================================
# GX suites
# =====================================================================================

_GX_SEVERITY = {ERROR: "critical", WARN: "warning"}


def _gx():
    """Import Great Expectations lazily (about 3 s) and apply the DuckDB fix once."""
    from orchestration.lib.engines import guard_pyspark_import

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
            "generated_from": "orchestration/lib/contracts.py + orchestration/lib/quality.py",
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


# =====================================================================================
# Results
# =====================================================================================


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
        return ExpectationOutcome(
            rule.check_name,
            rule.source,
            rule.category,
            expectation,
            rule.column,
            rule.severity,
            False,
            f"error: {message}"[:500],
            None,
            [],
            rule.description,
        )
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
    return ExpectationOutcome(
        rule.check_name,
        rule.source,
        rule.category,
        expectation,
        rule.column,
        rule.severity,
        bool(gx_result.success),
        _json_safe(observed),
        None if unexpected is None else int(unexpected),
        _json_safe(list(sample)),
        rule.description,
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


# =====================================================================================
# Validation, proportional to new data
# =====================================================================================
# A run validates the rows of the load batches (`_batch_id` of raw.<source>) that have no verdict
# yet, plus every batch whose latest verdict is error: an unresolved error keeps blocking each
# run until a re-check of its rows passes (the bad rows were fixed or deleted from raw, or the
# referenced rows they missed have arrived). Verdicts are kept per batch in
# quality.validated_batches. A batch is known by its id, its load time (a raw table rebuilt from
# the landing files is validated again) and the hash of the source's row-level rules (a changed
# contract or policy re-validates every batch of that source once).
#
# - Row-level rules (completeness, validity, uniqueness, referential integrity, cross-source) run
#   on those rows only; uniqueness looks their keys up in the whole table, referential integrity
#   and cross-source rules look up the whole referenced tables.
# - Staleness is a fact of the whole table (row count, newest value), evaluated every run.
# - A source with nothing to validate runs no GX at all: its staleness comes from one SQL query
#   (the same two rules, the same outcome) and the row-level outcomes of its latest validation
#   are repeated with scope "carried". Every run's rows in quality.check_results are therefore the
#   current verdict of every check.

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


def rules_hash(rules: Sequence[Rule]) -> str:
    """Identifies the row-level rules a batch verdict was reached under."""
    payload = [[r.check_name, r.severity, r.expectation, r.kwargs] for r in rules if r.category != STALENESS]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class _SourcePlan:
    source: str
    exists: bool
    rules: list[Rule] = field(default_factory=list)
    rules_hash: str = ""
    rows: int = 0
    newest: Any = None
    provided: bool = True  # has rows, or at least one load batch
    batches: dict[str, tuple[int, dt.datetime | None]] = field(default_factory=dict)
    to_validate: list[BatchVerdict] = field(default_factory=list)
    carried: list[ExpectationOutcome] = field(default_factory=list)
    carried_from_run: str | None = None

    @property
    def row_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.category != STALENESS]

    @property
    def table_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.category == STALENESS]

    @property
    def whole_table(self) -> bool:
        return len(self.to_validate) == len(self.batches)

    def rows_query(self) -> str:
        """The rows of the batches to validate."""
        ids = [b.batch_id for b in self.to_validate if b.batch_id != NO_BATCH]
        conditions = [f"_batch_id in ({', '.join(quote_literal(i) for i in ids)})"] if ids else []
        if len(ids) < len(self.to_validate):
            conditions.append("_batch_id is null")
        return f"select * from raw.{_q(self.source)} where {' or '.join(conditions)}"


def _table_names(con: Any, schema: str) -> set[str]:
    if getattr(con, "name", "") == "spark":  # no information_schema on Spark's Hive catalog
        if not con.spark.catalog.databaseExists(schema):
            return set()
        return {t.name for t in con.spark.catalog.listTables(schema) if not t.isTemporary}
    return {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        ).fetchall()
    }


def _plan_sources(con: Any, sources: Sequence[str], incremental: bool) -> dict[str, _SourcePlan]:
    """What each source needs this run (plain DuckDB, no GX): batches to validate or a verdict to carry."""
    raw_tables = _table_names(con, "raw")
    quality_tables = _table_names(con, "quality") if incremental else set()
    has_verdicts = "validated_batches" in quality_tables and "check_results" in quality_tables
    if has_verdicts:  # results written before incremental validation have no scope column
        has_verdicts = "scope" in con.columns(RESULTS_TABLE)
    plans: dict[str, _SourcePlan] = {}
    for source in sources:
        if source not in raw_tables:
            plans[source] = _SourcePlan(source, exists=False)
            continue
        contract = get_contract(source)
        rules = plan_rules(source, raw_tables)
        plan = _SourcePlan(source, True, rules, rules_hash(rules))
        plans[source] = plan
        q = con.dialect.q  # Spark quotes with backticks
        table = f"raw.{q(source)}"
        plan.rows, plan.newest = con.execute(
            f"select count(*), max({q(contract.freshness_column)}) from {table}"
        ).fetchone()
        for batch_id, n, loaded_at in con.execute(
            f"select coalesce(_batch_id, ''), count(*), min(_loaded_at) from {table} group by 1 order by 1"
        ).fetchall():
            plan.batches[batch_id] = (n, loaded_at)
        if not plan.rows:
            plan.provided = "_load_batches" in raw_tables and bool(
                con.execute("select count(*) from raw._load_batches where source = ?", [source]).fetchone()[0]
            )
        latest: dict[tuple[str, Any], str] = {}
        if has_verdicts:
            for batch_id, loaded_at, verdict in con.execute(
                f"""select batch_id, loaded_at, verdict from (
                    select batch_id, loaded_at, verdict, row_number() over (
                        partition by batch_id, loaded_at order by checked_at desc) as newest
                    from {BATCHES_TABLE} where source = ? and rules_hash = ?
                ) as verdicts where newest = 1""",
                [source, plan.rules_hash],
            ).fetchall():
                latest[(batch_id, loaded_at)] = verdict
        for batch_id, (n, loaded_at) in plan.batches.items():
            verdict = latest.get((batch_id, loaded_at))
            if verdict is None or verdict == ERROR:
                plan.to_validate.append(BatchVerdict(batch_id, loaded_at, n, reopened=verdict == ERROR))
        if plan.to_validate or not plan.batches:
            continue
        # Nothing new: repeat the row-level outcomes of the latest validation of this source.
        # Without them (results pruned, rules changed) every batch is validated again.
        row = con.execute(
            f"select run_id from {BATCHES_TABLE} where source = ? and rules_hash = ? "
            "order by checked_at desc limit 1",
            [source, plan.rules_hash],
        ).fetchone()
        carried = _carried_outcomes(con, plan, row[0]) if row else None
        if carried is None:
            plan.to_validate = [
                BatchVerdict(b, loaded_at, n, reopened=latest.get((b, loaded_at)) == ERROR)
                for b, (n, loaded_at) in plan.batches.items()
            ]
        else:
            plan.carried, plan.carried_from_run = carried, row[0]
    return plans


def _carried_outcomes(con: Any, plan: _SourcePlan, run_id: str) -> list[ExpectationOutcome] | None:
    rows = con.execute(
        f"""select check_name, expectation, severity, passed, observed_value, unexpected_count, failing_sample
        from {RESULTS_TABLE} where run_id = ? and source = ? and scope in ('{SCOPE_ROWS}', '{SCOPE_CARRIED}')""",
        [run_id, plan.source],
    ).fetchall()
    by_name = {r[0]: r for r in rows}
    if set(by_name) != {r.check_name for r in plan.row_rules}:
        return None
    outcomes = []
    for rule in plan.row_rules:
        _, expectation, severity, passed, observed, unexpected, sample = by_name[rule.check_name]
        try:
            failing = json.loads(sample) if sample else []
        except json.JSONDecodeError:
            failing = [sample]
        outcomes.append(
            ExpectationOutcome(
                rule.check_name,
                plan.source,
                rule.category,
                expectation,
                rule.column,
                severity,
                bool(passed),
                observed,
                unexpected,
                failing,
                rule.description,
                scope=SCOPE_CARRIED,
                carried_from_run=run_id,
            )
        )
    return outcomes


def _staleness_outcomes(plan: _SourcePlan, cutoff: dt.datetime) -> list[ExpectationOutcome]:
    """The staleness rules from the plan's row count and newest value: what GX's
    ExpectTableRowCountToBeBetween(min 1) and ExpectColumnMaxToBeBetween(min cutoff) conclude."""
    outcomes = []
    for rule in plan.table_rules:
        if rule.column is None:  # not_empty
            success, observed = plan.rows >= 1, plan.rows
            sample: list[Any] = [] if success else [{"observed_value": observed}]
            expectation = "expect_table_row_count_to_be_between"
        else:  # fresh
            newest = plan.newest
            as_datetime = (
                dt.datetime.combine(newest, dt.time())
                if isinstance(newest, dt.date) and not isinstance(newest, dt.datetime)
                else newest
            )
            success = as_datetime is not None and as_datetime >= cutoff
            observed = _json_safe(as_datetime)  # GX reports a date column's max as a datetime too
            sample = [] if success else [{"newest": observed, "stale_before": cutoff.isoformat()}]
            expectation = "expect_column_max_to_be_between"
        outcomes.append(
            ExpectationOutcome(
                rule.check_name,
                plan.source,
                rule.category,
                expectation,
                rule.column,
                rule.severity,
                success,
                observed,
                None,
                sample,
                rule.description,
                scope=SCOPE_TABLE,
                rows_checked=plan.rows,
            )
        )
    return outcomes


def _nothing_to_check(plan: _SourcePlan) -> list[ExpectationOutcome]:
    """Row-level rules on a table without rows: nothing can fail (GX agrees on an empty batch)."""
    return [
        ExpectationOutcome(
            r.check_name,
            plan.source,
            r.category,
            _GX_TYPE.get(r.expectation, r.expectation),
            r.column,
            r.severity,
            True,
            None,
            0,
            [],
            r.description,
            scope=SCOPE_ROWS,
            rows_checked=0,
        )
        for r in plan.row_rules
    ]


# GX expectation class -> the snake_case type GX reports in results.
_GX_TYPE = {
    "ExpectColumnValuesToNotBeNull": "expect_column_values_to_not_be_null",
    "ExpectColumnValuesToBeInSet": "expect_column_values_to_be_in_set",
    "ExpectColumnValuesToBeBetween": "expect_column_values_to_be_between",
    "UnexpectedRowsExpectation": "unexpected_rows_expectation",
    "ExpectTableRowCountToBeBetween": "expect_table_row_count_to_be_between",
    "ExpectColumnMaxToBeBetween": "expect_column_max_to_be_between",
}

_CONTEXT: Any = None


def _context() -> Any:
    """One ephemeral GX context per process (creating one costs about a second): the Dagster
    checks of every source in a run reuse it. Datasources are added and removed per call."""
    global _CONTEXT
    if _CONTEXT is None:
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        _CONTEXT = context
    return _CONTEXT


def _found_rows(gx_result: Any) -> bool:
    """Whether a SUMMARY result has failing rows or values worth a sample (or failed otherwise)."""
    if not gx_result.success:
        return True
    result = gx_result.result or {}
    if result.get("unexpected_count"):
        return True
    observed = result.get("observed_value")
    is_rows_rule = gx_result.expectation_config.type == "unexpected_rows_expectation"
    return is_rows_rule and isinstance(observed, int | float) and observed > 0


def _validate_gx(
    context: Any,
    datasource: Any,
    plan: _SourcePlan,
    cutoff: dt.datetime,
    spark: Any = None,
    engine: str = "duckdb",
) -> list[ExpectationOutcome]:
    """GX validation of the plan's rows to validate (row-level rules), plus staleness of the whole
    table: by GX too when every batch is new (one validation), else from the plan's SQL."""
    contract = get_contract(plan.source)
    result_format = {
        "result_format": "COMPLETE",  # row samples of UnexpectedRowsExpectation need it
        "partial_unexpected_count": SAMPLE_SIZE,
        "unexpected_index_column_names": [contract.primary_key],
        "return_unexpected_index_query": False,
    }
    if spark is not None:  # a GX Spark datasource over the raw table (or its new rows)

        def frame(name: str, query: str):
            return (
                datasource.add_dataframe_asset(name=name)
                .add_batch_definition_whole_dataframe(name)
                .get_batch(batch_parameters={"dataframe": spark.sql(query.replace('"', "`"))})
            )

    if plan.whole_table:  # every batch is new: one validation of the whole table, as before
        batch = (
            frame(plan.source, f"select * from raw.{plan.source}")
            if spark is not None
            else datasource.add_table_asset(name=plan.source, table_name=plan.source, schema_name="raw")
            .add_batch_definition_whole_table("whole_table")
            .get_batch()
        )
        rules, staleness = plan.rules, []
    else:  # the new rows through GX; staleness of the whole table from the plan's SQL (same rules)
        batch = (
            frame(f"{plan.source}__new_rows", plan.rows_query())
            if spark is not None
            else datasource.add_query_asset(name=f"{plan.source}__new_rows", query=plan.rows_query())
            .add_batch_definition_whole_table("new_rows")
            .get_batch()
        )
        rules, staleness = plan.row_rules, _staleness_outcomes(plan, cutoff)
    by_name = {r.check_name: r for r in plan.rules}

    def validate(name: str, subset: Sequence[Rule], result_format: Any) -> list[Any]:
        suite = _suite(name, plan.source, subset)
        if engine != "duckdb":
            _engine_queries(suite, spark is not None)
        suite = context.suites.add_or_update(suite)
        return batch.validate(
            suite, result_format=result_format, expectation_parameters={FRESHNESS_CUTOFF_PARAM: cutoff}
        ).results

    # Two passes: counts for every expectation (SUMMARY), then row samples (COMPLETE, which costs
    # extra queries per expectation: on Spark each is a job) only for those that found rows.
    # Where nothing was found both formats say the same, so the outcome equals one COMPLETE pass.
    results = validate(suite_name(plan.source), rules, {"result_format": "SUMMARY"})
    detail = [r for r in results if _found_rows(r)]
    if detail:
        names = {r.expectation_config.meta["check_name"] for r in detail}
        again = validate(
            f"{suite_name(plan.source)}__samples",
            [rule for rule in rules if rule.check_name in names],
            result_format,
        )
        redone = {r.expectation_config.meta["check_name"]: r for r in again}
        results = [redone.get(r.expectation_config.meta["check_name"], r) for r in results]
    outcomes = []
    for res in results:
        rule = by_name[res.expectation_config.meta["check_name"]]
        outcome = _outcome(rule, res)
        if rule.category == STALENESS:
            outcome.scope, outcome.rows_checked = SCOPE_TABLE, plan.rows
            if rule.column and not outcome.success:
                outcome.failing_sample = [
                    {"newest": outcome.observed_value, "stale_before": cutoff.isoformat()}
                ]
        else:
            outcome.scope, outcome.rows_checked = SCOPE_ROWS, sum(b.rows for b in plan.to_validate)
        outcomes.append(outcome)
    return outcomes + staleness


def validate_sources(
    warehouse_path: Path | str,
    sources: Iterable[str] | None = None,
    *,
    now: dt.datetime | None = None,
    run_id: str | None = None,
    persist: bool = True,
    incremental: bool = True,
    engine: str | None = None,
) -> dict[str, SourceQualityResult]:
    """Validate the raw tables of `sources` (default: all contracts) inside the warehouse.

    Row-level rules run on the rows of load batches not validated before (and of batches whose
    latest verdict is error); staleness on the whole table; a source with nothing new repeats its
    latest verdict without running GX. `incremental=False` validates every row. `now` is the
    reference time for staleness (default: the current UTC time, moved by HEALTHSCORE_TODAY; naive datetimes are UTC). With
    `persist`, result rows are appended to quality.check_results and batch verdicts to
    quality.validated_batches (without it, the next run validates the same batches again).
    The DuckDB file must not be held by another process (nor by a connection with another
    configuration in this one) during the call; GX's engines are disposed before it returns,
    so the file lock is free afterwards.

    `engine` (default: $HEALTHSCORE_ENGINE): on DuckDB and PostgreSQL the suites run through a
    GX SQL datasource, on Spark through a GX Spark datasource over the raw tables (queries in
    Spark SQL); `warehouse_path` matters on DuckDB only.
    """
    engine = engine or engine_name()
    sources = list(sources or CONTRACTS)
    for s in sources:
        get_contract(s)
    now = _utc_naive(now if now is not None else reference_time())
    run_id = run_id or f"adhoc-{uuid.uuid4().hex[:12]}"
    checked_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    path = Path(warehouse_path).resolve()
    if engine == "duckdb" and not path.exists():
        raise FileNotFoundError(f"warehouse not found: {path}")

    planning = time.perf_counter()
    with open_engine(engine, duckdb_path=path, read_only=True) as con:
        plans = _plan_sources(con, sources, incremental)
    planning = (time.perf_counter() - planning) / max(len(sources), 1)

    results: dict[str, SourceQualityResult] = {}
    need_gx = [s for s in sources if plans[s].exists and plans[s].to_validate]
    datasource = spark = None
    try:
        if need_gx:
            context = _context()
            name = f"warehouse_{uuid.uuid4().hex[:8]}"
            if engine == "spark":
                from orchestration.lib.engines import spark_session

                spark = spark_session()
                datasource = context.data_sources.add_spark(name=name)
            elif engine == "postgres":
                from orchestration.lib.engines import postgres_url

                datasource = context.data_sources.add_postgres(name=name, connection_string=postgres_url())
            else:
                cap_gx_duckdb_connections()
                datasource = context.data_sources.add_sql(name=name, connection_string=f"duckdb:///{path}")
        for source in sources:
            started = time.perf_counter()
            plan = plans[source]
            out = SourceQualityResult(source, suite_name(source), run_id, checked_at)
            results[source] = out
            if not plan.exists:
                out.results = _missing_table_outcomes(source)
                continue
            cutoff = now - dt.timedelta(days=get_contract(source).stale_after_days)
            if plan.to_validate:
                out.results = _validate_gx(context, datasource, plan, cutoff, spark, engine)
                out.ran_gx = True
            else:
                out.results = (plan.carried or _nothing_to_check(plan)) + _staleness_outcomes(plan, cutoff)
                out.carried_from_run = plan.carried_from_run
            if not plan.provided:  # never delivered: scoring goes on without it (warning)
                for outcome in out.category(STALENESS):
                    outcome.severity = WARN
                    outcome.observed_value = NOT_PROVIDED
                    outcome.failing_sample = [{"reason": NOT_PROVIDED}]
            rows_level = [o for o in out.results if o.scope == SCOPE_ROWS]
            verdict = (
                ERROR
                if any(o.blocking for o in rows_level)
                else WARN
                if any(not o.success for o in rows_level)
                else "passed"
            )
            for batch in plan.to_validate:
                batch.verdict = verdict
            out.batches = plan.to_validate
            order = {r.check_name: i for i, r in enumerate(plan.rules)}
            out.results.sort(key=lambda o: order.get(o.check_name, len(order)))
            out.seconds = time.perf_counter() - started + planning
    finally:
        if datasource is not None:
            dispose_datasource(datasource)
            _context().data_sources.delete(datasource.name)
    if persist:
        write_results(
            path, results.values(), rules_hashes={s: p.rules_hash for s, p in plans.items()}, engine=engine
        )
    return results


def reference_time() -> dt.datetime | None:
    """The end of HEALTHSCORE_REFERENCE_DATE (staleness of data exported in the past), else None (now)."""
    value = os.environ.get(REFERENCE_DATE_ENV, "").strip()
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{REFERENCE_DATE_ENV}={value!r} is not an ISO date (YYYY-MM-DD)") from None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def _cap_duckdb(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("duckdb_engine"):
        for statement in warehouse_settings():
            dbapi_connection.execute(statement)


def cap_gx_duckdb_connections() -> None:
    """Give GX's own DuckDB connections the pipeline's memory cap and offline flags.

    GX opens the warehouse through SQLAlchemy (duckdb_engine), a DuckDB instance of its own that
    would otherwise take DuckDB's default of 80 % of RAM: at L (48.5M usage events) the
    uniqueness and referential checks of one source took the process past 6 GiB with a 3 GB cap
    set everywhere else. A SET on connect (not a connect-time config) so the connection never
    differs in configuration from another one the process holds on the same file.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _cap_duckdb):
        event.listen(Engine, "connect", _cap_duckdb)


def dispose_datasource(datasource: Any) -> None:
    """Close every connection GX holds on the DuckDB file (else the file lock stays taken)."""
    engine = getattr(datasource, "_execution_engine", None)
    if engine is not None:
        connection = getattr(engine, "_connection", None)
        if connection is not None:
            connection.close()
            engine._connection = None
        if hasattr(engine, "engine"):  # SQL engines; a Spark datasource holds no connection
            engine.engine.dispose()
    sa_engine = getattr(datasource, "_engine", None)
    if sa_engine is not None:
        sa_engine.dispose()


def _engine_queries(suite: Any, spark: bool) -> None:
    """The rules' SQL for PostgreSQL and Spark. GX substitutes `{batch}` with an unaliased
    subquery in a query that has a JOIN (DuckDB accepts that, PostgreSQL does not): alias it
    there. Spark SQL quotes identifiers with backticks ("x" is a string literal there)."""
    from great_expectations.expectations.metrics.query_metric_provider import _query_has_join_clause

    for expectation in suite.expectations:
        query = getattr(expectation, "unexpected_rows_query", None)
        if not isinstance(query, str):
            continue
        if _query_has_join_clause(query):
            query = query.replace("select * from {batch})", "select * from {batch} as batch_rows)")
        expectation.unexpected_rows_query = query.replace('"', "`") if spark else query


def validate_source(warehouse_path: Path | str, source: str, **kwargs: Any) -> SourceQualityResult:
    return validate_sources(warehouse_path, [source], **kwargs)[source]


# =====================================================================================
# quality.check_results and quality.validated_batches
# =====================================================================================

RESULTS_DDL = f"""
create schema if not exists quality;
create table if not exists {RESULTS_TABLE} (
    check_name varchar not null,
    source varchar not null,
    category varchar not null,
    expectation varchar not null,
    column_name varchar,
    severity varchar not null,
    passed boolean not null,
    observed_value varchar,
    unexpected_count bigint,
    failing_sample varchar,
    run_id varchar not null,
    checked_at timestamp not null,
    scope varchar,
    rows_checked bigint,
    carried_from_run varchar
);
alter table {RESULTS_TABLE} add column if not exists scope varchar;
alter table {RESULTS_TABLE} add column if not exists rows_checked bigint;
alter table {RESULTS_TABLE} add column if not exists carried_from_run varchar;
create table if not exists {BATCHES_TABLE} (
    source varchar not null,
    batch_id varchar not null,
    loaded_at timestamp,
    rows_validated bigint not null,
    verdict varchar not null,
    reopened boolean not null,
    rules_hash varchar not null,
    run_id varchar not null,
    checked_at timestamp not null
);
"""
RESULTS_COLUMNS = """
    check_name varchar not null, source varchar not null, category varchar not null,
    expectation varchar not null, column_name varchar, severity varchar not null,
    passed boolean not null, observed_value varchar, unexpected_count bigint,
    failing_sample varchar, run_id varchar not null, checked_at timestamp not null,
    scope varchar, rows_checked bigint, carried_from_run varchar
"""
BATCHES_COLUMNS = """
    source varchar not null, batch_id varchar not null, loaded_at timestamp,
    rows_validated bigint not null, verdict varchar not null, reopened boolean not null,
    rules_hash varchar not null, run_id varchar not null, checked_at timestamp not null
"""
RESULT_COLUMNS = (
    "check_name, source, category, expectation, column_name, severity, passed, observed_value, "
    "unexpected_count, failing_sample, run_id, checked_at, scope, rows_checked, carried_from_run"
)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def write_results(
    warehouse_path: Path | str,
    results: Iterable[SourceQualityResult],
    *,
    rules_hashes: dict[str, str] | None = None,
    engine: str | None = None,
) -> int:
    """Append result rows to quality.check_results and the batch verdicts to
    quality.validated_batches (created when missing), in one transaction. Returns result rows written."""
    results = list(results)
    rows = [
        (
            o.check_name,
            o.source,
            o.category,
            o.expectation,
            o.column,
            o.severity,
            o.success,
            _text(o.observed_value),
            o.unexpected_count,
            json.dumps(o.failing_sample),
            r.run_id,
            r.checked_at,
            o.scope,
            o.rows_checked,
            o.carried_from_run,
        )
        for r in results
        for o in r.results
    ]
    batches = [
        (
            r.source,
            b.batch_id,
            b.loaded_at,
            b.rows,
            b.verdict,
            b.reopened,
            (rules_hashes or {}).get(r.source) or rules_hash(plan_rules(r.source)),
            r.run_id,
            r.checked_at,
        )
        for r in results
        for b in r.batches
    ]
    with open_engine(engine, duckdb_path=warehouse_path) as con:
        if con.name == "duckdb":
            con.execute(RESULTS_DDL)
        else:  # a new warehouse: the current columns (no migration of older layouts)
            con.create_schema("quality")
            con.execute(create_table_sql(con.dialect, RESULTS_TABLE, RESULTS_COLUMNS))
            con.execute(create_table_sql(con.dialect, BATCHES_TABLE, BATCHES_COLUMNS))
        con.begin()
        try:
            _append(con, RESULTS_TABLE, RESULT_COLUMNS.split(", "), rows)
            _append(con, BATCHES_TABLE, con.columns(BATCHES_TABLE), batches)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    return len(rows)


def _append(con: Any, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    if not rows:
        return
    if con.name == "spark":
        import pyarrow as pa

        data = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in rows])
        con.append_arrow(table, data.to_batches())
    else:
        con.executemany(
            f"insert into {table} ({', '.join(columns)}) values ({', '.join('?' * len(columns))})", rows
        )


# =====================================================================================
# Data Docs (offline): rendered from the persisted results in quality.check_results
# =====================================================================================
# GX's HTML pulls Bootstrap, jQuery, Font Awesome and more from CDNs, so offline it is unstyled
# and its scripts fail. We strip every external <link>/<script> and inline a small stylesheet
# instead of shipping vendored copies: the pages are static tables, nothing needs the scripts.

_DATA_DOCS_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;padding:20px 28px;color:#1f2933}
a{color:#2f6fb0} table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid #dde3ea;padding:4px 8px;text-align:left;vertical-align:top}
.card{border:1px solid #dde3ea;border-radius:6px;margin:10px 0;padding:8px 14px}
.text-danger,.fa-times{color:#d64545} .text-success,.fa-check-circle{color:#3f9d5a}
nav,.navbar,.sticky{position:static}
.hs-nav{margin-bottom:14px;padding-bottom:8px;border-bottom:1px solid #dde3ea}
"""


def _offline_html(page: str) -> str:
    """Remove every external stylesheet and script (CDN) and inline the local stylesheet."""
    page = re.sub(r"<link[^>]+href=\"(?:https?:)?//[^>]*>", "", page)
    page = re.sub(r"<script[^>]+src=\"(?:https?:)?//[^\"]*\"[^>]*>\s*</script>", "", page)
    page = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)  # inline scripts need jQuery
    return page.replace("</head>", f"<style>{_DATA_DOCS_CSS}</style></head>", 1)


def _validation_result(source: str, rows: list[tuple], run_id: str, checked_at: Any) -> Any:
    """A GX ExpectationSuiteValidationResult rebuilt from one source's check_results rows."""
    gx = _gx()
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    del gx
    suite_path = SUITES_DIR / f"{source}.json"
    by_check = {}
    if suite_path.exists():
        for exp in json.loads(suite_path.read_text()).get("expectations", []):
            by_check[exp["meta"]["check_name"]] = exp
    results = []
    for check_name, expectation, column, severity, passed, observed, unexpected, sample in rows:
        spec = by_check.get(check_name, {"kwargs": {"column": column} if column else {}, "meta": {}})
        config = ExpectationConfiguration(
            type=expectation,
            kwargs=spec.get("kwargs", {}),
            meta={**spec.get("meta", {}), "check_name": check_name, "severity": severity},
            description=spec.get("description") or check_name,
        )
        result: dict[str, Any] = {"observed_value": observed}
        if unexpected is not None:
            # GX's renderers want the percentages too; observed_value holds the unexpected % for
            # column expectations (quality.md), 0 where it is not a number.
            try:
                percent = float(observed) if expectation.startswith("expect_column_values") else 0.0
            except (TypeError, ValueError):
                percent = 0.0
            result.update(
                unexpected_count=unexpected,
                unexpected_percent=percent,
                unexpected_percent_nonmissing=percent,
                unexpected_percent_total=percent,
                missing_count=0,
                missing_percent=0.0,
                # Not persisted: recovered from the count and the percentage where possible.
                element_count=round(unexpected * 100 / percent) if percent else unexpected,
            )
            try:
                result["partial_unexpected_list"] = json.loads(sample or "[]")
            except json.JSONDecodeError:
                result["partial_unexpected_list"] = [sample]
        results.append(
            ExpectationValidationResult(success=bool(passed), expectation_config=config, result=result)
        )
    passed_n = sum(1 for r in results if r.success)
    return ExpectationSuiteValidationResult(
        success=passed_n == len(results),
        results=results,
        suite_name=suite_name(source),
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed_n,
            "unsuccessful_expectations": len(results) - passed_n,
            "success_percent": 100.0 * passed_n / len(results) if results else 100.0,
        },
        meta={"run_id": {"run_name": run_id, "run_time": str(checked_at)}, "active_batch_definition": None},
    )


def build_data_docs(warehouse_path: Path | str, out_dir: Path | str, run_id: str | None = None) -> Path:
    """GX Data Docs for one run (default: the latest) as static files readable offline.

    Reads quality.check_results (warehouse or published snapshot, read-only), renders one GX
    validation page per source into `out_dir`, and writes `index.html` linking them. Returns it.
    """
    out = Path(out_dir)
    with connect(warehouse_path, read_only=True) as con:
        if run_id is None:
            row = con.execute(
                f"select run_id from {RESULTS_TABLE} group by run_id order by max(checked_at) desc limit 1"
            ).fetchone()
            if row is None:
                raise LookupError(f"{RESULTS_TABLE} is empty: no quality run to document")
            run_id = row[0]
        rows = con.execute(
            f"""select source, check_name, expectation, column_name, severity, passed, observed_value,
                   unexpected_count, failing_sample, checked_at
            from {RESULTS_TABLE} where run_id = ? order by source, check_name""",
            [run_id],
        ).fetchall()
    if not rows:
        raise LookupError(f"no rows in {RESULTS_TABLE} for run {run_id}")
    _gx()
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    pages = out / "validations"
    pages.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[tuple]] = {}
    checked: dict[str, Any] = {}
    for source, *rest, checked_at in rows:
        by_source.setdefault(source, []).append(tuple(rest))
        checked[source] = checked_at
    renderer, view = ValidationResultsPageRenderer(), DefaultJinjaPageView()
    index_rows = []
    for source, source_rows in sorted(by_source.items()):
        validation = _validation_result(source, source_rows, run_id, checked[source])
        page = _offline_html(view.render(renderer.render(validation)))
        nav = "<div class='hs-nav'><a href='../index.html'>&larr; all sources</a></div>"
        page = re.sub(r"(<body[^>]*>)", r"\1" + nav, page, count=1)
        (pages / f"{source}.html").write_text(page, encoding="utf-8")
        stats = validation.statistics
        errors = sum(1 for r in source_rows if r[3] == ERROR and not r[4])
        index_rows.append(
            f"<tr><td><a href='validations/{source}.html'>{source}</a></td>"
            f"<td>{stats['evaluated_expectations']}</td><td>{stats['unsuccessful_expectations']}</td>"
            f"<td class='{'text-danger' if errors else 'text-success'}'>{errors}</td></tr>"
        )
    index = out / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Data Docs</title>"
        f"<style>{_DATA_DOCS_CSS}</style></head><body><h1>Data Docs</h1>"
        f"<p>Quality run <code>{run_id}</code> ({len(rows)} expectations). Rendered by Great Expectations "
        "from quality.check_results; no external resources.</p>"
        "<table><tr><th>source</th><th>expectations</th><th>failed</th><th>failed (error)</th></tr>"
        + "".join(index_rows)
        + "</table></body></html>",
        encoding="utf-8",
    )
    return index


__all__ = [
    "CATEGORIES",
    "ERROR",
    "WARN",
    "Rule",
    "ExpectationOutcome",
    "SourceQualityResult",
    "BatchVerdict",
    "SCOPE_ROWS",
    "SCOPE_TABLE",
    "SCOPE_CARRIED",
    "plan_rules",
    "build_suite",
    "suite_json",
    "export_suites",
    "validate_sources",
    "validate_source",
    "write_results",
    "build_data_docs",
]


if __name__ == "__main__":  # python -m orchestration.lib.quality  -> regenerate expectations/suites/
    for p in export_suites():
        print(p.relative_to(PROJECT_ROOT))
