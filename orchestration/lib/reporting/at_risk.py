"""Who is at risk now: the queries the summary, the health report and the Dagster metadata share.

"Most at risk" is the worst grade first, then the lowest score: an override can set an account
red whatever its computed score (a CSM knows it is leaving), and such an account is the first a
reader must see, not one missing from a list sorted by score alone.
"""

from __future__ import annotations

from typing import Any

import duckdb

OBJECTIVE = "retention_risk"
# Sort order of the grades, worst first (also the bi tables' grade_order column).
GRADE_ORDER = {"red": 1, "yellow": 2, "green": 3, "insufficient_data": 4, "churned": 5}


def grade_order_sql(column: str = "grade") -> str:
    return (
        f"case {column} when 'red' then 1 when 'yellow' then 2 when 'green' then 3 "
        f"when 'insufficient_data' then 4 when 'churned' then 5 else 6 end"
    )


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 file', '2 files', '1,204 rows'."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def table_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    return {f"{s}.{t}" for s, t in rows}


def current_relation(tables: set[str]) -> str | None:
    # scores.* carries the computed score and grade behind an override; bi.* the CRM attributes
    # (joined from marts.dim_accounts when reading scores.*).
    for name in ("scores.health_scores_current", "bi.health_scores_current"):
        if name in tables:
            return name
    return None


def grade_counts(con: duckdb.DuckDBPyConnection, current: str, objective: str = OBJECTIVE) -> dict[str, int]:
    rows = con.execute(
        f"select grade, count(*) from {current} where objective = ? group by grade order by {grade_order_sql()}",
        [objective],
    ).fetchall()
    return {g: int(n) for g, n in rows}


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    schema, table = relation.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def arr_at_risk(con: duckdb.DuckDBPyConnection, current: str, objective: str = OBJECTIVE) -> tuple | None:
    """(expected churned ARR = sum of churn_probability x ARR, accounts with a probability) over
    the current scores; None when the scorecard publishes no churn probability."""
    if not {"churn_probability", "arr_at_risk"} <= _columns(con, current):
        return None
    row = con.execute(
        f"""select sum(arr_at_risk), count(churn_probability) from {current}
        where objective = ? and churn_probability is not null""",
        [objective],
    ).fetchone()
    return (float(row[0] or 0.0), int(row[1])) if row and row[1] else None


def at_risk_accounts(
    con: duckdb.DuckDBPyConnection, current: str, limit: int, objective: str = OBJECTIVE
) -> list[dict[str, Any]]:
    """The `limit` most at-risk accounts that still have a retention grade (not churned, enough
    data): red first, then yellow, then green, each by score (lowest first)."""
    cols = _columns(con, current)
    tables = table_names(con)
    name = "s.account_name"
    join = ""
    if "account_name" not in cols:
        if "marts.dim_accounts" in tables:
            join = "left join marts.dim_accounts a on a.account_id = s.account_id"
            name = "a.account_name"
        else:
            name = "null"
    computed = (
        "s.computed_score, s.computed_grade"
        if {"computed_score", "computed_grade"} <= cols
        else "null as computed_score, null as computed_grade"
    )
    # Published by a calibrated scorecard; tables from before they existed have no such columns.
    risk = (
        "s.churn_probability, s.arr_at_risk"
        if {"churn_probability", "arr_at_risk"} <= cols
        else "null as churn_probability, null as arr_at_risk"
    )
    cursor = con.execute(
        f"""select s.account_id, {name} as account_name, s.owner, s.segment, s.arr, s.health_score,
               s.grade, s.confidence, s.score_change, s.top_reasons, s.override_action,
               s.override_reason, {computed}, {risk}
        from {current} s {join}
        where s.objective = ? and s.grade not in ('churned', 'insufficient_data')
        order by {grade_order_sql("s.grade")}, s.health_score asc nulls last, s.account_id
        limit {int(limit)}""",
        [objective],
    )
    names = [d[0] for d in cursor.description]
    out = []
    for row in cursor.fetchall():
        r = dict(zip(names, row, strict=True))
        score = r["computed_score"]
        r["computed_label"] = (
            f"{score:.1f} {r['computed_grade']}"
            if score is not None and r["computed_grade"]
            else "by the scorecard"
        )
        out.append(r)
    return out
