"""The pandas peer for `make bench`: the main features and scores as a notebook would compute them.

    python -m benchmarks.bench_pandas --landing .bench/S/landing --out .bench/S/pandas_features.parquet

Plain pandas (read the landing Parquet, groupby / merge / merge_asof / cumsum), on the same
point-in-time rules as the dbt models (a record counts toward as_of_date D only once known by D):
- usage: events_30d, events_prev_30d, active_users_30d (distinct users: every active user-day
  expanded into the 30 as_of days it counts toward, then nunique: the obvious pandas way),
  features_used_30d, days_since_last_activity, usage_change_pct, active_users_change_pct,
  seat_utilisation;
- support: tickets_30d, tickets_90d, open_tickets, high_priority_share_90d,
  avg_resolution_hours_90d, csat_avg_90d;
- voice: nps_latest, nps_previous, nps_change, survey_response_rate_180d;
- billing: mrr, mrr_90d_ago, mrr_change_pct_90d, seats, overdue_invoices, late_payments_180d,
  failed_payments_180d, discount_pct;
- relationship: days_since_last_note, am_rating_latest.
Not computed: the sentiment group (its text model is the same Python code in every variant) and
days_since_last_signal; the scores are therefore computed without the sentiment group, which the
scorecard handles as missing factors (weights renormalised), so they are comparable in cost but
not identical to the pipeline's scores. The features above are compared value by value.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

DAY = np.timedelta64(1, "D")


def _read(landing: Path, source: str) -> pd.DataFrame:
    """A landing source as a DataFrame, typed and filtered by the loader's rules (through DuckDB:
    pandas 3 has no Parquet engine without pyarrow, and mixed timestamp formats need the same
    parsing as the pipeline). Everything after this is pandas."""
    import duckdb

    from benchmarks.bench_bound import raw_view_sql
    from orchestration.lib.contracts.sources import CONTRACTS

    con = duckdb.connect()
    try:
        return con.execute(raw_view_sql(con, landing, CONTRACTS[source])).df()
    finally:
        con.close()


def _day(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).dt.floor("D").astype("datetime64[s]")


def _interval_sum(grid: pd.DataFrame, df: pd.DataFrame, start: str, until: str, amount) -> pd.Series:
    """Sum of `amount` over records with start <= D < until (until NaT: open-ended), per grid row."""
    amount = df[amount] if isinstance(amount, str) else pd.Series(amount, index=df.index, dtype="float64")
    keep = df[until].isna() | (df[start] < df[until])
    plus = pd.DataFrame({"account_id": df["account_id"], "d": df[start], "v": amount})[keep]
    minus = pd.DataFrame({"account_id": df["account_id"], "d": df[until], "v": -amount})[
        keep & df[until].notna()
    ]
    deltas = pd.concat([plus, minus])
    deltas = deltas.merge(grid.groupby("account_id")["as_of_date"].agg(["min", "max"]), on="account_id")
    deltas = deltas[deltas["d"] <= deltas["max"]]
    deltas["d"] = deltas["d"].where(deltas["d"] >= deltas["min"], deltas["min"])
    daily = deltas.groupby(["account_id", "d"])["v"].sum().rename("v")
    merged = grid[["account_id", "as_of_date"]].merge(
        daily, left_on=["account_id", "as_of_date"], right_index=True, how="left"
    )
    return merged["v"].fillna(0.0).groupby(merged["account_id"]).cumsum().round(6).to_numpy()


def _latest_asof(grid: pd.DataFrame, df: pd.DataFrame, on: str, columns: list[str]) -> pd.DataFrame:
    """The last record (in df's order) with on <= D, per grid row (merge_asof)."""
    right = df[["account_id", on, *columns]].dropna(subset=[on]).sort_values(on, kind="stable")
    left = grid[["account_id", "as_of_date"]].reset_index().sort_values("as_of_date", kind="stable")
    out = pd.merge_asof(left, right, left_on="as_of_date", right_on=on, by="account_id", direction="backward")
    return out.set_index("index").sort_index()


def compute_features(landing: Path) -> pd.DataFrame:
    accounts = _read(landing, "accounts")
    events = _read(landing, "usage_events")
    tickets = _read(landing, "support_tickets")
    surveys = _read(landing, "survey_responses")
    subs = _read(landing, "subscriptions")
    invoices = _read(landing, "invoices")
    notes = _read(landing, "account_notes")
    mentions = _read(landing, "social_mentions")

    # Re-exports repeat a key: the landing files here have one row per key; keep the last.
    events = events.drop_duplicates("event_id", keep="last")
    events["event_date"] = _day(events["event_at"])
    known_at = (
        events["received_at"].fillna(events["event_at"]) if "received_at" in events else events["event_at"]
    )
    events["known_date"] = _day(known_at)

    # The as_of range: the latest date any record became known, and up to 364 days before it.
    known = [
        events["known_date"],
        _day(tickets["opened_at"]),
        _day(surveys["sent_at"]),
        _day(invoices["issued_at"]),
        _day(notes["noted_at"]),
        _day(mentions[_known_col(mentions)]),
    ]
    end = max(k.max() for k in known if len(k))
    first = min(k.min() for k in known if len(k))
    start = max(end - 364 * DAY, first)
    accounts["created_date"] = _day(accounts["created_at"])
    accounts = accounts[accounts["created_date"] <= end]
    dates = pd.date_range(start, end, freq="D").astype("datetime64[s]")
    grid = accounts[["account_id", "created_date"]].merge(pd.DataFrame({"as_of_date": dates}), how="cross")
    grid = grid[grid["as_of_date"] >= grid["created_date"]].drop(columns="created_date")
    grid = grid.sort_values(["account_id", "as_of_date"], ignore_index=True)
    f = grid.copy()

    # --- usage --------------------------------------------------------------------------------
    daily = events.groupby(["account_id", "event_date", "known_date"]).size().rename("events").reset_index()
    daily["from"] = daily[["event_date", "known_date"]].max(axis=1)
    daily["until"] = daily["event_date"] + 30 * DAY
    f["events_30d"] = _interval_sum(grid, daily, "from", "until", "events")
    daily["from"] = np.maximum(daily["event_date"] + 30 * DAY, daily["known_date"])
    daily["until"] = daily["event_date"] + 60 * DAY
    f["events_prev_30d"] = _interval_sum(grid, daily, "from", "until", "events")

    def distinct_in_window(key: str, offset: int) -> np.ndarray:
        # Every (account, key, day) expanded into the as_of days it counts toward, then nunique.
        days = events.groupby(["account_id", key, "event_date"])["known_date"].min().reset_index()
        n = len(days)
        rep = days.loc[days.index.repeat(30)].reset_index(drop=True)
        rep["as_of_date"] = rep["event_date"] + (np.tile(np.arange(30), n) + offset) * DAY
        rep = rep[rep["as_of_date"] >= rep["known_date"]]
        counts = rep.groupby(["account_id", "as_of_date"])[key].nunique().rename("n")
        out = grid.merge(counts, left_on=["account_id", "as_of_date"], right_index=True, how="left")
        return out["n"].fillna(0).to_numpy()

    f["active_users_30d"] = distinct_in_window("user_id", 0)
    f["active_users_prev_30d"] = distinct_in_window("user_id", 30)
    f["features_used_30d"] = distinct_in_window("feature", 0)
    last = daily.assign(known_from=daily[["event_date", "known_date"]].max(axis=1))
    last = last.sort_values(["known_from", "event_date"])
    last["last_activity_date"] = last.groupby("account_id")["event_date"].cummax()
    f["last_activity_date"] = _latest_asof(grid, last, "known_from", ["last_activity_date"])[
        "last_activity_date"
    ]
    f["days_since_last_activity"] = (f["as_of_date"] - f["last_activity_date"]) / DAY

    # --- billing -------------------------------------------------------------------------------
    subs["start"] = _day(subs["start_date"])
    subs["until"] = _day(subs["end_date"]) + DAY
    f["mrr"] = _interval_sum(grid, subs, "start", "until", "mrr").round(2)
    f["seats"] = _interval_sum(grid, subs.assign(seats=subs["seats"].fillna(0)), "start", "until", "seats")
    subs["start90"], subs["until90"] = subs["start"] + 90 * DAY, subs["until"] + 90 * DAY
    f["mrr_90d_ago"] = _interval_sum(grid, subs, "start90", "until90", "mrr").round(2)
    active = grid.reset_index().merge(subs[["account_id", "start", "until", "discount_pct"]], on="account_id")
    active = active[
        (active["as_of_date"] >= active["start"])
        & (active["until"].isna() | (active["as_of_date"] < active["until"]))
    ]
    f["discount_pct"] = active.groupby("index")["discount_pct"].max().reindex(f.index)
    inv = invoices[invoices["status"].str.strip().str.lower() != "void"].copy()
    inv["status"] = inv["status"].str.strip().str.lower()
    inv["issued"], inv["due"], inv["paid"] = (
        _day(inv["issued_at"]),
        _day(inv["due_date"]),
        _day(inv["paid_at"]),
    )
    inv["from"] = np.maximum(inv["due"] + DAY, inv["issued"])
    f["overdue_invoices"] = _interval_sum(grid, inv, "from", "paid", 1.0)
    inv["until180"] = inv["due"] + 180 * DAY
    late = inv[inv["paid"].isna() | (inv["paid"] > inv["due"])]
    f["late_payments_180d"] = _interval_sum(grid, late, "from", "until180", 1.0)
    failed = inv[inv["status"] == "failed"].assign(ffrom=lambda d: np.maximum(d["due"], d["issued"]))
    f["failed_payments_180d"] = _interval_sum(grid, failed, "ffrom", "until180", 1.0)

    # --- support -------------------------------------------------------------------------------
    t = tickets.copy()
    t["priority"] = t["priority"].str.strip().str.lower()
    t["opened"], t["closed"] = _day(t["opened_at"]), _day(t["closed_at"])
    t["until30"], t["until90"] = t["opened"] + 30 * DAY, t["opened"] + 90 * DAY
    t["hours"] = (pd.to_datetime(t["closed_at"]) - pd.to_datetime(t["opened_at"])).dt.total_seconds() / 3600.0
    f["tickets_30d"] = _interval_sum(grid, t, "opened", "until30", 1.0)
    f["tickets_90d"] = _interval_sum(grid, t, "opened", "until90", 1.0)
    high = _interval_sum(grid, t[t["priority"].isin(["high", "urgent"])], "opened", "until90", 1.0)
    f["open_tickets"] = _interval_sum(grid, t, "opened", "closed", 1.0)
    c = t[t["closed"].notna()].copy()
    c["closed"] = np.maximum(c["closed"], c["opened"])
    c["until"] = c["closed"] + 90 * DAY
    resolved = _interval_sum(grid, c, "closed", "until", 1.0)
    hours = _interval_sum(grid, c, "closed", "until", "hours")
    cs = c[c["csat_score"].notna()]
    csat_n = _interval_sum(grid, cs, "closed", "until", 1.0)
    csat_sum = _interval_sum(grid, cs, "closed", "until", "csat_score")
    with np.errstate(divide="ignore", invalid="ignore"):
        f["high_priority_share_90d"] = np.where(f["tickets_90d"] > 0, high / f["tickets_90d"], np.nan)
        f["avg_resolution_hours_90d"] = np.where(resolved > 0, hours / resolved, np.nan)
        f["csat_avg_90d"] = np.where(csat_n > 0, csat_sum / csat_n, np.nan)

    # --- customer voice ------------------------------------------------------------------------
    s = surveys.copy()
    s["survey_type"] = s["survey_type"].str.strip().str.lower()
    s["sent"] = _day(s["sent_at"])
    # A response counts from the later of its answer and send dates; unanswered invitations never.
    s["responded"] = np.maximum(_day(s["responded_at"]), s["sent"]).where(s["responded_at"].notna())
    s["until"] = s["sent"] + 180 * DAY
    invitations = _interval_sum(grid, s, "sent", "until", 1.0)
    responses = _interval_sum(grid, s[s["responded"].notna()], "responded", "until", 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f["survey_response_rate_180d"] = np.where(invitations > 0, responses / invitations, np.nan)
    nps = s[(s["survey_type"] == "nps") & s["responded"].notna() & s["score"].notna()]
    nps = nps.sort_values(["account_id", "responded", "responded_at", "response_id"])
    nps["previous_score"] = nps.groupby("account_id")["score"].shift()
    nps["previous_date"] = nps.groupby("account_id")["responded"].shift()
    latest = _latest_asof(grid, nps, "responded", ["score", "previous_score", "previous_date"])
    fresh = latest["responded"] > f["as_of_date"] - 365 * DAY
    f["nps_latest"] = latest["score"].where(fresh)
    f["nps_previous"] = latest["previous_score"].where(
        fresh & (latest["previous_date"] > f["as_of_date"] - 365 * DAY)
    )
    f["nps_change"] = f["nps_latest"] - f["nps_previous"]

    # --- relationship --------------------------------------------------------------------------
    n = notes.copy()
    n["noted"] = _day(n["noted_at"])
    n = n.sort_values(["noted", "noted_at", "note_id"])
    latest_note = _latest_asof(grid, n, "noted", ["rating"])
    f["days_since_last_note"] = (f["as_of_date"] - latest_note["noted"]) / DAY
    f["am_rating_latest"] = latest_note["rating"]

    # --- derived -------------------------------------------------------------------------------
    seg = accounts.set_index("account_id")
    segment = seg["segment"].str.strip()
    f["segment"] = f["account_id"].map(
        segment.str.lower()
        .map({"smb": "SMB", "mid-market": "Mid-Market", "enterprise": "Enterprise"})
        .fillna(segment)
    )
    f["industry"] = f["account_id"].map(seg["industry"])

    def pct(cur, prev):
        prev = prev.astype("float64").where(prev != 0)
        return 100.0 * (cur - prev) / prev

    f["usage_change_pct"] = pct(f["events_30d"], f["events_prev_30d"])
    f["active_users_change_pct"] = pct(f["active_users_30d"], f["active_users_prev_30d"])
    f["mrr_change_pct_90d"] = pct(f["mrr"], f["mrr_90d_ago"])
    f["seat_utilisation"] = f["active_users_30d"] / f["seats"].where(f["seats"] != 0)
    return f.drop(columns=["last_activity_date"])


def _known_col(mentions: pd.DataFrame) -> str:
    return "mentioned_at" if "mentioned_at" in mentions else mentions.columns[2]


def compute_scores(features: pd.DataFrame, card, as_of_start, as_of_end) -> pd.DataFrame:
    """computed_score per account, date and objective, as the scorecard defines it (no sentiment)."""
    x = features[(features["as_of_date"] >= as_of_start) & (features["as_of_date"] <= as_of_end)].copy()
    available = set(x.columns)

    def variant_value(default, pick):
        value = pd.Series(default, index=x.index, dtype="float64")
        for segment, variant in card.segment_overrides.items():
            v = pick(variant)
            if v is not None:
                value[(x["segment"] == segment).to_numpy()] = v
        for industry, variant in card.industry_overrides.items():
            v = pick(variant)
            if v is not None:
                value[(x["industry"] == industry).to_numpy()] = v
        return value

    scores = {}
    for factor in card.factors:
        raw = (
            x[factor.feature].astype("float64")
            if factor.feature in available
            else pd.Series(np.nan, index=x.index)
        )
        norm = factor.normalisation
        if norm.method == "percentile":
            keys = ["as_of_date"] + {"all": [], "segment": ["segment"], "industry": ["industry"]}[
                norm.peer_group
            ]
            rank = raw.groupby([x[k] for k in keys]).rank(method="min")
            count = raw.groupby([x[k] for k in keys]).transform("count")
            pr = 100.0 * (rank - 1) / (count - 1)
            if factor.direction == "lower_is_better":
                pr = 100.0 - pr
            scores[factor.name] = pr.where(count != 1, 50.0).where(raw.notna())
            continue

        def pick_bound(attr, name=factor.name):
            def pick(variant):
                o = variant.normalisation.get(name)
                return getattr(o, attr) if o is not None else None

            return pick

        low = variant_value(norm.low, pick_bound("low"))
        high = variant_value(norm.high, pick_bound("high"))
        frac = (
            (raw - low) / (high - low)
            if factor.direction == "higher_is_better"
            else (high - raw) / (high - low)
        )
        scores[factor.name] = 100.0 * frac.clip(0.0, 1.0)
    out = []
    for objective in card.objectives:
        total = pd.Series(0.0, index=x.index)
        weighted = pd.Series(0.0, index=x.index)
        for group in card.groups:

            def pick(variant, o=objective, g=group):
                w = variant.group_weights.get(o)
                return w.get(g, 0.0) if w is not None else None

            gw = variant_value(card.objectives[objective].group_weights.get(group, 0.0), pick)
            members = [fa for fa in card.factors if fa.group == group]
            fw = sum(scores[m.name].notna() * card.factor_weight(objective, m) for m in members)
            ws = sum(scores[m.name].fillna(0.0) * card.factor_weight(objective, m) for m in members)
            has = (fw > 0) & (gw > 0)
            total += gw.where(has, 0.0)
            weighted += (gw * ws / fw.where(fw > 0)).where(has, 0.0)
        score = (weighted / total.where(total > 0)).round(2)
        out.append(
            pd.DataFrame(
                {
                    "account_id": x["account_id"],
                    "as_of_date": x["as_of_date"],
                    "objective": objective,
                    "computed_score": score,
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def run_pandas(landing: Path, out: Path | None = None, history_days: int = 90) -> dict:
    from orchestration.lib.scoring.scorecard import load_scorecard
    from orchestration.lib.settings import PROJECT_ROOT

    stages = {}
    t0 = time.perf_counter()
    features = compute_features(landing)
    stages["features"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    card = load_scorecard(PROJECT_ROOT / "scorecards" / "default.yml", known_features=set(features.columns))
    end = features["as_of_date"].max()
    scores = compute_scores(features, card, end - (history_days - 1) * DAY, end)
    stages["scoring"] = time.perf_counter() - t1
    stages["total"] = time.perf_counter() - t0
    if out is not None:
        import duckdb

        out.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.register("features", features)
        con.register("scores", scores)
        con.execute(f"copy features to '{out}' (format parquet)")
        con.execute(f"copy scores to '{out.with_name(out.stem + '_scores.parquet')}' (format parquet)")
        con.close()
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--landing", required=True)
    parser.add_argument("--out", default=None, help="write the features (and _scores) as Parquet")
    args = parser.parse_args(argv)
    stages = run_pandas(Path(args.landing), Path(args.out) if args.out else None)
    print("STAGES " + json.dumps(stages))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
