"""Synthetic demo data: one Parquet file per landing source, with a planted signal and planted flaws.

Everything is generated inside one in-memory DuckDB connection with set-based SQL: nothing is
generated row by row in Python. Randomness never comes from `random()`: every draw is a hash of
(seed, purpose tag, ids...) mapped to [0, 1), so the output does not depend on thread scheduling
and the same seed gives byte-identical files. See docs/demo-data.md for what is generated, the
planted signal and the flaw rates.

No Dagster imports here: the CLI (`healthscore demo-data`) and the Dagster assets both call
`generate_demo_data`.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from orchestration.lib import clock
from orchestration.lib.contracts import CONTRACTS

# --------------------------------------------------------------------------------------------
# Planted rates (documented in docs/demo-data.md; keep the two in step).
# --------------------------------------------------------------------------------------------
FATE_RATES = {
    # Share of all accounts. Every account gets exactly one fate.
    "churn": 0.10,  # churns inside the window after a 60-120 day decline (+ silent churners: ~12%)
    "expand": 0.10,  # rising usage, expansion outcome, larger second subscription
    "downgrade": 0.04,  # mild decline, downgrade outcome, smaller second subscription
    "silent": 0.05,  # "silent sufferers": normal usage, strongly negative text
}
SILENT_CHURN_SHARE = 0.40  # of silent sufferers churn in the last quarter of the window (no usage decline)
NEW_ACCOUNT_SHARE = 0.08  # of all accounts are created inside the window (all of them renewers)
SUBSIDIARY_SHARE = 0.05  # of non-Enterprise accounts are subsidiaries of an Enterprise parent
DIP_SHARE = 0.08  # of renewers have a temporary 30-45 day usage dip (noise: a false alarm)
TRICKLE_SHARE = 0.05  # of churners keep a tiny trickle of usage for 1-3 weeks after churn (flaw)

FLAW_RATES = {
    "usage_duplicate": 0.005,  # exact duplicate usage rows (same event_id)
    "ticket_duplicate": 0.005,  # exact duplicate tickets (same ticket_id)
    "usage_late": 0.02,  # usage rows with received_at 1-5 days after event_at
    "usage_null_account": 0.0001,  # usage rows with null account_id (contract violation)
    "usage_unknown_account": 0.00005,  # usage rows for an account_id that does not exist (RI flaw)
    "ticket_bad_timestamp": 0.001,  # tickets with an unparseable opened_at (violation)
    "ticket_bad_priority": 0.001,  # tickets with priority 'P1' (violation)
    "ticket_priority_case": 0.01,  # priorities in another case ('High'): canonicalised by the loader
    "invoice_bad_amount": 0.001,  # invoices with amount '-' (violation)
    "pii_text": 0.01,  # free texts containing an e-mail address or a phone number
    "optional_null": 0.03,  # nulls planted in optional columns
}
# Violations are rare but must exist: at least this many rows of each kind.
MIN_VIOLATIONS = 3

# Expected usage rows per account-day are tuned so that 20,000 accounts x 365 days give ~10M rows.
USAGE_ACTIVITY_BASE = 0.056

INDUSTRIES = [
    "Software", "Software", "Financial Services", "Healthcare", "Retail", "Retail",
    "Manufacturing", "Manufacturing", "Education", "Logistics", "Media", "Professional Services",
    "Professional Services",
]  # fmt: skip
COUNTRIES = [
    "US", "US", "US", "US", "US", "US", "US", "GB", "GB", "GB", "DE", "DE", "DE", "FR", "FR",
    "NL", "SE", "CA", "CA", "AU", "ES", "IT", "IE", "DK", "IN", "BR", "JP", "SG",
]  # fmt: skip
CURRENCY_BY_COUNTRY = {
    "US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "IT": "EUR",
    "IE": "EUR", "CA": "CAD", "AU": "AUD", "SE": "SEK", "DK": "DKK",
}  # fmt: skip
OWNERS = [
    "Alice Moreau", "Ben Okafor", "Carla Jensen", "David Kim", "Elena Rossi", "Farid Haddad",
    "Grace Liu", "Hannah Schmidt", "Ivan Petrov", "Julia Santos", "Kenji Watanabe", "Laura Novak",
    "Marcus Reed", "Nadia Cohen", "Oscar Lindqvist",
]  # fmt: skip
NAME_PREFIXES = [
    "Northwind", "Bluefin", "Cobalt", "Redwood", "Silverline", "Brightpath", "Ironclad", "Sunpeak",
    "Lakeshore", "Greenfield", "Stonebridge", "Oakmont", "Clearwater", "Highland", "Summit",
    "Meridian", "Pinecrest", "Harbor", "Falcon", "Vertex", "Nimbus", "Quartz", "Juniper", "Atlas",
    "Beacon", "Crescent", "Driftwood", "Evergreen", "Foxglove", "Granite", "Horizon", "Keystone",
    "Lumen", "Maple", "Nova", "Orchid", "Polaris", "Riverbend", "Sequoia", "Tidewater",
]  # fmt: skip
NAME_MIDDLES = [
    "Logistics", "Analytics", "Health", "Foods", "Systems", "Labs", "Capital", "Retail", "Media",
    "Robotics", "Energy", "Learning", "Partners", "Software", "Manufacturing", "Travel", "Legal",
    "Insurance", "Design", "Networks",
]  # fmt: skip
NAME_SUFFIXES = ["Inc", "Ltd", "GmbH", "LLC", "Group", "AG", "BV", "SA", "Co", "Holdings"]
REGIONS = ["UK", "DACH", "Nordics", "APAC", "Iberia", "Benelux", "France", "Americas"]
FIRST_NAMES = ["anna", "tom", "maria", "james", "sofia", "lucas", "emma", "noah", "mia", "leon"]
LAST_NAMES = ["meyer", "smith", "garcia", "brown", "muller", "jones", "martin", "wilson", "fischer"]
FEATURES = [
    "login", "login", "login", "dashboard_view", "dashboard_view", "dashboard_view", "search",
    "search", "report_export", "report_export", "api_call", "api_call", "comment", "file_upload",
    "integration_sync", "workflow_run", "workflow_run", "admin_settings",
]  # fmt: skip
CHANNELS = ["twitter", "twitter", "linkedin", "linkedin", "g2", "reddit", "capterra", "community_forum"]
CHURN_REASONS = [
    "price", "product fit", "competitor", "budget cuts", "poor support experience",
    "reliability issues", "champion left", "acquired by another company",
]  # fmt: skip
EXPANSION_REASONS = ["more seats", "new department", "upgraded plan", "new use case"]
DOWNGRADE_REASONS = ["fewer seats", "budget cuts", "moved to a cheaper plan", "team reorganisation"]

# Text fragments, by sentiment. Negative texts use B2B support vocabulary.
TICKET_SUBJECTS = {
    "neg": [
        "Outage: dashboard down again", "Still waiting on a fix", "Billing error on last invoice",
        "Data sync failing for the third time", "Escalation: production issue not resolved",
        "Request to cancel our subscription", "Refund request for downtime", "Reports broken again",
        "Not acceptable: no response for a week", "API errors blocking our whole team",
    ],
    "neu": [
        "How to configure SSO", "Question about user permissions", "Export to CSV",
        "Add new users to our workspace", "Invoice copy request", "Integration setup help",
        "Change billing contact", "API rate limits question", "Scheduled reports question",
        "Password reset e-mail not received",
    ],
    "pos": [
        "Thanks for the quick help", "Feature request: more chart types",
        "Follow-up questions after a great onboarding", "Kudos to your support team",
    ],
}  # fmt: skip
TICKET_OPENERS = {
    "neg": [
        "This is not acceptable.", "The platform is down again and our team cannot work.",
        "We are still waiting for an answer after more than a week.",
        "This is the third outage this month.",
        "We were charged twice: this billing error has to be fixed now.",
        "Nobody has responded to our previous ticket.",
        "Your product keeps failing at the worst possible time.",
        "Our users are extremely frustrated.",
    ],
    "neu": ["Hi team,", "Hello,", "Good morning,", "Hi support,", "Hello support team,"],
    "pos": [
        "Thanks a lot for the quick fix yesterday!", "Great work on the new release.",
        "Your team has been incredibly helpful so far.",
    ],
}  # fmt: skip
TICKET_MIDDLES = {
    "neg": [
        "Reports time out and the data sync is broken.",
        "The integration has been failing since Monday.",
        "We lost a full day of work because of this outage.",
        "Your last fix did not solve anything, the errors are back.",
        "Please escalate this to your management immediately.",
        "The invoice amount is wrong and nobody explains why.",
        "Logins fail for half of our users.",
    ],
    "neu": [
        "we would like to add five new users to our workspace.",
        "could you explain how to configure single sign-on?",
        "how do we export a report to CSV?",
        "we need a copy of the last invoice for our records.",
        "what are the API rate limits on our plan?",
        "can we change the billing contact on our account?",
        "is it possible to schedule a weekly report?",
    ],
}  # fmt: skip
TICKET_CLOSERS = {
    "neg": [
        "If this is not resolved this week we will cancel our contract.",
        "We expect a refund for the downtime.", "We are evaluating other vendors.",
        "Please escalate, this is urgent.", "Very disappointed with the service.",
        "We are seriously considering cancelling.",
    ],
    "neu": ["Thanks.", "Thanks in advance.", "Best regards.", "Let me know if you need more details."],
    "pos": ["Keep up the great work!", "Really happy with the product.", "Thanks again, much appreciated."],
}  # fmt: skip
SURVEY_TEXTS = {
    "neg": [
        "Too many outages lately.", "Support is slow, we are still waiting on several tickets.",
        "Billing errors every month. Not acceptable.", "We are considering cancelling.",
        "The product has become unreliable.", "Price is too high for what we get.",
        "Poor support experience, nobody escalates anything.", "Down again during our busiest week.",
    ],
    "neu": [
        "It does the job.", "Okay overall, some features are missing.",
        "Decent, but reporting could be better.", "Fine for our needs.",
    ],
    "pos": [
        "Love the product, our team uses it every day.", "Great support and a reliable platform.",
        "Easy to use and saves us hours every week.", "Excellent onboarding and fast support.",
        "Would definitely recommend it to other teams.",
    ],
}  # fmt: skip
NOTE_TEXTS = {
    "neg": [
        "Customer frustrated about repeated outages; escalation requested.",
        "Champion left the company, the new contact is unresponsive.",
        "Budget cuts mentioned, renewal at risk.", "Complained about billing errors again.",
        "Exec sponsor asked about cancellation terms.",
        "Usage dropped, team moved reporting to a competitor tool.",
        "Angry call about support response times, still waiting on fixes.",
    ],
    "neu": [
        "Quarterly check-in, no major issues.", "Discussed the roadmap and upcoming features.",
        "Admin changed; scheduled onboarding for the new admin.",
        "Reviewed open tickets with the customer.",
    ],
    "pos": [
        "Great QBR, customer very happy with the value.",
        "Customer wants to roll out to another department.",
        "Strong adoption, champion is very engaged.", "Customer praised the support team.",
        "Discussed expansion to more seats next quarter.",
    ],
}  # fmt: skip
NOTE_FOLLOWUPS = {
    "neg": [
        "Next step: escalate to VP Customer Success.", "Need to send a recovery plan.",
        "Risk flagged in the forecast.",
    ],
    "neu": ["Follow-up in a month.", "No action needed.", "Sent meeting notes."],
    "pos": ["Next step: send an expansion proposal.", "Follow-up in a month.", "Asked for a case study."],
}  # fmt: skip
SOCIAL_TEXTS = {
    "neg": [
        "down again?? third time this week", "Still waiting on support for days. Not acceptable.",
        "Thinking about cancelling, the outages are killing us",
        "Billing error again, we want a refund", "Worst customer support we have dealt with this year",
    ],
    "neu": [
        "Anyone using this for reporting? Looking for tips", "Attending the vendor webinar today",
        "Migrating our workflows this week",
    ],
    "pos": [
        "Loving the new dashboards, huge time saver", "Shoutout to the support team for the quick fix!",
        "Best tool we adopted this year", "Our team is really happy with the platform",
    ],
}  # fmt: skip

# Tables built in file order already (see _build_usage); the others are sorted when written.
_PRESORTED = {"usage_events"}

# Hash tags: one per random draw, so that draws are independent.
_T = {
    name: i
    for i, name in enumerate(
        """fate fate2 seats seats2 adopt act industry country owner created created2 sub parent name1
        name2 name3 region churn churn2 decl strength event ratio dip dip2 dip3 trickle trickle2 slope
        disc plan newday optnull1 optnull2 nusers nusers2 noise noise2 user feat nfeat qty qty2 hour hour2
        late late2 recv tick tickpri tickres tickres2 ticksent tickcsat tickcsat2 tsubj topen tmid
        tclose pii pii2 pii3 piifirst pii_last tickstat waveoff invite respond respond2 score score2
        stext ssent rtime csatoff paid paid2 paid3 paidday void notegap noteoff notejit rating rating2
        nsent ntext nfollow nauthor social socialch socsent soctext osreason tickhour tickhour2 dupu
        dupt badts badts2 badpri pricase badamt nullacc unkacc unkacc2 respid""".split()
    )
}


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _pick(values: list[str], u: str) -> str:
    """SQL: an element of `values` chosen by the uniform draw `u`."""
    return f"{_list(values)}[1 + least(floor(({u}) * {len(values)})::INT, {len(values) - 1})]"


class _Sql:
    """Builds the hash-based random expressions for one seed."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def u(self, tag: str, *ids: str) -> str:
        """Uniform in [0, 1) from hash(seed, tag, ids...)."""
        args = ", ".join([str(self.seed), str(_T[tag]), *ids])
        # hash() combines its arguments almost linearly (draws for two tags of the same id are
        # strongly correlated): hashing the combined hash again mixes it properly.
        return f"((hash(hash({args})) >> 11)::DOUBLE / 9007199254740992.0)"

    def h(self, tag: str, *ids: str) -> str:
        """A well-mixed 64-bit hash; `_bits` cuts three independent uniforms out of it."""
        args = ", ".join([str(self.seed), str(_T[tag]), *ids])
        return f"hash(hash({args}))"

    def n(self, tag: str, tag2: str, *ids: str) -> str:
        """Standard normal (Box-Muller) from two hash draws."""
        return f"(sqrt(-2 * ln(1 - {self.u(tag, *ids)})) * cos(2 * pi() * {self.u(tag2, *ids)}))"


