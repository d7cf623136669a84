"""The independent yardstick: the feature mart built by hand-written SQL, apart from the dbt models.

    python -m benchmarks.independent.build --warehouse .bench/S/warehouse/healthscore.duckdb \\
        --out .bench/S/independent.duckdb --compare

Reads the raw tables (and the sentiment model's text scores) of `--warehouse`, the tables the
dbt models read, and writes `fct_account_features_daily` with the same columns and values into
`--out`, in one DuckDB connection: mart.sql (hand-written; see its header for the method), then
the per-(account, day) gathering, the one dense table and the one window written below. Custom
attributes and metrics follow raw._feature_declarations, as the dbt models do. `--compare`
checks every value against the pipeline's mart (`compare_marts`).

Account buckets (`--buckets`, by default one per about 20,000 accounts: S and M are one bucket,
L five): mart.sql's first part (what is global across accounts) runs once, then its second part
and everything below run once per contiguous range of accounts in account_id order, each
bucket's rows appended to the mart and its temp tables dropped, so that spill and memory are one
bucket's. Every computation in the per-bucket part is per account: the rows are the same.

Not a copy of the dbt SQL: the definitions (point-in-time rules, windows, dedupe) were read from
the models and written again in another shape; the equality test keeps the two honest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).parent
PACK = 1048576  # pk(a, d) = a * PACK + d (mart.sql)
ACCOUNTS_PER_BUCKET = 20_000  # the default bucket size (--buckets)
# mart.sql: above this line once, below it once per account bucket
BUCKET_PART = re.compile(r"^-- ==== once per account bucket ====$", re.M)

# running sums: (column, type of the delta)
SUMS = [
    "events_30d", "events_prev_30d", "active_users_30d", "active_users_prev_30d", "features_used_30d",
    "tickets_30d", "tickets_90d", "high_priority_90d", "open_tickets", "resolved_90d",
    "resolution_seconds_90d", "csat_responses_90d", "csat_sum_90d",
    "invitations_180d", "responses_180d",
    "mrr", "seats", "active_subscriptions", "mrr_90d_ago",
    "overdue_invoices", "late_payments_180d", "failed_payments_180d",
    "tickets_sentiment_sum", "tickets_sentiment_items", "surveys_sentiment_sum", "surveys_sentiment_items",
    "notes_sentiment_sum", "notes_sentiment_items", "social_sentiment_sum", "social_sentiment_items",
    "items_90d", "negative_items_90d", "negative_items_14d", "very_negative_items_14d",
    "sentiment_sum_30d", "sentiment_items_30d", "sentiment_sum_prev_30d", "sentiment_items_prev_30d",
]  # fmt: skip
# running maxima of a day known by D (packed with the account)
LATEST = [
    "last_activity", "last_usage_known", "last_ticket_known", "last_survey_known", "last_billing_known",
    "last_note", "last_mention", "last_outcome",
]  # fmt: skip
# change records carried forward (structs holding their account)
STATES = ["account_state", "churn_state", "nps_state", "note_state", "term_state"]
ISLAND_KINDS = {0: "active_users_30d", 1: "active_users_prev_30d", 2: "features_used_30d"}


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    if not re.match(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$", name):
        raise ValueError(f"invalid declared feature name {name!r}")
    return name


def declarations(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], list[dict]]:
    """(attributes, metrics) declared in src.raw._feature_declarations, in the mart's column order."""
    try:
        rows = con.execute(
            "select source, kind, name, feature_type, origin, windows, aggregations "
            "from src.raw._feature_declarations order by source, name"
        ).fetchall()
    except duckdb.CatalogException:
        return [], []
    attributes, metrics = [], []
    for source, kind, name, feature_type, origin, windows, aggregations in rows:
        item = {
            "source": source,
            "name": _ident(name),
            "type": feature_type,
            "origin": origin,
            "windows": [int(w) for w in (windows or "").split(",") if w.strip()],
            "aggregations": (aggregations or "").split(","),
        }
        (attributes if kind == "attribute" else metrics).append(item)
    return attributes, metrics


