"""Quality policy: severities, categories, and which failures block downstream work (POLICY).

Plain data, no Great Expectations. `rules.py` turns a contract plus this policy into rules."""

from __future__ import annotations

import datetime as dt
import os

from orchestration.lib import clock

ERROR = "error"
WARN = "warn"
SEVERITIES = (ERROR, WARN)

COMPLETENESS = "completeness"
VALIDITY = "validity"
UNIQUENESS = "uniqueness"
REFERENTIAL_INTEGRITY = "referential_integrity"
STALENESS = "staleness"
CATEGORIES = (COMPLETENESS, VALIDITY, UNIQUENESS, REFERENTIAL_INTEGRITY, STALENESS)
SAMPLE_SIZE = 5  # failing keys / values kept per expectation

# =====================================================================================
# POLICY: every severity decision and every rule that is not in the contracts lives here.
# Column-level facts (required, allowed values, ranges, references, freshness) live in
# orchestration/lib/contracts/sources.py; change them there.
# =====================================================================================

# Completeness: required columns must never be null (error). Optional columns with a
# `min_fill` in their contract warn below that share of non-null values; the others are
# sparse by nature (closed_at of open tickets, responded_at of unanswered surveys).

# Uniqueness of the primary key, per load: a key twice in one file is a warning (staging keeps
# the file's last row). Across loads a key repeats by design (re-exports of current-state
# sources are versions, docs/operations.md; re-delivered events are deduplicated).
# Row-level problems never block a run: rows that would corrupt scores (VALIDITY_ERROR_COLUMNS
# ranges, error-severity cross-field rules) are quarantined by the loader before they load;
# blocking stays for table-level failures (orphan rate, staleness, a missing table).

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

# Staleness: the newest `freshness_column` value must be within `stale_after_days` of the
# reference time, and the table must not be empty. Severity: the contract's stale_severity.
# A source that was never provided (no rows, no load batch) is a warning, "source not provided":
# scoring goes on without its factors (they show in missing_factors and lower the confidence).
# The reference time is now (orchestration.lib.clock: HEALTHSCORE_TODAY moves it), or the day after HEALTHSCORE_REFERENCE_DATE (for data exported in
# the past, e.g. the RavenStack example).
REFERENCE_DATE_ENV = "HEALTHSCORE_REFERENCE_DATE"
NOT_PROVIDED = "source not provided"


# Name of the suite parameter carrying the staleness cut-off (reference time - stale_after_days).
FRESHNESS_CUTOFF_PARAM = "freshness_cutoff"


def reference_date() -> dt.date:
    """The last day the data may describe: HEALTHSCORE_REFERENCE_DATE, else today (UTC)."""
    end = reference_time()
    return end.date() - dt.timedelta(days=1) if end is not None else clock.today()


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