def _bits(h: str, k: int) -> str:
    """SQL: uniform in [0, 1) from bits 21k .. 21k+20 of the hash `h` (k = 0, 1, 2)."""
    return f"((({h}) >> {21 * k}) & 2097151)::DOUBLE / 2097152.0"


def _risk_usage(d: str) -> str:
    """SQL: usage/payment risk in [0, 1] of account row `ac` on day index `d` (planted signal)."""
    return f"""greatest(
        case when ac.fate = 'churn' then ac.strength
             * least(1.0, greatest(0.0, ({d} - (ac.churn_d - ac.decl))::DOUBLE / ac.decl)) else 0 end,
        case when ac.fate = 'downgrade' then
             case when {d} >= ac.event_d then 0.25
                  else 0.45 * least(1.0, greatest(0.0, ({d} - (ac.event_d - 75))::DOUBLE / 75)) end
             else 0 end,
        case when ac.dip_s is not null and {d} between ac.dip_s and ac.dip_s + ac.dip_len
             then ac.dip_depth else 0 end)"""


def _risk_text(d: str) -> str:
    """SQL: text negativity in [0, 1]: the usage risk, or 0.9 for silent sufferers."""
    return f"greatest({_risk_usage(d)}, case when ac.fate = 'silent' then 0.9 else 0 end)"


def _sentiment(u: str, risk: str) -> str:
    """SQL: 'neg' / 'pos' / 'neu' drawn from the text risk."""
    p_neg = f"(0.05 + 0.85 * {risk})"
    p_pos = f"(0.35 * (1 - {risk}))"
    return f"case when {u} < {p_neg} then 'neg' when {u} < {p_neg} + {p_pos} then 'pos' else 'neu' end"