def _attribute_value(attribute: dict, expression: str) -> str:
    kind = attribute["type"]
    if kind == "boolean":
        return f"case {expression} when 'true' then true when 'false' then false end"
    sql_type = {"numeric": "double", "date": "date"}.get(kind, "varchar")
    return f"cast({expression} as {sql_type})"


def script(con: duckdb.DuckDBPyConnection, reference_date: dt.date) -> tuple[list[str], list[str], dict]:
    """mart.sql with its markers filled: the statements run once, the statements run per account
    bucket (still holding the `$in_bucket$` marker: `bucket_statements`), and the declared custom
    features."""
    attributes, metrics = declarations(con)
    text = (HERE / "mart.sql").read_text().replace("$ref_date$", reference_date.isoformat())
    pivot = "".join(
        f", max(case when name = {_lit(a['name'])} and source = {_lit(a['source'])} then value end) as {a['name']}"
        for a in attributes
    )
    text = text.replace("$attribute_columns$", pivot)
    text = text.replace(
        "$account_attribute_fields$",
        "".join(f", attr_{a['name']}: av.{a['name']}" for a in attributes if a["source"] == "accounts"),
    )
    text = text.replace(
        "$subscription_attribute_fields$",
        "".join(f", attr_{a['name']}: av.{a['name']}" for a in attributes if a["source"] == "subscriptions"),
    )
    if metrics:
        parts = []
        from_metrics = [m for m in metrics if m["source"] == "account_metrics"]
        from_usage = [m for m in metrics if m["source"] == "usage_events"]
        if from_metrics:
            values = ", ".join(f"({_lit(m['name'])}, {_lit(m['origin'])})" for m in from_metrics)
            parts.append(
                "select m.account_id, declared.name as metric, dn(m.measured_at) as md, dn(m.known_at) as kd, "
                "date_trunc('second', m.measured_at) as measured_second, cast(m.value as double) as value "
                f"from metrics as m inner join (values {values}) as declared(name, origin) "
                "on m.metric = declared.origin where in_bucket(m.account_id)"
            )
        if from_usage:
            values = ", ".join(f"({_lit(m['name'])}, {_lit(m['origin'])})" for m in from_usage)
            parts.append(
                "select u.account_id, declared.name, dn(u.event_at), dn(coalesce(u.received_at, u.event_at)), "
                "cast(cast(u.event_at as date) as timestamp), sum(cast(u.quantity as double)) "
                f"from usage_events as u inner join (values {values}) as declared(name, origin) "
                "on u.feature = declared.origin group by all"
            )
        measurements = (
            "create temp table measurements as select *, dense_rank() over (partition by account_id, metric "
            "order by measured_second, cast(value as varchar)) as value_rank from ("
            + " union all ".join(parts)
            + ");"
        )
        deltas = []
        for m in metrics:
            name = m["name"]
            for w in m["windows"]:
                deltas.append(
                    f"union all by name select account_id, greatest(md, kd) as d, value as {name}__sum_{w}d, "
                    f"1 as {name}__count_{w}d from measurements where metric = {_lit(name)} "
                    f"and greatest(md, kd) < md + {w}"
                )
                deltas.append(
                    f"union all by name select account_id, md + {w} as d, -value as {name}__sum_{w}d, "
                    f"-1 as {name}__count_{w}d from measurements where metric = {_lit(name)} "
                    f"and greatest(md, kd) < md + {w}"
                )
        text = text.replace("$metric_measurements$", measurements)
        text = text.replace("$metric_deltas$", "\n".join(deltas))
    else:
        text = text.replace("$metric_measurements$", "").replace("$metric_deltas$", "")
    once, per_bucket = BUCKET_PART.split(text)
    return _statements(once), _statements(per_bucket), {"attributes": attributes, "metrics": metrics}


def _statements(text: str) -> list[str]:
    # statements end with ';' at the end of a line
    return [s.strip() for s in re.split(r";\s*\n", text) if _code(s)]


