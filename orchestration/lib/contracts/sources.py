"""Source contracts: the one definition of every landing source.

Everything else derives from this module: the loader's casts and quarantine rules,
the dbt sources file (`healthscore gen-docs`), the Great Expectations suites, and
docs/sources.md. A test fails when a derived file drifts from these definitions.

A contract says, for each source kind: its columns with warehouse types, which are
required, the primary key, allowed values, and the `known_at` expression: the
timestamp from which a record counts as known for point-in-time features. A
feature "as of" a date uses only records whose known_at is on or before that date.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Warehouse-neutral type names; each engine maps them (see lib/engines/dialect.py).
VARCHAR = "varchar"
BIGINT = "bigint"
DOUBLE = "double"
BOOLEAN = "boolean"
DATE = "date"
TIMESTAMP = "timestamp"

TYPES = (VARCHAR, BIGINT, DOUBLE, BOOLEAN, DATE, TIMESTAMP)

# Landing-file formats, by file suffix (the loader and source mappings both read these).
FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}

# Load metadata columns added to every raw table by the loader.
LOAD_METADATA_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("_batch_id", VARCHAR, "Load batch that brought this row (one batch per file)."),
    ("_source_file", VARCHAR, "Landing file path, relative to the landing root."),
    ("_file_checksum", VARCHAR, "SHA-256 of the landing file."),
    ("_row_number", BIGINT, "1-based data row number inside the file (header excluded)."),
    ("_loaded_at", TIMESTAMP, "When the row was loaded into the warehouse (UTC)."),
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    required: bool = False
    allowed_values: tuple[str, ...] | None = None
    # Inclusive numeric range checked by the quality gates (not at load time).
    min_value: float | None = None
    max_value: float | None = None
    # Foreign key to another source's primary key, checked by the quality gates.
    references: str | None = None
    # Optional columns that should be mostly filled: below this share of non-null values the
    # completeness gate warns. None: sparse by nature (e.g. closed_at of open tickets).
    min_fill: float | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")


@dataclass(frozen=True)
class SourceContract:
    name: str
    description: str
    primary_key: str
    columns: tuple[Column, ...]
    # SQL expression over the source's columns giving the instant the record became known.
    known_at: str
    # Column whose newest value measures freshness, and the staleness limit in days.
    freshness_column: str
    stale_after_days: int
    # Error: a stale source blocks scoring. Warn: recorded and shown, scoring goes on.
    stale_severity: str = "warn"
    # A current-state export (the system's current view, exported again and again): every load is
    # kept and each key's versions are historised (dbt macro scd2_versions): a changed value
    # applies from its load date, earlier dates keep what was known then.
    history: bool = False
    # Records may legitimately be dated ahead (contract terms, scheduled churn): not quarantined
    # as dated in the future (the loader's FUTURE_TOLERANCE check), and they never move the as_of range.
    dated_ahead: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"source {self.name} has no column {name!r}")

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"


SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
OUTCOME_TYPES = ("churn", "renewal", "downgrade", "expansion")

ACCOUNTS = SourceContract(
    name="accounts",
    description="CRM accounts: one row per customer account (current state).",
    primary_key="account_id",
    columns=(
        Column("account_id", VARCHAR, "CRM account identifier.", required=True),
        Column("account_name", VARCHAR, "Company name.", required=True),
        Column("industry", VARCHAR, "Industry, used for peer groups and per-industry weights.", min_fill=0.9),
        Column(
            "segment",
            VARCHAR,
            "Segment / tier: any value (SMB, Mid-Market and Enterprise are spelled canonically).",
            required=True,
        ),
        Column("country", VARCHAR, "ISO 3166-1 alpha-2 country code.", min_fill=0.9),
        Column("owner", VARCHAR, "Account owner (CSM or account manager).", min_fill=0.9),
        Column("created_at", TIMESTAMP, "When the account was created in the CRM.", required=True),
        Column(
            "parent_account_id",
            VARCHAR,
            "Parent account for subsidiaries; scores roll up to it.",
            references="accounts",
        ),
    ),
    known_at="created_at",
    freshness_column="created_at",
    stale_after_days=120,
    history=True,
    dated_ahead=True,
    notes=(
        "A current-state export with history: re-export it whenever it changes; each load is kept, "
        "and an attribute changed by a later export (segment, industry, owner, parent) applies from "
        "that export's load date, earlier dates keep what was known then. The first export of an "
        "account also covers the dates before it.",
    ),
)

SUBSCRIPTIONS = SourceContract(
    name="subscriptions",
    description="Subscriptions / contracts: one row per contract term.",
    primary_key="subscription_id",
    columns=(
        Column("subscription_id", VARCHAR, "Contract identifier.", required=True),
        Column("account_id", VARCHAR, "Account holding the contract.", required=True, references="accounts"),
        Column("plan", VARCHAR, "Plan name.", required=True),
        Column("seats", BIGINT, "Licensed seats.", min_value=0, min_fill=0.9),
        Column("mrr", DOUBLE, "Monthly recurring revenue, in `currency`.", required=True, min_value=0),
        Column("arr", DOUBLE, "Annual recurring revenue (12 x MRR when absent).", min_value=0),
        Column("currency", VARCHAR, "ISO 4217 currency code."),
        Column("start_date", DATE, "First day of the term.", required=True),
        Column("end_date", DATE, "Last day of the term (cancellation date when cancelled)."),
        Column("renewal_date", DATE, "Next renewal date."),
        Column(
            "status",
            VARCHAR,
            "Contract status.",
            required=True,
            allowed_values=("trial", "active", "cancelled", "expired"),
        ),
        Column("discount_pct", DOUBLE, "Discount off list price, 0-100.", min_value=0, max_value=100),
    ),
    known_at="cast(start_date as timestamp)",
    freshness_column="start_date",
    stale_after_days=400,
    history=True,
    dated_ahead=True,
    notes=(
        "Point in time: a term counts as active on D when start_date <= D and "
        "(end_date is null or end_date >= D), with the values of its version known on D.",
        "A current-state export with history: a re-export that changes a term (MRR, seats, end date) "
        "applies from its load date.",
    ),
)

USAGE_EVENTS = SourceContract(
    name="usage_events",
    description="Product usage events: one row per user action (or aggregated count).",
    primary_key="event_id",
    columns=(
        Column("event_id", VARCHAR, "Event identifier.", required=True),
        Column("account_id", VARCHAR, "Account of the user.", required=True, references="accounts"),
        Column("user_id", VARCHAR, "User who acted.", required=True),
        Column("feature", VARCHAR, "Feature or event name.", required=True),
        Column("event_at", TIMESTAMP, "When the event happened.", required=True),
        Column("quantity", DOUBLE, "Event count or amount (1 when absent).", min_value=0, min_fill=0.9),
        Column("received_at", TIMESTAMP, "When the event reached the collector (late arrivals)."),
    ),
    known_at="coalesce(received_at, event_at)",
    freshness_column="event_at",
    stale_after_days=3,
    stale_severity="error",
)

ACCOUNT_METRICS = SourceContract(
    name="account_metrics",
    description=(
        "Custom numeric measurements per account (a metric name, a value, when it was measured): "
        "each declared metric becomes features (docs/features.md)."
    ),
    primary_key="measurement_id",
    columns=(
        Column("measurement_id", VARCHAR, "Measurement identifier.", required=True),
        Column("account_id", VARCHAR, "Measured account.", required=True, references="accounts"),
        Column(
            "metric", VARCHAR, "Metric name (lower-case; declared in the source's metrics).", required=True
        ),
        Column("value", DOUBLE, "Measured value.", required=True),
        Column("measured_at", TIMESTAMP, "When the value was measured.", required=True),
        Column("received_at", TIMESTAMP, "When the value reached us (late arrivals)."),
    ),
    known_at="coalesce(received_at, measured_at)",
    freshness_column="measured_at",
    stale_after_days=45,
    notes=("A value counts toward as_of D when it was measured and known by D.",),
)

SUPPORT_TICKETS = SourceContract(
    name="support_tickets",
    description="Support tickets with their text and satisfaction rating.",
    primary_key="ticket_id",
    columns=(
        Column("ticket_id", VARCHAR, "Ticket identifier.", required=True),
        Column("account_id", VARCHAR, "Requesting account.", required=True, references="accounts"),
        Column("opened_at", TIMESTAMP, "When the ticket was opened.", required=True),
        Column("closed_at", TIMESTAMP, "When the ticket was solved or closed."),
        Column("priority", VARCHAR, "Priority.", required=True, allowed_values=TICKET_PRIORITIES),
        Column(
            "status",
            VARCHAR,
            "Status at export time.",
            required=True,
            allowed_values=("open", "pending", "solved", "closed"),
        ),
        Column("csat_score", BIGINT, "Customer satisfaction rating, 1-5.", min_value=1, max_value=5),
        Column("subject", VARCHAR, "Ticket subject.", min_fill=0.9),
        Column("body", VARCHAR, "Ticket description (free text; may contain personal data).", min_fill=0.9),
    ),
    known_at="opened_at",
    freshness_column="opened_at",
    stale_after_days=14,
    notes=(
        "A ticket is open on D when opened_at <= D and (closed_at is null or closed_at > D); "
        "its CSAT counts from closed_at.",
    ),
)

SURVEY_RESPONSES = SourceContract(
    name="survey_responses",
    description="NPS / CSAT survey invitations and responses with verbatim text.",
    primary_key="response_id",
    columns=(
        Column("response_id", VARCHAR, "Survey invitation / response identifier.", required=True),
        Column("account_id", VARCHAR, "Account of the respondent.", required=True, references="accounts"),
        Column("respondent_id", VARCHAR, "Person invited."),
        Column("survey_type", VARCHAR, "Survey kind.", required=True, allowed_values=("nps", "csat")),
        Column("sent_at", TIMESTAMP, "When the survey was sent.", required=True),
        Column("responded_at", TIMESTAMP, "When the response came back (null: no response)."),
        Column("score", BIGINT, "NPS 0-10 or CSAT 1-5 (null: no response).", min_value=0, max_value=10),
        Column("verbatim", VARCHAR, "Free-text comment (may contain personal data)."),
    ),
    known_at="sent_at",
    freshness_column="sent_at",
    stale_after_days=60,
    notes=("A response counts from responded_at; an unanswered invitation counts toward response rate.",),
)

INVOICES = SourceContract(
    name="invoices",
    description="Invoices and their payments.",
    primary_key="invoice_id",
    columns=(
        Column("invoice_id", VARCHAR, "Invoice identifier.", required=True),
        Column("account_id", VARCHAR, "Billed account.", required=True, references="accounts"),
        Column("subscription_id", VARCHAR, "Contract billed.", references="subscriptions"),
        Column("amount", DOUBLE, "Invoice amount in `currency`.", required=True, min_value=0),
        Column("currency", VARCHAR, "ISO 4217 currency code.", required=True),
        Column("issued_at", DATE, "Invoice date.", required=True),
        Column("due_date", DATE, "Payment due date.", required=True),
        Column("paid_at", DATE, "Date the payment cleared (null: unpaid)."),
        Column(
            "status",
            VARCHAR,
            "Status at export time.",
            required=True,
            allowed_values=("open", "paid", "failed", "void"),
        ),
    ),
    known_at="cast(issued_at as timestamp)",
    freshness_column="issued_at",
    stale_after_days=45,
    notes=("An invoice is overdue on D when due_date < D and (paid_at is null or paid_at > D).",),
)

ACCOUNT_NOTES = SourceContract(
    name="account_notes",
    description="Account-manager notes with a health rating.",
    primary_key="note_id",
    columns=(
        Column("note_id", VARCHAR, "Note identifier.", required=True),
        Column("account_id", VARCHAR, "Account the note is about.", required=True, references="accounts"),
        Column("author", VARCHAR, "Who wrote the note.", required=True),
        Column(
            "rating",
            BIGINT,
            "Author's health rating, 1 (bad) to 5 (great).",
            min_value=1,
            max_value=5,
            min_fill=0.8,
        ),
        Column("note_text", VARCHAR, "Note text (may contain personal data).", min_fill=0.8),
        Column("noted_at", TIMESTAMP, "When the note was written.", required=True),
    ),
    known_at="noted_at",
    freshness_column="noted_at",
    stale_after_days=60,
)

SOCIAL_MENTIONS = SourceContract(
    name="social_mentions",
    description="Public social / review-site mentions attributed to an account.",
    primary_key="mention_id",
    columns=(
        Column("mention_id", VARCHAR, "Mention identifier.", required=True),
        Column("account_id", VARCHAR, "Attributed account.", required=True, references="accounts"),
        Column(
            "channel", VARCHAR, "Where it was posted (twitter, linkedin, g2, reddit, ...).", required=True
        ),
        Column("mention_text", VARCHAR, "Text of the mention.", min_fill=0.9),
        Column("mentioned_at", TIMESTAMP, "When it was posted.", required=True),
    ),
    known_at="mentioned_at",
    freshness_column="mentioned_at",
    stale_after_days=90,
)

OUTCOMES = SourceContract(
    name="outcomes",
    description="Churn, renewal, downgrade and expansion events: what actually happened.",
    primary_key="outcome_id",
    columns=(
        Column("outcome_id", VARCHAR, "Outcome event identifier.", required=True),
        Column("account_id", VARCHAR, "Account.", required=True, references="accounts"),
        Column("outcome_type", VARCHAR, "Kind of outcome.", required=True, allowed_values=OUTCOME_TYPES),
        Column("outcome_date", DATE, "Effective date.", required=True),
        Column("mrr_delta", DOUBLE, "Change in MRR (negative for churn and downgrade)."),
        Column("reason", VARCHAR, "Reason code or short text."),
    ),
    known_at="cast(outcome_date as timestamp)",
    freshness_column="outcome_date",
    stale_after_days=120,
    dated_ahead=True,  # a scheduled churn or renewal is recorded before it happens
)

OVERRIDES = SourceContract(
    name="overrides",
    description="Human score overrides: data, with author, reason and expiry.",
    primary_key="override_id",
    columns=(
        Column("override_id", VARCHAR, "Override identifier.", required=True),
        Column("account_id", VARCHAR, "Account overridden.", required=True, references="accounts"),
        Column(
            "objective",
            VARCHAR,
            "Score objective the override applies to.",
            required=True,
            allowed_values=("retention_risk", "expansion_potential"),
        ),
        Column(
            "action",
            VARCHAR,
            "set_score: replace the score; adjust_score: add `value`; set_grade: force `grade`.",
            required=True,
            allowed_values=("set_score", "adjust_score", "set_grade"),
        ),
        Column(
            "value",
            DOUBLE,
            "Score (set_score) or points to add (adjust_score).",
            min_value=-100,
            max_value=100,
        ),
        Column("grade", VARCHAR, "Grade for set_grade.", allowed_values=("red", "yellow", "green")),
        Column("author", VARCHAR, "Who made the override.", required=True),
        Column("reason", VARCHAR, "Why (required: an override without a reason is rejected).", required=True),
        Column("created_at", TIMESTAMP, "When the override was made; applies from then.", required=True),
        Column("expires_at", TIMESTAMP, "When it stops applying (null: until revoked)."),
    ),
    known_at="created_at",
    freshness_column="created_at",
    stale_after_days=100000,
    dated_ahead=True,  # an override can be prepared ahead; it applies from created_at
)

CONTRACTS: dict[str, SourceContract] = {
    c.name: c
    for c in (
        ACCOUNTS,
        SUBSCRIPTIONS,
        USAGE_EVENTS,
        ACCOUNT_METRICS,
        SUPPORT_TICKETS,
        SURVEY_RESPONSES,
        INVOICES,
        ACCOUNT_NOTES,
        SOCIAL_MENTIONS,
        OUTCOMES,
        OVERRIDES,
    )
}


def get_contract(source: str) -> SourceContract:
    try:
        return CONTRACTS[source]
    except KeyError:
        known = ", ".join(sorted(CONTRACTS))
        raise KeyError(f"unknown source {source!r}; known sources: {known}") from None