def _by_sentiment(sent: str, lists: dict[str, list[str]], u: str) -> str:
    whens = " ".join(f"when {_lit(k)} then {_pick(v, u)}" for k, v in lists.items())
    fallback = _pick(lists["neu"], u)
    return f"(case {sent} {whens} else {fallback} end)"


def _pii(r: _Sql, *ids: str) -> str:
    """SQL: '' or (for ~1% of texts) a sentence with an e-mail address or a phone number."""
    first = _pick(FIRST_NAMES, r.u("piifirst", *ids))
    last = _pick(LAST_NAMES, r.u("pii_last", *ids))
    email = f"{first} || '.' || {last} || '@' || ac.domain"
    phone = f"'+1 555 01' || lpad((floor({r.u('pii3', *ids)} * 100))::INT::VARCHAR, 2, '0')"
    return f"""(case when {r.u("pii", *ids)} < {FLAW_RATES["pii_text"]} then
        case when {r.u("pii2", *ids)} < 0.6 then ' Contact me at ' || {email} || '.'
             else ' Call me on ' || {phone} || '.' end
        else '' end)"""


def _optnull(r: _Sql, expr: str, col: str, *ids: str) -> str:
    """SQL: `expr`, or null for ~3% of rows (planted nulls in an optional column)."""
    return (
        f"(case when {r.u('optnull1', *ids, _lit(col))} < {FLAW_RATES['optional_null']} "
        f"then null else {expr} end)"
    )