def bucket_bounds(con: duckdb.DuckDBPyConnection, buckets: int | None) -> list[tuple[str, int]]:
    """The account buckets as (the `in_bucket` predicate, accounts): contiguous ranges of
    all_spans (the accounts in account_id order) of about equal counts. buckets: None or 0 picks
    one per ACCOUNTS_PER_BUCKET accounts; one bucket is the predicate `true` (every row, as an
    unbucketed build)."""
    n = con.execute("select count(*) from all_spans").fetchone()[0]
    if not buckets or buckets < 1:
        buckets = math.ceil(n / ACCOUNTS_PER_BUCKET)
    buckets = max(1, min(buckets, n))
    if buckets == 1:
        return [("true", n)]
    edges = [b * n // buckets for b in range(buckets + 1)]  # bucket b: a in (edges[b], edges[b + 1]]
    wanted = sorted({e + 1 for e in edges[:-1]} | set(edges[1:]))
    ids = dict(
        con.execute(
            f"select a, account_id from all_spans where a in ({', '.join(map(str, wanted))})"
        ).fetchall()
    )

    def lit(value) -> str:
        return _lit(value) if isinstance(value, str) else str(value)

    return [
        (
            f"account_id between {lit(ids[edges[b] + 1])} and {lit(ids[edges[b + 1]])}",
            edges[b + 1] - edges[b],
        )
        for b in range(buckets)
    ]


def bucket_statements(statements: list[str], predicate: str) -> list[str]:
    return [s.replace("$in_bucket$", predicate) for s in statements]


def _code(statement: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in statement.splitlines())


DOMAINS = ["usage", "support", "voice", "billing", "signal", "sentiment", "metric"]


def domain_sums(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Each domain's deltas summed per (account, day) on their own: narrow tables, far fewer rows
    than the deltas (one wide union of every delta row spilled at 5,000 accounts)."""
    statements = []
    for domain in DOMAINS:
        columns = [r[0] for r in con.execute(f"describe {domain}_deltas").fetchall()]
        aggregates = [
            f"max({c}) as {c}" if c in LATEST else f"sum({c}) as {c}"
            for c in columns
            if c not in ("account_id", "d")
        ]
        statements.append(
            f"create temp table {domain}_sums as select account_id, d"
            + "".join(f", {a}" for a in aggregates)
            + f" from {domain}_deltas where in_bucket(account_id) group by account_id, d"
        )
    return statements


def assembly(declared: dict) -> list[str]:
    """The gathering per (account, day), the dense table, the one window and the mart's columns
    (a select: build() creates the mart from the first bucket's and appends the others')."""
    attributes, metrics = declared["attributes"], declared["metrics"]
    sums = list(SUMS)
    latest_keys = []  # (column, metric, shift)
    for m in metrics:
        for w in m["windows"]:
            sums += [f"{m['name']}__sum_{w}d", f"{m['name']}__count_{w}d"]
        latest_keys.append((f"{m['name']}__latest", m["name"], 0))
        if "change" in m["aggregations"]:
            latest_keys += [(f"{m['name']}__latest_{w}d_ago", m["name"], w) for w in m["windows"]]

    island = ", ".join(f"case when kind = {k} then delta end as {c}" for k, c in ISLAND_KINDS.items())
    metric_rows = "".join(
        f" union all by name select s.a, s.fd, s.ld, greatest(x.md, x.kd) + {shift} as d, "
        f"pk(s.a, x.value_rank) as {col}_key, x.value as {col}_value, x.value_rank as {col}_rank "
        f"from measurements as x inner join spans as s using (account_id) where x.metric = {_lit(metric)}"
        for col, metric, shift in latest_keys
    )
    latest_aggs = "".join(
        f", max({col}_key) as {col}_key, arg_max({col}_value, {col}_rank) as {col}_value"
        for col, _m, _s in latest_keys
    )
    flows = f"""
create temp table flows as
with x as (
    {
        " union all by name ".join(
            f"select s.a, s.fd, s.ld, x.* exclude (account_id) from {domain}_sums as x inner join spans as s using (account_id)"
            for domain in DOMAINS
        )
    }
    union all by name
    select e.a, s.fd, s.ld, e.d, {island} from island_edges as e inner join spans as s using (a)
    {
        "".join(
            f" union all by name select t.*, s.fd, s.ld from {st} as t inner join spans as s using (a)"
            for st in STATES
        )
    }
    union all by name select w.*, s.fd, s.ld from worst_text as w inner join spans as s using (a)
    {metric_rows}
)
select a, greatest(d, fd) as d,
    {", ".join(f"sum({c}) as {c}" for c in sums)},
    {", ".join(f"max(pk(a, {c})) as {c}" for c in LATEST)},
    {", ".join(f"any_value({c}) as {c}" for c in STATES)},
    any_value(worst) filter (where d >= fd) as worst
    {latest_aggs}
from x
where d <= ld
group by a, greatest(d, fd)
"""
    # Each account's running sums start from zero: its first day carries minus the net total of
    # the account before it (the window below runs over all accounts in one pass, and at the end
    # of an account it holds that account's own net total).
    resets = f"""
create temp table resets as
select a, fd as d,
    {", ".join(f"-coalesce(lag({c}) over (order by a), 0) as {c}" for c in sums)}
from spans left join (select a, {", ".join(f"sum({c}) as {c}" for c in sums)} from flows group by a) using (a)
"""
    dense = f"""
create temp table dense as
select a, d,
    {", ".join(f"coalesce(f.{c}, 0) + coalesce(r.{c}, 0) as {c}" for c in sums)},
    {", ".join(f"f.{c}" for c in LATEST + STATES)}, f.worst
    {"".join(f", f.{col}_key, f.{col}_value" for col, _m, _s in latest_keys)}
from (select a, unnest(range(fd, ld + 1)) as d from spans) as spine
left join flows as f using (a, d)
left join resets as r using (a, d)
order by a, d
"""
    w = "over (rows between unbounded preceding and current row)"
    running = f"""
create temp table running as
select a, d,
    {", ".join(f"sum({c}) {w} as {c}" for c in sums)},
    {", ".join(f"max({c}) {w} as {c}" for c in LATEST)},
    {", ".join(f"last_value({c} ignore nulls) {w} as {c}" for c in STATES)},
    worst
    {"".join(f", max({col}_key) {w} as {col}_key, arg_max({col}_value, {col}_key) {w} as {col}_value" for col, _m, _s in latest_keys)}
from dense
"""
    return [flows, resets, dense, running, final_select(attributes, metrics)]


def final_select(attributes: list[dict], metrics: list[dict]) -> str:
    def day(col: str) -> str:  # a packed running max -> the account's day number, or null
        return f"case when {col} // {PACK} = a then {col} % {PACK} end"

    def state(name: str, field: str) -> str:
        return f"case when {name}.a = a then {name}.{field} end"

    def ratio(num: str, den: str) -> str:
        return f"cast({num} as double) / nullif(cast({den} as double), 0)"

    def pct(cur: str, prev: str) -> str:
        return f"100.0 * (cast({cur} as double) - cast({prev} as double)) / nullif(cast({prev} as double), 0)"

    tickets = "(select count(*) > 0 from tickets)"
    invoices_ = "(select count(*) > 0 from invoices)"
    columns = [
        "account_id",
        "dd(d) as as_of_date",
        f"{state('account_state', 'account_name')} as account_name",
        f"{state('account_state', 'segment')} as segment",
        f"{state('account_state', 'industry')} as industry",
        f"{state('account_state', 'owner')} as owner",
        f"{state('account_state', 'parent_account_id')} as parent_account_id",
        "churned_on is not null as is_churned",
        "churned_on",
        f"d - dn({state('account_state', 'created_at')}) as tenure_days",
        "term.plan as plan",
        "cast(term.contract_term_months as integer) as contract_term_months",
        "cast(active_subscriptions as integer) as active_subscriptions",
        "cast(active_users_30d as integer) as active_users_30d",
        "cast(active_users_prev_30d as integer) as active_users_prev_30d",
        f"{pct('active_users_30d', 'active_users_prev_30d')} as active_users_change_pct",
        "cast(events_30d as bigint) as events_30d",
        "cast(events_prev_30d as bigint) as events_prev_30d",
        f"{pct('events_30d', 'events_prev_30d')} as usage_change_pct",
        "cast(features_used_30d as integer) as features_used_30d",
        "d - last_activity_day as days_since_last_activity",
        "cast(seats as bigint) as seats",
        f"{ratio('active_users_30d', 'seats')} as seat_utilisation",
        f"case when {tickets} then cast(tickets_30d as integer) end as tickets_30d",
        f"case when {tickets} then cast(tickets_90d as integer) end as tickets_90d",
        f"case when {tickets} then {ratio('high_priority_90d', 'tickets_90d')} end as high_priority_share_90d",
        f"case when {tickets} then cast(open_tickets as integer) end as open_tickets",
        f"case when {tickets} then {ratio('resolution_seconds_90d / 3600.0', 'resolved_90d')} end"
        " as avg_resolution_hours_90d",
        f"case when {tickets} then {ratio('csat_sum_90d', 'csat_responses_90d')} end as csat_avg_90d",
        "nps_latest",
        "nps_previous",
        "nps_latest - nps_previous as nps_change",
        f"{ratio('responses_180d', 'invitations_180d')} as survey_response_rate_180d",
        "mrr_rounded as mrr",
        "cast(round(cast(term.total_arr as decimal(18, 4)), 2) as double) as arr",
        "mrr_90d_ago_rounded as mrr_90d_ago",
        f"{pct('mrr_rounded', 'mrr_90d_ago_rounded')} as mrr_change_pct_90d",
        f"case when {invoices_} then cast(overdue_invoices as integer) end as overdue_invoices",
        f"case when {invoices_} then cast(late_payments_180d as integer) end as late_payments_180d",
        f"case when {invoices_} then cast(failed_payments_180d as integer) end as failed_payments_180d",
        "list_min(list_filter(term.renewals, lambda r: r >= d)) - d as days_to_renewal",
        "term.discount_pct as discount_pct",
        "d - last_note_day as days_since_last_note",
        f"{state('note_state', 'rating')} as am_rating_latest",
    ]
    for channel, days in (("tickets", 90), ("surveys", 180), ("notes", 90), ("social", 90)):
        columns += [
            f"{ratio(f'{channel}_sentiment_sum', f'{channel}_sentiment_items')} as sentiment_{channel}_avg_{days}d",
            f"cast({channel}_sentiment_items as integer) as sentiment_{channel}_items_{days}d",
        ]
    columns += [
        "cast(items_90d as integer) as sentiment_items_90d",
        f"{ratio('negative_items_90d', 'items_90d')} as negative_share_90d",
        "cast(negative_items_14d as integer) as negative_items_14d",
        "cast(very_negative_items_14d as integer) as very_negative_items_14d",
        f"{ratio('sentiment_sum_30d', 'sentiment_items_30d')} - {ratio('sentiment_sum_prev_30d', 'sentiment_items_prev_30d')}"
        " as sentiment_trend_30d",
        """case when worst is not null then
            cast(cast(very_negative_items_14d as integer) as varchar) || ' very negative text'
            || case when very_negative_items_14d >= 1.5 then 's' else '' end || ' in the last 14 days'
            || coalesce(' (worst about ' || worst.topic || ')', '') || ': '
            || case worst.channel when 'tickets' then 'ticket' when 'surveys' then 'survey response'
                when 'notes' then 'account-manager note' else 'social mention' end
            || ' ' || worst.record_id || ' on ' || cast(dd(worst.k) as varchar) || ', "'
            || coalesce(worst.excerpt, '') || '"' end as sentiment_top_negative""",
        "d - greatest(last_usage_known_day, last_ticket_known_day, last_survey_known_day, last_billing_known_day,"
        " last_note_day, last_mention_day, last_outcome_day) as days_since_last_signal",
        "last_usage_known_day is not null as has_usage_data",
        "last_ticket_known_day is not null as has_support_data",
        "last_survey_known_day is not null as has_survey_data",
        "last_billing_known_day is not null as has_billing_data",
        "last_note_day is not null as has_notes",
        "(select inputs_loaded_through from as_of_range) as inputs_loaded_through",
    ]
    for a in attributes:
        # an account's attribute from its version known on D; a subscription's from the primary term's
        if a["source"] == "accounts":
            source = state("account_state", "attr_" + a["name"])
        else:
            source = f"term.attr_{a['name']}"
        columns.append(f"{_attribute_value(a, source)} as attr_{a['name']}")
    for m in metrics:
        name = m["name"]
        latest = f"{name}__latest_now"
        for w in m["windows"]:
            if "sum" in m["aggregations"]:
                columns.append(
                    f"case when {latest} is not null then cast(round(cast({name}__sum_{w}d as decimal(38, 6)), 6)"
                    f" as double) end as metric_{name}__sum_{w}d"
                )
            if "avg" in m["aggregations"]:
                columns.append(
                    f"case when {name}__count_{w}d > 0.5 then {name}__sum_{w}d / {name}__count_{w}d end"
                    f" as metric_{name}__avg_{w}d"
                )
        if "latest" in m["aggregations"]:
            columns.append(f"{latest} as metric_{name}__latest")
        if "change" in m["aggregations"]:
            for w in m["windows"]:
                columns.append(f"{latest} - {name}__latest_{w}d_ago_now as metric_{name}__change_{w}d")
    # the project's own feature model (models/features/cf_contract_progress.sql)
    columns += [
        "case when term.n_terms > 0 then d - term.first_start end as cf_days_into_term",
        # (least() would skip a null share)
        """case when term.n_terms > 0 then list_max(list_transform(term.terms,
            lambda t: cast(d - t.s as double) / nullif(cast(t.r - t.s as double), 0))) end as elapsed_share""",
    ]
    latest_values = "".join(
        f", case when {col}_key // {PACK} = a then {col}_value end as {col}_now"
        for col in [f"{m['name']}__latest" for m in metrics]
        + [
            f"{m['name']}__latest_{w}d_ago"
            for m in metrics
            if "change" in m["aggregations"]
            for w in m["windows"]
        ]
    )
    return f"""
select * exclude (elapsed_share),
    case when elapsed_share > 1 then 1.0 else elapsed_share end as cf_term_elapsed_share
from (
select {", ".join(columns)}
from (
    select r.*, s.account_id,
        {", ".join(f"{day(c)} as {c}_day" for c in LATEST)},
        case when churn_state.a = r.a then churn_state.churned_on end as churned_on,
        case when nps_state.a = r.a and r.d < nps_state.rday + 365 then nps_state.score end as nps_latest,
        case when nps_state.a = r.a and r.d < nps_state.rday + 365 and nps_state.previous_rday > r.d - 365
            then nps_state.previous_score end as nps_previous,
        case when term_state.a = r.a then term_state end as term,
        cast(round(cast(mrr as decimal(18, 4)), 2) as double) as mrr_rounded,
        cast(round(cast(mrr_90d_ago as decimal(18, 4)), 2) as double) as mrr_90d_ago_rounded
        {latest_values}
    from running as r inner join spans as s using (a)
)
)
"""


def _print(message: str) -> None:
    print(message, flush=True)


def build(
    warehouse: Path,
    out: Path,
    reference_date: dt.date,
    *,
    memory_limit: str | None = None,
    score_history_days: int | None = None,
    buckets: int | None = None,
    log=_print,
) -> dict:
    """Build the mart from `warehouse`'s raw tables into `out`. Returns seconds per stage, each
    summed over the account buckets; "mart" is the wall clock of the whole build.

    buckets: how many account buckets (None or 0: one per ACCOUNTS_PER_BUCKET accounts).
    score_history_days: also score the mart with the project's scorecard SQL (`compute_scores`,
    the default card) over the pipeline's first-run history (that many days, capped in
    account-days as the pipeline caps it), timed apart as "scoring": the bound plus scoring."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for p in (out, out.with_suffix(out.suffix + ".wal")):
        p.unlink(missing_ok=True)
    names = ["gather per account-day", "resets", "dense table", "one window", "columns"]
    stages: dict[str, float] = dict.fromkeys(["inputs and deltas", "per-domain sums", *names], 0.0)
    started = time.perf_counter()
    con = duckdb.connect(
        str(out), config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )

    def run(stage: str, statements: list[str]) -> None:
        t0 = time.perf_counter()
        for sql in statements:
            con.execute(sql)
        stages[stage] += time.perf_counter() - t0

    try:
        con.execute("set enable_progress_bar = false")
        if memory_limit:
            con.execute(f"set memory_limit = '{memory_limit}'")
        con.execute(f"attach {_lit(str(warehouse))} as src (read_only)")
        once, per_bucket, declared = script(con, reference_date)
        run("inputs and deltas", once)
        bounds = bucket_bounds(con, buckets)
        accounts = sum(n for _p, n in bounds)
        log(
            f"independent: {accounts:,} accounts in {len(bounds)} bucket"
            + ("" if len(bounds) == 1 else f"s of about {accounts // len(bounds):,}")
        )
        # what the first part made stays; each bucket's own tables and views are dropped after it
        kept = _temp_objects(con)
        steps = assembly(declared)
        target = "main.fct_account_features_daily"
        for number, (predicate, n) in enumerate(bounds, 1):
            t_bucket = time.perf_counter()
            run("inputs and deltas", bucket_statements(per_bucket, predicate))
            run("per-domain sums", domain_sums(con))
            for name, sql in zip(names[:-1], steps[:-1], strict=True):
                run(name, [sql])
            run(
                "columns",
                [
                    f"create or replace table {target} as {steps[-1]}"
                    if number == 1
                    else f"insert into {target} {steps[-1]}"
                ],
            )
            if len(bounds) > 1:
                # views first (they read the tables)
                for kind, name in sorted(_temp_objects(con) - kept, reverse=True):
                    con.execute(f'drop {kind} temp.main."{name}"')
                con.execute("checkpoint")
            log(
                f"independent: bucket {number}/{len(bounds)} ({n:,} accounts): {time.perf_counter() - t_bucket:.1f} s"
            )
        stages["mart"] = time.perf_counter() - started
        if score_history_days:
            t0 = time.perf_counter()
            _score(con, score_history_days)
            stages["scoring"] = time.perf_counter() - t0
    finally:
        con.close()
    stages["total"] = time.perf_counter() - started
    log("independent: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    return stages


def _temp_objects(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    views = con.execute("select view_name from duckdb_views() where temporary and not internal").fetchall()
    tables = con.execute("select table_name from duckdb_tables() where temporary").fetchall()
    return {("view", v) for (v,) in views} | {("table", t) for (t,) in tables}


def _score(con: duckdb.DuckDBPyConnection, history_days: int) -> None:
    """The project's scoring SQL over the independent mart (not independent: the scorecard compiler)."""
    from orchestration.lib.scoring.scorecard import load_scorecard_for
    from orchestration.lib.scoring.scores import compute_scores, history_days_for
    from orchestration.lib.settings import PROJECT_ROOT

    con.execute("create schema if not exists raw")
    con.execute("create or replace view raw.overrides as select * from src.raw.overrides")
    end, accounts = con.execute(
        "select max(as_of_date), count(*) filter (where as_of_date = (select max(as_of_date) "
        "from main.fct_account_features_daily)) from main.fct_account_features_daily"
    ).fetchone()
    start = end - dt.timedelta(days=history_days_for(accounts, history_days) - 1)
    card = load_scorecard_for(
        con, PROJECT_ROOT / "scorecards" / "default.yml", "main.fct_account_features_daily"
    )
    compute_scores(
        con, card, features_table="main.fct_account_features_daily", as_of_start=start, as_of_end=end
    )
    con.execute("create or replace temp table independent_scores as select * from _sc_final")


def compare_marts(
    independent: Path,
    pipeline: Path,
    *,
    rel_tol: float = 1e-9,
    abs_tol: float = 1e-6,
    examples: int = 3,
    table: str = "marts.fct_account_features_daily",
) -> dict:
    """Every value of the independent mart against the pipeline's marts.fct_account_features_daily
    (or `table` in the `pipeline` file: another independent build's main.fct_account_features_daily).

    Rows are matched on (account_id, as_of_date); numbers are equal within abs_tol + rel_tol * |x|
    (running float sums differ in the last bits), everything else exactly (null equals null).
    Returns row counts, unmatched rows, columns only one side has, and per column the number of
    differing rows with a few examples."""
    con = duckdb.connect(str(independent), read_only=True)
    try:
        con.execute(f"attach {_lit(str(pipeline))} as pipeline (read_only)")
        ours = {r[0]: r[1] for r in con.execute("describe main.fct_account_features_daily").fetchall()}
        theirs = {r[0]: r[1] for r in con.execute(f"describe pipeline.{table}").fetchall()}
        common = [c for c in theirs if c in ours and c not in ("account_id", "as_of_date")]
        numeric = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "BIGINT", "INTEGER", "HUGEINT", "SMALLINT")

        def differs(c: str) -> str:
            if theirs[c].startswith(numeric) and ours[c].startswith(numeric):
                x, y = f"cast(i.{c} as double)", f"cast(p.{c} as double)"
                return (
                    f"(({x} is null) <> ({y} is null) or abs({x} - {y}) > {abs_tol} + {rel_tol} * abs({y}))"
                )
            return f"(i.{c} is distinct from p.{c})"

        con.execute(
            "create temp table joined as select i.account_id as i_account, p.account_id as p_account, "
            "coalesce(i.account_id, p.account_id) as account_id, coalesce(i.as_of_date, p.as_of_date) as as_of_date, "
            + ", ".join(f"coalesce({differs(c)}, false) as {c}" for c in common)
            + " from main.fct_account_features_daily as i full outer join pipeline."
            + table
            + " as p on i.account_id = p.account_id and i.as_of_date = p.as_of_date"
        )
        rows = con.execute(
            "select count(i_account), count(p_account), count(*) filter (where i_account is null or p_account is null)"
            " from joined"
        ).fetchone()
        counts = (
            con.execute(
                "select "
                + ", ".join(
                    f"count(*) filter (where {c} and i_account is not null and p_account is not null)"
                    for c in common
                )
                + " from joined"
            ).fetchone()
            if common
            else []
        )
        mismatches = {}
        for c, n in zip(common, counts, strict=True):
            if n:
                sample = con.execute(
                    f"select j.account_id, j.as_of_date, i.{c}, p.{c} from joined as j "
                    "inner join main.fct_account_features_daily as i using (account_id, as_of_date) "
                    f"inner join pipeline.{table} as p using (account_id, as_of_date) "
                    f"where j.{c} order by 1, 2 limit {examples}"
                ).fetchall()
                mismatches[c] = {"rows": n, "examples": [[str(v) for v in r] for r in sample]}
    finally:
        con.close()
    return {
        "independent_rows": rows[0],
        "pipeline_rows": rows[1],
        "unmatched_rows": rows[2],
        "columns_compared": len(common),
        "only_in_pipeline": [c for c in theirs if c not in ours],
        "only_in_independent": [c for c in ours if c not in theirs],
        "mismatches": mismatches,
    }


def is_equal(result: dict) -> bool:
    return (
        result["unmatched_rows"] == 0
        and not result["mismatches"]
        and not result["only_in_pipeline"]
        and not result["only_in_independent"]
    )


def main(argv: list[str] | None = None) -> int:
    from orchestration.lib.quality.policy import reference_date

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warehouse", required=True, help="a warehouse with the raw tables (read only)")
    parser.add_argument("--out", required=True, help="the DuckDB file to write the mart into")
    parser.add_argument("--reference-date", default=None, help="ISO date (default: as the pipeline's)")
    parser.add_argument(
        "--memory-limit",
        default=None,
        help="DuckDB memory limit (default: the pipeline's, HEALTHSCORE_DUCKDB_MEMORY_LIMIT)",
    )
    parser.add_argument(
        "--buckets",
        type=int,
        default=0,
        help=f"account buckets built one after another (default 0: one per {ACCOUNTS_PER_BUCKET:,} accounts)",
    )
    parser.add_argument("--compare", action="store_true", help="compare with the warehouse's own mart")
    parser.add_argument(
        "--score-history-days", type=int, default=0, help="also score this many days (timed apart)"
    )
    args = parser.parse_args(argv)
    from orchestration.lib.engines.warehouse import memory_limit

    ref = dt.date.fromisoformat(args.reference_date) if args.reference_date else reference_date()
    args.memory_limit = args.memory_limit or memory_limit()
    stages = build(
        Path(args.warehouse),
        Path(args.out),
        ref,
        memory_limit=args.memory_limit,
        score_history_days=args.score_history_days,
        buckets=args.buckets,
    )
    print("STAGES " + json.dumps(stages))
    if args.compare:
        result = compare_marts(Path(args.out), Path(args.warehouse))
        print("COMPARE " + json.dumps(result, default=str))
        return 0 if is_equal(result) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
