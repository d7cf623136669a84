"""Rules: a source contract plus the policy, as plain data (`plan_rules`).

Each `Rule` names a check, its category and severity, and the GX expectation type and kwargs that
implement it. Cross-field and cross-source rules are SQL over the raw tables. No Great Expectations
import here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestration.lib.contracts.sources import SourceContract, get_contract
from orchestration.lib.engines.dialect import quote_ident
from orchestration.lib.quality.policy import (
    CATEGORIES,
    COMPLETENESS,
    ERROR,
    FRESHNESS_CUTOFF_PARAM,
    REFERENTIAL_INTEGRITY,
    RI_ERROR_ORPHAN_RATE,
    SEVERITIES,
    STALENESS,
    UNIQUENESS,
    VALIDITY,
    VALIDITY_ERROR_COLUMNS,
    WARN,
)


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


def suite_name(source: str) -> str:
    return f"raw.{source}"


def _rows_query(contract: SourceContract, where: str, columns: Sequence[str]) -> str:
    """An UnexpectedRowsExpectation query returning the primary key and `columns` of bad rows.

    GX substitutes `{batch}` with an aliased subquery, so the batch is wrapped in a CTE to give
    it a name of our own.
    """
    cols = [contract.primary_key, *[c for c in columns if c != contract.primary_key]]
    select = ", ".join(f"src.{quote_ident(c)}" for c in cols)
    return f"with src as (select * from {{batch}}) select {select} from src where {where}"


def _orphans_query(contract: SourceContract, column: str, min_rate: float | None) -> str:
    ref = get_contract(contract.column(column).references or "")
    pk = quote_ident(ref.primary_key)
    col = quote_ident(column)
    orphans = (
        f"select src.{quote_ident(contract.primary_key)}, src.{col} from src "
        f"where src.{col} is not null and src.{col} not in "
        f"(select r.{pk} from raw.{quote_ident(ref.name)} as r where r.{pk} is not null)"
    )
    query = f"with src as (select * from {{batch}}), orphans as ({orphans}) select * from orphans"
    if min_rate is not None:
        query += f" where (select count(*) from orphans) > {min_rate!r} * (select count(*) from src)"
    return query


def _duplicates_query(contract: SourceContract) -> str:
    """Keys that occur more than once in ONE load (file) among the validated rows, one result row
    per duplicated row ({value, count}). Across loads a key repeats by design: a re-export of a
    current-state source is a new version, a re-delivered event the same event (staging keeps
    the latest load); so only a key twice in the same file is flagged."""
    pk = quote_ident(contract.primary_key)
    return (
        f"with src as (select * from {{batch}}), dups as (select src._batch_id as batch_id, src.{pk} as value, "
        f"count(*) as count from src where src.{pk} is not null group by src._batch_id, src.{pk} "
        f"having count(*) > 1) select dups.value, dups.count from dups "
        # one row per duplicated row (portable: no range() / generate_series)
        f"join src as r on r.{pk} = dups.value and r._batch_id is not distinct from dups.batch_id "
        "order by dups.value"
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
        WARN,
        c.primary_key,
        "UnexpectedRowsExpectation",
        {"unexpected_rows_query": _duplicates_query(c)},
        f"Primary key {c.primary_key} is unique within each load (a key repeated across loads is a "
        "re-export: staging keeps every version, the latest wins).",
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


def rules_hash(rules: Sequence[Rule]) -> str:
    """Identifies the row-level rules a batch verdict was reached under."""
    payload = [[r.check_name, r.severity, r.expectation, r.kwargs] for r in rules if r.category != STALENESS]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


# GX expectation class -> the snake_case type GX reports in results.
_GX_TYPE = {
    "ExpectColumnValuesToNotBeNull": "expect_column_values_to_not_be_null",
    "ExpectColumnValuesToBeInSet": "expect_column_values_to_be_in_set",
    "ExpectColumnValuesToBeBetween": "expect_column_values_to_be_between",
    "UnexpectedRowsExpectation": "unexpected_rows_expectation",
    "ExpectTableRowCountToBeBetween": "expect_table_row_count_to_be_between",
    "ExpectColumnMaxToBeBetween": "expect_column_max_to_be_between",
}