def generate_demo_data(
    landing_dir: Path,
    accounts: int = 500,
    days: int = 365,
    seed: int = 42,
    end_date: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write one demo Parquet file per source to `<landing_dir>/<source>/demo_<source>.parquet`.

    The data covers `end_date - days + 1 .. end_date` (account creation dates may precede it).
    Returns a summary: rows per source, planted fate counts, planted flaw counts, seconds.
    """
    if accounts < 10:
        raise ValueError("accounts must be at least 10")
    if not 30 <= days <= 10000:
        raise ValueError("days must be between 30 and 10,000")
    if accounts > 999_999:
        raise ValueError("accounts must be below 1,000,000")
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    end = end_date or clock.today()
    start = end - dt.timedelta(days=days - 1)
    landing_dir = Path(landing_dir)
    r = _Sql(seed)
    N, D = int(accounts), int(days)
    S = f"DATE '{start.isoformat()}'"
    export_ts = f"(DATE '{end.isoformat()}' + INTERVAL 1 DAY)::TIMESTAMP"  # exclusive export instant

    con = duckdb.connect(":memory:")
    try:
        con.execute("set autoinstall_known_extensions = false")
        con.execute("set autoload_known_extensions = false")
        con.execute("set preserve_insertion_order = true")

        steps: dict[str, float] = {}

        def step(name: str, fn: Callable[..., None], *args) -> None:
            t = time.perf_counter()
            fn(con, r, *args)
            steps[name] = round(time.perf_counter() - t, 2)
            say(f"{name}: {steps[name]} s")

        say(f"{N} accounts, window {start} .. {end}, seed {seed}")
        step("accounts", _build_accounts, N, D, S)
        step("subscriptions", _build_subscriptions, D, S, end)
        step("account_days", _build_account_days, D, S)
        step("usage_events", _build_usage, D, export_ts)
        step("support_tickets", _build_tickets, export_ts)
        step("survey_responses", _build_surveys, D, S, export_ts)
        step("invoices", _build_invoices, S, end)
        step("account_notes", _build_notes, D, S)
        step("social_mentions", _build_social)
        step("overrides", _build_overrides, end)

        rows: dict[str, int] = {}
        files: dict[str, str] = {}
        for source, contract in CONTRACTS.items():
            folder = landing_dir / source
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"demo_{source}.parquet"
            tmp = folder / f".demo_{source}.parquet.tmp"
            t_write = time.perf_counter()
            cols = ", ".join(f'"{c}"' for c in contract.column_names)
            con.execute(
                f"copy (select {cols} from out_{source}{'' if source in _PRESORTED else ' order by __ord'}) "
                f"to {_lit(str(tmp))} "
                "(format parquet, compression zstd, row_group_size 262144)"
            )
            os.replace(tmp, target)
            steps[f"write_{source}"] = round(time.perf_counter() - t_write, 2)
            rows[source] = con.execute(f"select count(*) from out_{source}").fetchone()[0]
            files[source] = str(target)
            say(f"wrote {target} ({rows[source]:,} rows)")

        summary = {
            "window": {"start": start.isoformat(), "end": end.isoformat(), "days": D},
            "accounts": N,
            "seed": seed,
            "rows": rows,
            "files": files,
            "planted": _planted_counts(con),
            "flaws": _flaw_counts(con),
            "step_seconds": steps,
        }
    finally:
        con.close()
    summary["seconds"] = round(time.perf_counter() - started, 2)
    say(f"done in {summary['seconds']} s")
    return summary


# --------------------------------------------------------------------------------------------
# accounts
# --------------------------------------------------------------------------------------------
def _build_accounts(con: duckdb.DuckDBPyConnection, r: _Sql, N: int, D: int, S: str) -> None:
    c, e, dg, s = (FATE_RATES[k] for k in ("churn", "expand", "downgrade", "silent"))
    new_share_of_renewers = NEW_ACCOUNT_SHARE / (1 - c - e - dg - s)
    currency = (
        "case country "
        + " ".join(f"when {_lit(k)} then {_lit(v)}" for k, v in CURRENCY_BY_COUNTRY.items())
        + " else 'USD' end"
    )
    con.execute(
        f"""
        create table acct0 as
        with b as (
            select i as a,
                {r.u("fate", "i")} as uf,
                least(5000, greatest(3, round(exp(ln(15) + 1.5 * {r.n("seats", "seats2", "i")}))))::BIGINT
                    as seats
            from range(1, {N} + 1) t(i)
        ), f as (
            select *,
                case when uf < {c} then 'churn' when uf < {c + e} then 'expand'
                     when uf < {c + e + dg} then 'downgrade' when uf < {c + e + dg + s} then 'silent'
                     else 'renew' end as fate,
                case when seats < 30 then 'SMB' when seats < 200 then 'Mid-Market' else 'Enterprise' end
                    as segment
            from b
        )
        select *,
            fate = 'renew' and {r.u("created", "a")} < {new_share_of_renewers} as is_new,
            {_pick(INDUSTRIES, r.u("industry", "a"))} as industry0,
            {_pick(COUNTRIES, r.u("country", "a"))} as country,
            {_pick(OWNERS, r.u("owner", "a"))} as owner0,
            {_pick(NAME_PREFIXES, r.u("name1", "a"))} as prefix,
            {_pick(NAME_PREFIXES, r.u("name1", "a"))} || ' ' || {_pick(NAME_MIDDLES, r.u("name2", "a"))}
                || ' ' || {_pick(NAME_SUFFIXES, r.u("name3", "a"))} as name0,
            segment <> 'Enterprise' and {r.u("sub", "a")} < {SUBSIDIARY_SHARE} as is_sub
        from f
        """
    )
    # Created day index relative to the window start (negative: before the window).
    # Churn / event days are day indexes inside the window.
    third = D // 3
    con.execute(
        f"""
        create table acct1 as
        with ent as (
            select a, name0, owner0, row_number() over (order by a) as rn, count(*) over () as cnt
            from acct0 where segment = 'Enterprise'
        ), base as (
            select x.*,
                p.a as parent_a, p.name0 as parent_name, p.owner0 as parent_owner,
                case when x.is_new then floor({r.u("created2", "x.a")} * {int(D * 0.85)})::INT
                     else -(30 + floor(pow({r.u("created2", "x.a")}, 1.3) * 1800))::INT end as cd
            from acct0 x
            left join ent p
              on x.is_sub and p.rn = 1 + least(floor({r.u("parent", "x.a")} * p.cnt)::BIGINT, p.cnt - 1)
        )
        select *,
            case when fate = 'churn' then
                    case when {r.u("churn", "a")} < 0.85
                         then {third} + floor({r.u("churn2", "a")} * ({D} - {third} - 1))::INT
                         else least({third}, 30) + floor({r.u("churn2", "a")} * greatest(1, {third} - 30))::INT
                    end
                 when fate = 'silent' and {r.u("churn", "a")} < {SILENT_CHURN_SHARE}
                    then floor({D} * 0.75)::INT + floor({r.u("churn2", "a")} * ({D} * 0.25 - 1))::INT
            end as churn_d,
            60 + floor({r.u("decl", "a")} * 61)::INT as decl,
            0.7 + 0.3 * {r.u("strength", "a")} as strength,
            case when fate in ('expand', 'downgrade')
                 then floor({D} / 4 + {r.u("event", "a")} * ({D} * 0.75 - 14))::INT end as event_d,
            case when fate = 'expand' then 1.3 + 1.2 * {r.u("ratio", "a")}
                 when fate = 'downgrade' then 0.5 + 0.3 * {r.u("ratio", "a")} else 1.0 end as ratio,
            case when fate = 'renew' and not is_new and {r.u("dip", "a")} < {DIP_SHARE}
                 then floor({r.u("dip2", "a")} * ({D} - 45))::INT end as dip_s,
            30 + floor({r.u("dip3", "a")} * 16)::INT as dip_len,
            0.4 + 0.2 * {r.u("dip3", "a")} as dip_depth,
            fate = 'churn' and {r.u("trickle", "a")} < {TRICKLE_SHARE} as trickle,
            7 + floor({r.u("trickle2", "a")} * 15)::INT as trickle_len,
            0.3 * (2 * {r.u("slope", "a")} - 1) as slope,
            greatest(1, round(seats * (0.25 + 0.5 * {r.u("adopt", "a")})))::BIGINT as n_users,
            {USAGE_ACTIVITY_BASE} * exp(0.45 * {r.n("act", "noise2", "a")} - 0.10) as act_rate,
            case when segment = 'Enterprise' then 10 + 20 * {r.u("disc", "a")}
                 when segment = 'Mid-Market' then 15 * {r.u("disc", "a")}
                 when {r.u("disc", "a")} < 0.7 then 0 else 5 + 5 * {r.u("disc", "a")} end as discount0,
            case when segment = 'Enterprise' then 'Enterprise'
                 when segment = 'Mid-Market' then 'Business'
                 when {r.u("plan", "a")} < 0.5 then 'Starter' else 'Team' end as plan0
        from base
        """
    )
    con.execute(
        f"""
        create table acct as
        select *,
            'ACC-' || lpad(a::VARCHAR, 6, '0') as account_id,
            coalesce(parent_name || ' ' || {_pick(REGIONS, r.u("region", "a"))}, name0) as account_name,
            coalesce(parent_owner, owner0) as owner,
            {currency} as currency,
            regexp_replace(lower(prefix), '[^a-z0-9]', '', 'g') || '.example.com' as domain,
            ({S} + cd)::TIMESTAMP + to_seconds(floor(8 * 3600 + {r.u("newday", "a")} * 36000)::BIGINT)
                as created_at,
            case plan0 when 'Starter' then 15 when 'Team' then 25 when 'Business' then 40 else 60 end
                as list_price
        from acct1
        """
    )
    con.execute(
        f"""
        create table out_accounts as
        select a as __ord, account_id, account_name,
            {_optnull(r, "industry0", "industry", "a")} as industry,
            segment,
            {_optnull(r, "country", "country", "a")} as country,
            owner, created_at,
            case when parent_a is not null then 'ACC-' || lpad(parent_a::VARCHAR, 6, '0') end
                as parent_account_id
        from acct
        """
    )


# --------------------------------------------------------------------------------------------
# subscriptions + outcomes
# --------------------------------------------------------------------------------------------
def _build_subscriptions(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, S: str, end: dt.date) -> None:
    E = f"DATE '{end.isoformat()}'"
    # A contract series is a chain of yearly terms. Series 0 starts at account creation and ends
    # at churn, or is replaced at an expansion / downgrade by series 1 (different seats and price).
    con.execute(
        f"""
        create table series as
        select a, 0 as series, (created_at::DATE) as s_start,
            case when event_d is not null then {S} + event_d end as s_cut,
            seats as s_seats, plan0 as s_plan, discount0 as s_disc
        from acct
        union all
        select a, 1, {S} + event_d, null,
            greatest(3, round(seats * ratio))::BIGINT,
            case when fate = 'expand' then
                case plan0 when 'Starter' then 'Team' when 'Team' then 'Business' else plan0 end
            else case plan0 when 'Business' then 'Team' when 'Team' then 'Starter' else plan0 end end,
            discount0
        from acct where event_d is not null
        """
    )
    con.execute(
        f"""
        create table terms0 as
        select s.*, k.k, (s.s_start + to_years(k.k::INT))::DATE as t_start,
            ac.churn_d, ac.fate, ac.is_new, ac.cd, ac.a as aa
        from series s
        join acct ac using (a)
        cross join lateral (select unnest(range(0, 2 + (({D} - ac.cd) // 365)::INT)) as k) k
        """
    )
    con.execute(
        f"""
        create table terms as
        with t as (
            select *,
                (t_start + to_years(1))::DATE - 1 as natural_end,
                case when churn_d is not null then {S} + churn_d end as churn_date
            from terms0
            where t_start <= {E}
              and (s_cut is null or t_start < s_cut)
              and (churn_d is null or t_start <= {S} + churn_d)
        )
        select t.*,
            case when churn_date is not null and churn_date between t_start and natural_end then churn_date
                 when s_cut is not null and s_cut <= natural_end then s_cut - 1
                 else natural_end end as t_end,
            case when churn_date is not null and churn_date between t_start and natural_end then 'cancelled'
                 when s_cut is not null and s_cut <= natural_end then 'expired'
                 when natural_end < {E} then 'expired'
                 when is_new and series = 0 and k = 0 and {E} - t_start < 21 then 'trial'
                 else 'active' end as status,
            (s_seats * (case s_plan when 'Starter' then 15 when 'Team' then 25 when 'Business' then 40
                             else 60 end) * (1 - s_disc / 100) * pow(1.03, k)) as mrr0
        from t
        where natural_end >= {S}  -- overlaps the window
        """
    )
    con.execute(
        f"""
        create table out_subscriptions as
        select a * 1000 + series * 100 + k as __ord,
            'SUB-' || lpad(a::VARCHAR, 6, '0') || '-' || series || '-' || k as subscription_id,
            ac.account_id, s_plan as plan, s_seats as seats,
            round(case when status = 'trial' then 0 else mrr0 end, 2) as mrr,
            {_optnull(r, "round(case when status = 'trial' then 0 else mrr0 end * 12, 2)", "arr", "a", "series", "k")}
                as arr,
            ac.currency, t_start as start_date, t_end as end_date,
            case when status in ('active', 'trial') then natural_end + 1 end as renewal_date,
            status,
            {_optnull(r, "round(s_disc, 1)", "disc", "a", "series", "k")} as discount_pct,
            t_start, t_end as t_end_, mrr0, series, k, t.a
        from terms t join acct ac using (a)
        """
    )
    # Outcomes: churn, expansion, downgrade (one each) and a renewal at every term boundary in the window.
    con.execute(
        f"""
        create table out_outcomes as
        with cur as (  -- the term in force on a day: the one of series 0 containing it
            select * from out_subscriptions
        ), o as (
            select ac.a, 1 as kind, 'churn' as outcome_type, {S} + ac.churn_d as outcome_date,
                -(select sum(c.mrr) from cur c where c.a = ac.a and c.status = 'cancelled') as mrr_delta,
                case when ac.fate = 'silent' then 'poor support experience'
                     else {_pick(CHURN_REASONS, r.u("osreason", "ac.a"))} end as reason
            from acct ac where ac.churn_d is not null
            union all
            select ac.a, 2, case when ac.fate = 'expand' then 'expansion' else 'downgrade' end,
                {S} + ac.event_d,
                (select sum(c.mrr) from cur c where c.a = ac.a and c.series = 1 and c.k = 0)
                  - (select sum(c.mrr) from cur c where c.a = ac.a and c.series = 0
                     and c.t_end_ = {S} + ac.event_d - 1),
                case when ac.fate = 'expand' then {_pick(EXPANSION_REASONS, r.u("osreason", "ac.a"))}
                     else {_pick(DOWNGRADE_REASONS, r.u("osreason", "ac.a"))} end
            from acct ac where ac.event_d is not null
            union all
            select c.a, 3 + c.series * 100 + c.k, 'renewal', c.t_start,
                c.mrr - p.mrr, 'renewed'
            from cur c join cur p on p.a = c.a and p.series = c.series and p.k = c.k - 1
            where c.k >= 1 and c.t_start >= {S}
        )
        select a * 1000 + kind as __ord,
            'OUT-' || lpad(a::VARCHAR, 6, '0') || '-' || kind as outcome_id,
            'ACC-' || lpad(a::VARCHAR, 6, '0') as account_id,
            outcome_type, outcome_date, round(mrr_delta, 2) as mrr_delta, reason
        from o
        """
    )


# --------------------------------------------------------------------------------------------
# account x day spine, usage events
# --------------------------------------------------------------------------------------------
def _build_account_days(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, S: str) -> None:
    """One row per account and window day on which the account exists, with its planted risk."""
    con.execute(
        f"""
        create table days as
        select d::INT as d, ({S} + d::INT) as day,
            case isodow({S} + d::INT) when 6 then 0.15 when 7 then 0.08 when 1 then 0.95 when 5 then 0.9
                 else 1.0 end
            * case when (month({S} + d::INT) = 12 and day({S} + d::INT) >= 20)
                        or (month({S} + d::INT) = 1 and day({S} + d::INT) <= 2) then 0.45
                   when month({S} + d::INT) = 8 then 0.8
                   when month({S} + d::INT) = 7 then 0.9 else 1.0 end
            * (1 + 0.05 * sin(2 * pi() * dayofyear({S} + d::INT) / 365.0)) as day_mult,
            isodow({S} + d::INT) >= 6 as weekend
        from range(0, {D}) t(d)
        """
    )
    grow = f"""case
        when ac.fate = 'expand' then (0.75 + 0.45 * dd.d / {D})
             * (case when dd.d >= ac.event_d then 1 + 0.5 * (ac.ratio - 1) else 1 end)
        when ac.fate = 'downgrade' and dd.d >= ac.event_d then 0.75
        when ac.fate in ('renew', 'silent') then 1 + ac.slope * (dd.d::DOUBLE / {D} - 0.5)
        else 1 end
        * least(1.0, (dd.d - ac.cd + 1) / 30.0)"""
    con.execute(
        f"""
        create table ad as
        select ac.a, dd.d, dd.day, dd.day_mult, dd.weekend,
            ac.churn_d is not null and dd.d >= ac.churn_d as after_churn,
            {_risk_usage("dd.d")} as ru,
            {_risk_text("dd.d")} as rt,
            {grow} as grow
        from acct ac
        join days dd on dd.d >= ac.cd
            and (ac.churn_d is null or dd.d < ac.churn_d
                 or (ac.trickle and dd.d < ac.churn_d + ac.trickle_len))
        """
    )


def _build_usage(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, export_ts: str) -> None:
    """Usage rows: account-day -> active users (one row per user-day) -> 1-4 feature rows each.

    The big table is built in one pass from `uu`, which is stored sorted by (account, day, slot):
    a scan of one table through unnest and projections keeps that order (DuckDB's insertion-order
    preservation), so the file needs no ORDER BY over ten million rows and stays deterministic.
    """
    lam = (
        "ac.n_users * ac.act_rate * x.day_mult * x.grow * (1 - 0.8 * x.ru)"
        f" * exp(0.25 * {r.n('noise', 'noise2', 'x.a', 'x.d')} - 0.03)"
        " * case when x.after_churn then 0.15 else 1 end"
    )
    con.execute(
        f"""
        create table ud as  -- active users per account-day
        select x.a, x.d, x.day, x.ru, x.n_users,
            least(x.n_users, greatest(0, floor(x.lam + 0.8 * sqrt(x.lam) * {r.n("nusers", "nusers2", "x.a", "x.d")}
                + {r.u("act", "x.a", "x.d")})))::INT as n_active,
            floor(x.n_users * pow({r.u("user", "x.a", "x.d")}, 1.5))::INT as u0
        from (select x.*, ac.n_users, {lam} as lam from ad x join acct ac using (a)) x
        """
    )
    hs = r.h("hour", "a", "d", "slot")
    nf = r.h("nfeat", "a", "d", "slot")
    con.execute(
        f"""
        create table uu as  -- one row per active user-day, with its number of feature rows
        select a, d, day, ru, slot, account_id,
            -- user ids are opaque product-analytics ids: 'U' || account number * 10000 + user number
            'U' || (a * 10000 + (u0 + slot * 7919) % n_users) as user_id,
            1 + ({_bits(nf, 0)} < 0.35)::INT + ({_bits(nf, 0)} < 0.12)::INT + ({_bits(nf, 0)} < 0.04)::INT as nf,
            -- seconds after midnight: office hours mostly, 10% at any time
            floor(case when {_bits(hs, 0)} < 0.9 then 25200 + 39600 * ({_bits(hs, 0)} / 0.9 + {_bits(hs, 1)}) / 2
                       else 86399 * {_bits(hs, 1)} end)::INT as tod
        from (select a, d, day, ru, n_users, u0, unnest(range(n_active)) as slot from ud where n_active > 0)
        join (select a, account_id from acct) using (a)
        order by a, d, slot
        """
    )
    expected = con.execute("select coalesce(sum(nf), 0) from uu").fetchone()[0]
    # Rare violations: at least ~10 expected rows of each kind, whatever the size.
    p_null = max(FLAW_RATES["usage_null_account"], 10 / max(expected, 1))
    p_unk = max(FLAW_RATES["usage_unknown_account"], 10 / max(expected, 1))
    h1 = r.h("feat", "a", "d", "slot", "f")
    h2 = r.h("late", "a", "d", "slot", "f")
    h3 = r.h("dupu", "a", "d", "slot", "f")
    qty_normal = f"(sqrt(-2 * ln(1 - {_bits('h1', 1)})) * cos(2 * pi() * {_bits('h1', 2)}))"
    con.execute(
        f"""
        create table usage_base as
        select * from (
            select
                -- bits: account | day (14) | user slot (13) | feature row (2); short strings are cheap
                'e' || to_hex((a << 29) | (d << 15) | (slot << 2) | f) as event_id,
                case when {_bits("h3", 2)} < {p_null} then null
                     when {_bits("h3", 2)} < {p_null + p_unk} then 'ACC-9' || lpad((a % 99999)::VARCHAR, 5, '0')
                     else account_id end as account_id,
                user_id,
                {_pick(FEATURES, _bits("h1", 0))} as feature,
                event_at,
                case when {_bits("h2", 2)} < {FLAW_RATES["optional_null"]} then null
                     else 1 + floor(exp(1.1 * {qty_normal} + 0.6) * (1 - 0.5 * ru)) end::DOUBLE as quantity,
                case when {_bits("h3", 0)} < {FLAW_RATES["optional_null"]} then null else received_at end
                    as received_at,
                a, d, is_late,
                case when {_bits("h3", 2)} < {p_null} then 'null'
                     when {_bits("h3", 2)} < {p_null + p_unk} then 'unknown' end as flaw,
                ({_bits("h3", 1)} < {FLAW_RATES["usage_duplicate"]})::INT as dup_src
            from (
                select *, event_at + case when is_late
                        then to_seconds(floor(86400 * (1 + 4 * {_bits("h2", 1)}))::BIGINT)
                        else to_seconds(floor(2 + 300 * {_bits("h2", 1)})::BIGINT) end as received_at
                from (
                    select *, day::TIMESTAMP + to_seconds(least(tod + 600 * f, 86399)::BIGINT) as event_at,
                        {_bits("h2", 0)} < {FLAW_RATES["usage_late"]} as is_late
                    from (
                        select *, {h1} as h1, {h2} as h2, {h3} as h3
                        from (select *, unnest(range(nf)) as f from uu)
                    )
                )
            )
            -- not yet arrived at export time: not in the file
            where received_at < {export_ts}
        )
        """
    )
    con.execute("drop table ud")
    con.execute("drop table uu")
    # Exact duplicates (same event_id, same values), re-sent at the end of the export. UNION ALL of
    # two single-table scans keeps the order, so no sort is needed.
    con.execute(
        """
        create view out_usage_events as
        select *, false as dup from usage_base
        union all
        select *, true as dup from usage_base where dup_src = 1
        """
    )


# --------------------------------------------------------------------------------------------
# support tickets
# --------------------------------------------------------------------------------------------
def _build_tickets(con: duckdb.DuckDBPyConnection, r: _Sql, export_ts: str) -> None:
    ids = ("x.a", "x.d", "x.slot")
    sent = f"{_sentiment(r.u('ticksent', *ids), 'x.rt')}"
    con.execute(
        f"""
        create table tk0 as
        select x.*, {sent} as sent
        from (
            select x.a, x.d, x.day, x.rt, x.ru, unnest(range(n)) as slot
            from (
                select x.*, floor(
                    0.0055 * sqrt(ac.n_users) * (1 + 2.5 * x.ru + case when ac.fate = 'silent' then 1 else 0 end)
                    * case when x.weekend then 0.3 else 1 end
                    * case when x.after_churn then 0.2 else 1 end
                    + {r.u("tick", "x.a", "x.d")})::INT as n
                from ad x join acct ac using (a)
            ) x where n > 0
        ) x
        """
    )
    pri = f"""case
        when {r.u("tickpri", *ids)} < 0.05 + 0.35 * x.rt then 'urgent'
        when {r.u("tickpri", *ids)} < 0.20 + 0.45 * x.rt then 'high'
        when {r.u("tickpri", *ids)} < 0.65 + 0.15 * x.rt then 'normal'
        else 'low' end"""
    con.execute(
        f"""
        create table tk1 as
        select x.*, ac.account_id, {pri} as priority0,
            x.day::TIMESTAMP + to_seconds(floor(6 * 3600 + 14 * 3600 * {r.u("tickhour", *ids)})::BIGINT)
                as opened_ts,
            {_by_sentiment("x.sent", TICKET_SUBJECTS, r.u("tsubj", *ids))} as subject0,
            {_by_sentiment("x.sent", TICKET_OPENERS, r.u("topen", *ids))} || ' '
              || case when x.sent = 'neg' then {_pick(TICKET_MIDDLES["neg"], r.u("tmid", *ids))}
                      else {_pick(TICKET_MIDDLES["neu"], r.u("tmid", *ids))} end || ' '
              || {_by_sentiment("x.sent", TICKET_CLOSERS, r.u("tclose", *ids))}
              || {_pii(r, *ids, "1")} as body0,
            {r.u("tickpri", *ids)} as upri
        from tk0 x join acct ac using (a)
        """
    )
    hours = {"urgent": 4, "high": 12, "normal": 30, "low": 60}
    med = "case x.priority0 " + " ".join(f"when '{k}' then {v}" for k, v in hours.items()) + " end"
    con.execute(
        f"""
        create table tk2 as
        select x.*,
            x.opened_ts + to_seconds(floor(3600 * {med} * (1 + x.ru)
                * exp(0.9 * {r.n("tickres", "tickres2", *ids)}))::BIGINT) as closed_ts
        from tk1 x
        """
    )
    csat = f"""case when {r.u("tickcsat", *ids)} < 0.45 then
        case x.sent when 'neg' then 1 + floor(2 * {r.u("tickcsat2", *ids)})
                    when 'pos' then 4 + floor(2 * {r.u("tickcsat2", *ids)})
                    else 3 + floor(3 * {r.u("tickcsat2", *ids)}) end end"""
    con.execute(
        f"""
        create table tk3 as
        select x.*,
            x.closed_ts < {export_ts} as is_closed,
            case when x.closed_ts >= {export_ts} then
                    case when {export_ts} - x.opened_ts < interval 2 day then 'open' else 'pending' end
                 when {export_ts} - x.closed_ts < interval 7 day then 'solved' else 'closed' end as status,
            case when x.closed_ts < {export_ts} then {csat} end::BIGINT as csat_score
        from tk2 x
        where x.opened_ts < {export_ts}
        """
    )
    n_t = con.execute("select count(*) from tk3").fetchone()[0]
    k_ts = max(MIN_VIOLATIONS, round(n_t * FLAW_RATES["ticket_bad_timestamp"]))
    k_pri = max(MIN_VIOLATIONS, round(n_t * FLAW_RATES["ticket_bad_priority"]))
    bad_ts = _pick(
        ["2024-13-45", "n/a", "31/02/2024 25:61", "", "unknown", "2024-02-30T10:00:00Z"],
        r.u("badts2", "x.a", "x.d", "x.slot"),
    )
    con.execute(
        f"""
        create table tk4 as
        with ranked as (
            select x.*,
                row_number() over (order by hash(hash({r.seed}, 911, x.a, x.d, x.slot)), x.a, x.d, x.slot) as rk_ts,
                row_number() over (order by hash(hash({r.seed}, 912, x.a, x.d, x.slot)), x.a, x.d, x.slot) as rk_pri
            from tk3 x
        )
        select x.a, x.d, x.slot,
            'TCK-' || lpad(a::VARCHAR, 6, '0') || '-' || lpad(d::VARCHAR, 4, '0') || '-' || slot as ticket_id,
            x.account_id,
            case when rk_ts <= {k_ts} then {bad_ts}
                 else strftime(x.opened_ts, '%Y-%m-%dT%H:%M:%SZ') end as opened_at,
            case when x.is_closed then strftime(x.closed_ts, '%Y-%m-%dT%H:%M:%SZ') end as closed_at,
            case when rk_pri <= {k_pri} then 'P1'
                 when {r.u("pricase", "x.a", "x.d", "x.slot")} < {FLAW_RATES["ticket_priority_case"]}
                    then upper(x.priority0[1]) || x.priority0[2:]
                 else x.priority0 end as priority,
            x.status, x.csat_score,
            {_optnull(r, "x.subject0", "subject", "x.a", "x.d", "x.slot")} as subject,
            x.body0 as body,
            rk_ts <= {k_ts} as bad_ts, rk_pri <= {k_pri} as bad_pri,
            x.body0 like '% Contact me at %' or x.body0 like '% Call me on %' as has_pii,
            x.priority0 in ('urgent', 'high') as high_pri, x.sent
        from ranked x
        """
    )
    con.execute(
        f"""
        create table out_support_tickets as
        select (a * 100000 + d) * 100 + slot as __ord, 0 as dup, * from tk4
        union all
        select (a * 100000 + d) * 100 + slot, 1, * from tk4
        where {r.u("dupt", "a", "d", "slot")} < {FLAW_RATES["ticket_duplicate"]}
        """
    )
    for t in ("tk0", "tk1", "tk2", "tk3", "tk4"):
        con.execute(f"drop table {t}")


# --------------------------------------------------------------------------------------------
# surveys
# --------------------------------------------------------------------------------------------
def _build_surveys(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, S: str, export_ts: str) -> None:
    # NPS waves every ~91 days (per-account offset), 1-5 contacts invited per wave by account size;
    # CSAT pulse every ~182 days to one contact.
    waves = D // 91 + 2
    con.execute(
        f"""
        create table sv0 as
        select ac.a, w.kind, w.wave, c.contact, ac.account_id, ac.domain, ac.fate,
            w.sd::INT as d
        from acct ac
        cross join lateral (
            select 'nps' as kind, unnest(range({waves})) as wave,
                   floor({r.u("waveoff", "ac.a")} * 91)::INT + 91 * unnest(range({waves}))
                     + floor(7 * {r.u("waveoff", "ac.a", "1")})::INT as sd
            union all
            select 'csat', unnest(range({waves // 2 + 1})),
                   floor({r.u("csatoff", "ac.a")} * 182)::INT + 182 * unnest(range({waves // 2 + 1}))
        ) w
        cross join lateral (
            select unnest(range(case when w.kind = 'nps'
                then least(5, 1 + floor(ln(ac.n_users) / 1.5))::INT else 1 end)) as contact
        ) c
        where w.sd < {D} and w.sd >= ac.cd and (ac.churn_d is null or w.sd < ac.churn_d)
        """
    )
    ids = ("x.a", "x.wave", "x.contact", "hash(x.kind)")
    score = f"""case when x.kind = 'nps' then
            least(10, greatest(0, round(8.6 - 6.5 * x.rt + 1.6 * {r.n("score", "score2", *ids)})))
        else least(5, greatest(1, round(4.3 - 2.8 * x.rt + 0.8 * {r.n("score", "score2", *ids)}))) end"""
    con.execute(
        f"""
        create table sv1 as
        select x.*,
            {S} + x.d as sent_day,
            ({S} + x.d)::TIMESTAMP + to_seconds(floor(9 * 3600 + 3600 * 8 * {r.u("ssent", *ids)})::BIGINT)
                as sent_at,
            {r.u("respond", *ids)} < (0.40 + 0.20 * {r.u("respond2", "x.a")}) * (1 - 0.35 * x.ru) as responded,
            {score}::BIGINT as score0
        from (
            select x.*, {_risk_usage("x.d")} as ru, {_risk_text("x.d")} as rt
            from sv0 x join acct ac using (a)
        ) x
        """
    )
    con.execute(
        f"""
        create table sv2 as
        select x.*,
            x.sent_at + to_seconds(floor(3600 * 24 * 10 * pow({r.u("rtime", *ids)}, 2) + 60)::BIGINT)
                as resp_ts,
            case when x.kind = 'nps' and x.score0 <= 6 then 'neg'
                 when x.kind = 'nps' and x.score0 >= 9 then 'pos'
                 when x.kind = 'csat' and x.score0 <= 2 then 'neg'
                 when x.kind = 'csat' and x.score0 >= 4 then 'pos' else 'neu' end as sent
        from sv1 x
        """
    )
    con.execute(
        f"""
        create table out_survey_responses as
        select ((x.a * 10 + (x.kind = 'csat')::INT) * 100 + x.wave) * 10 + x.contact as __ord,
            'SRV-' || lpad(x.a::VARCHAR, 6, '0') || '-' || x.kind || '-' || x.wave || '-' || x.contact
                as response_id,
            x.account_id,
            {_optnull(r, "'C-' || lpad(x.a::VARCHAR, 6, '0') || '-' || x.contact", "respondent", *ids)}
                as respondent_id,
            x.kind as survey_type, x.sent_at,
            case when x.responded and x.resp_ts < {export_ts} then x.resp_ts end as responded_at,
            case when x.responded and x.resp_ts < {export_ts} then x.score0 end as score,
            case when x.responded and x.resp_ts < {export_ts} and {r.u("stext", *ids)} < 0.6 then
                {_by_sentiment("x.sent", SURVEY_TEXTS, r.u("stext", *ids, "2"))} || {_pii(r, *ids, "2")}
            end as verbatim,
            x.ru, x.rt, x.fate
        from sv2 x join acct ac using (a)
        """
    )


# --------------------------------------------------------------------------------------------
# invoices
# --------------------------------------------------------------------------------------------
def _build_invoices(con: duckdb.DuckDBPyConnection, r: _Sql, S: str, end: dt.date) -> None:
    E = f"DATE '{end.isoformat()}'"
    con.execute(
        f"""
        create table iv0 as
        select s.a, s.series, s.k, m.m, s.subscription_id, s.account_id, s.currency, s.mrr,
            (s.start_date + to_months(m.m::INT))::DATE as issued_at
        from out_subscriptions s
        cross join lateral (select unnest(range(13)) as m) m
        where s.status <> 'trial'
          and (s.start_date + to_months(m.m::INT))::DATE <= least(s.end_date, {E})
          and (s.start_date + to_months(m.m::INT))::DATE >= {S}
          and (s.status <> 'cancelled' or (s.start_date + to_months(m.m::INT))::DATE < s.end_date)
        """
    )
    ids = ("x.a", "x.series", "x.k", "x.m")
    con.execute(
        f"""
        create table iv1 as
        select x.*, x.issued_at + 30 as due_date,
            case when {r.u("void", *ids)} < 0.003 then 'void'
                 when {r.u("paid", *ids)} < 0.02 + 0.25 * x.ru then 'failed'
                 when {r.u("paid2", *ids)} < 0.06 + 0.6 * x.ru then 'late'
                 else 'ontime' end as pay
        from (
            select x.*, {_risk_usage("(x.issued_at - " + S + ")")} as ru
            from iv0 x join acct ac using (a)
        ) x
        """
    )
    con.execute(
        f"""
        create table iv2 as
        select x.*,
            case x.pay when 'late' then x.due_date + 3 + floor(42 * {r.u("paidday", *ids)})::INT
                       when 'ontime' then x.issued_at + floor(29 * pow({r.u("paidday", *ids)}, 1.5))::INT
            end as paid_day
        from iv1 x
        """
    )
    n_i = con.execute("select count(*) from iv2").fetchone()[0]
    k_amt = max(MIN_VIOLATIONS, round(n_i * FLAW_RATES["invoice_bad_amount"]))
    con.execute(
        f"""
        create table out_invoices as
        with ranked as (
            select x.*, row_number() over (order by hash(hash({r.seed}, 921, x.subscription_id, x.m)),
                x.subscription_id, x.m) as rk
            from iv2 x
        )
        select ((a * 10 + series) * 100 + k) * 100 + m as __ord,
            'INV-' || lpad(a::VARCHAR, 6, '0') || '-' || series || '-' || k || '-' || lpad(m::VARCHAR, 2, '0')
                as invoice_id,
            account_id, subscription_id,
            case when rk <= {k_amt} then '-' else printf('%.2f', mrr) end as amount,
            currency, issued_at, due_date,
            case when paid_day <= {E} then paid_day end as paid_at,
            case when pay = 'void' then 'void' when pay = 'failed' then 'failed'
                 when paid_day <= {E} then 'paid' else 'open' end as status,
            rk <= {k_amt} as bad_amount, pay
        from ranked
        """
    )


# --------------------------------------------------------------------------------------------
# account notes, social mentions, overrides
# --------------------------------------------------------------------------------------------
def _build_notes(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, S: str) -> None:
    con.execute(
        f"""
        create table nt0 as
        select ac.a, n.k,
            (n.base + floor(7 * {r.u("notejit", "ac.a", "n.k")}) - 3)::INT as d
        from acct ac
        cross join lateral (
            select unnest(range(0, {D} // g + 2)) as k,
                   floor({r.u("noteoff", "ac.a")} * g)::INT + g * unnest(range(0, {D} // g + 2)) as base
            from (select case ac.segment when 'Enterprise' then 14 when 'Mid-Market' then 24 else 40 end
                         + floor(10 * {r.u("notegap", "ac.a")})::INT as g)
        ) n
        """
    )
    ids = ("x.a", "x.k")
    # Ratings follow the usage risk; silent sufferers get middling ratings (the CSM half sees it).
    rating = f"""least(5, greatest(1, round(
        4.2 - 3.2 * x.ru - case when ac.fate = 'silent' then 1.4 else 0 end
        + 0.7 * {r.n("rating", "rating2", *ids)})))::BIGINT"""
    con.execute(
        f"""
        create table nt1 as
        select x.a, x.k, x.d, x.ru, x.rt, ac.fate, ac.account_id, ac.domain,
            case when {r.u("nauthor", *ids)} < 0.93 then ac.owner
                 else {_pick(OWNERS, r.u("nauthor", *ids, "2"))} end as author,
            {rating} as rating,
            {_sentiment(r.u("nsent", *ids), "x.rt")} as sent,
            ({S} + x.d)::TIMESTAMP + to_seconds(floor(8 * 3600 + 10 * 3600 * {r.u("ntext", *ids, "3")})::BIGINT)
                as noted_at
        from (
            select x.*, {_risk_usage("x.d")} as ru, {_risk_text("x.d")} as rt
            from nt0 x join acct ac using (a)
            where x.d >= 0 and x.d < {D} and x.d >= ac.cd and (ac.churn_d is null or x.d <= ac.churn_d)
        ) x join acct ac using (a)
        """
    )
    con.execute(
        f"""
        create table out_account_notes as
        select x.a * 1000 + x.k as __ord,
            'NOTE-' || lpad(x.a::VARCHAR, 6, '0') || '-' || x.k as note_id,
            x.account_id, x.author, x.rating,
            {
            _optnull(
                r,
                _by_sentiment("x.sent", NOTE_TEXTS, r.u("ntext", *ids))
                + " || ' ' || "
                + _by_sentiment("x.sent", NOTE_FOLLOWUPS, r.u("nfollow", *ids))
                + " || "
                + _pii(r, *ids, "3"),
                "note",
                *ids,
            )
        } as note_text,
            x.noted_at, x.ru, x.rt, x.fate, x.sent
        from nt1 x join acct ac using (a)
        """
    )


def _build_social(con: duckdb.DuckDBPyConnection, r: _Sql) -> None:
    ids = ("x.a", "x.d")
    con.execute(
        f"""
        create table out_social_mentions as
        select x.a * 100000 + x.d as __ord,
            'SOC-' || lpad(x.a::VARCHAR, 6, '0') || '-' || lpad(x.d::VARCHAR, 4, '0') as mention_id,
            ac.account_id,
            {_pick(CHANNELS, r.u("socialch", *ids))} as channel,
            {_by_sentiment(_sentiment(r.u("socsent", *ids), "x.rt"), SOCIAL_TEXTS, r.u("soctext", *ids))}
                || {_pii(r, *ids, "4")} as mention_text,
            x.day::TIMESTAMP + to_seconds(floor(86399 * {r.u("socialch", *ids, "2")})::BIGINT) as mentioned_at,
            x.rt
        from ad x join acct ac using (a)
        where not x.after_churn
          and {r.u("social", *ids)} < (2.0 + log10(ac.seats)) / 365.0
              * (1 + 1.5 * x.rt)
        """
    )


def _build_overrides(con: duckdb.DuckDBPyConnection, r: _Sql, end: dt.date) -> None:
    E = f"DATE '{end.isoformat()}'"
    # Accounts chosen deterministically from the seed among accounts that exist all window long.
    picks = f"""
        select account_id, row_number() over (order by hash(hash({r.seed}, 931, a)), a) as rn
        from acct where churn_d is null and not is_new"""
    con.execute(
        f"""
        create table out_overrides as
        with p as ({picks}), o as (
            select * from (values
                (1, 'retention_risk', 'set_grade', null, 'red', 'Marcus Reed',
                 'Exec sponsor told us they are evaluating competitors; not yet visible in the data.',
                 -20, 40),
                (2, 'retention_risk', 'adjust_score', -10.0, null, 'Grace Liu',
                 'Known billing dispute being resolved; lower the score until it is closed.',
                 -35, null),
                (3, 'retention_risk', 'set_grade', null, 'green', 'Alice Moreau',
                 'Temporary usage drop during their migration project; expected to recover.',
                 -150, -60),
                (4, 'retention_risk', 'set_score', 85.0, null, 'David Kim',
                 'Renewal signed early for three years.',
                 -10, 355),
                (5, 'expansion_potential', 'adjust_score', 15.0, null, 'Nadia Cohen',
                 'Budget approved for a second department next quarter.',
                 -5, 90)
            ) t(n, objective, action, value, grade, author, reason, created_off, expires_off)
        )
        select o.n as __ord, 'OVR-' || lpad(o.n::VARCHAR, 4, '0') as override_id, p.account_id,
            o.objective, o.action, o.value::DOUBLE as value, o.grade, o.author, o.reason,
            ({E} + o.created_off)::TIMESTAMP + INTERVAL 10 HOUR as created_at,
            case when o.expires_off is not null then ({E} + o.expires_off)::TIMESTAMP + INTERVAL 10 HOUR end
                as expires_at
        from o join p on p.rn = o.n
        """
    )


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------
def _planted_counts(con: duckdb.DuckDBPyConnection) -> dict:
    fates = dict(con.execute("select fate, count(*) from acct group by fate").fetchall())
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    outcomes = dict(con.execute("select outcome_type, count(*) from out_outcomes group by 1").fetchall())
    return {
        "churn": fates.get("churn", 0),
        "silent_sufferers": fates.get("silent", 0),
        "silent_churn": q("select count(*) from acct where fate = 'silent' and churn_d is not null"),
        "churn_total": q("select count(*) from acct where churn_d is not null"),
        "expansion": fates.get("expand", 0),
        "downgrade": fates.get("downgrade", 0),
        "renew": fates.get("renew", 0),
        "new_accounts_in_window": q("select count(*) from acct where is_new"),
        "subsidiaries": q("select count(*) from acct where parent_a is not null"),
        "temporary_dips": q("select count(*) from acct where dip_s is not null"),
        "outcomes": {k: outcomes.get(k, 0) for k in ("churn", "renewal", "downgrade", "expansion")},
    }


def _flaw_counts(con: duckdb.DuckDBPyConnection) -> dict:
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    has_pii = "({c} like '% Contact me at %' or {c} like '% Call me on %')"
    pii = sum(
        q(f"select count(*) from {t} where {has_pii.format(c=c)}")
        for t, c in (
            ("(select * from out_support_tickets where dup = 0)", "body"),
            ("out_survey_responses", "verbatim"),
            ("out_account_notes", "note_text"),
            ("out_social_mentions", "mention_text"),
        )
    )
    return {
        "usage_duplicates": q("select count(*) from out_usage_events where dup"),
        "ticket_duplicates": q("select count(*) from out_support_tickets where dup = 1"),
        "usage_late_arrivals": q(
            "select count(*) from out_usage_events where is_late and received_at is not null and not dup"
        ),
        "usage_null_account_id": q("select count(*) from out_usage_events where flaw = 'null' and not dup"),
        "usage_unknown_account_id": q(
            "select count(*) from out_usage_events where flaw = 'unknown' and not dup"
        ),
        "usage_after_churn": q(
            "select count(*) from out_usage_events e join acct ac on e.a = ac.a "
            "where ac.churn_d is not null and e.d >= ac.churn_d"
        ),
        "ticket_bad_opened_at": q("select count(*) from out_support_tickets where bad_ts and dup = 0"),
        "ticket_bad_priority": q("select count(*) from out_support_tickets where bad_pri and dup = 0"),
        "ticket_priority_other_case": q(
            "select count(*) from out_support_tickets where priority not in ('P1', 'low', 'normal', 'high', "
            "'urgent') and dup = 0"
        ),
        "invoice_bad_amount": q("select count(*) from out_invoices where bad_amount"),
        "pii_texts": pii,
        "optional_nulls": {
            "accounts.industry": q("select count(*) from out_accounts where industry is null"),
            "accounts.country": q("select count(*) from out_accounts where country is null"),
            "subscriptions.arr": q("select count(*) from out_subscriptions where arr is null"),
            "subscriptions.discount_pct": q(
                "select count(*) from out_subscriptions where discount_pct is null"
            ),
            "usage_events.quantity": q("select count(*) from out_usage_events where quantity is null"),
            "usage_events.received_at": q("select count(*) from out_usage_events where received_at is null"),
            "support_tickets.subject": q("select count(*) from out_support_tickets where subject is null"),
            "survey_responses.respondent_id": q(
                "select count(*) from out_survey_responses where respondent_id is null"
            ),
            "account_notes.note_text": q("select count(*) from out_account_notes where note_text is null"),
        },
    }
