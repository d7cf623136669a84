"""Backtesting scorecards against what actually happened (no Dagster in here).

A backtest scores sampled past as_of dates with point-in-time features (`compute_scores`,
nothing published), labels each (account, as_of_date) with "churned in the following
horizon" and measures how well the score ranked the churners:

    history   score_history()      scores + factor scores per sampled as_of date
    labels    label_history()      churn in (as_of, as_of + horizon]; already-churned rows dropped
    metrics   evaluate()           ROC AUC, PR AUC, top-decile precision / recall / lift
              band_table()         churn rate per grade band, monotone or not
              group_table()        per segment, per industry, per as_of date
    compare   compare_auc()        champion vs challenger, bootstrap CI resampling accounts
    refine    suggest_weights()    logistic regression on factor scores, time split with a gap
    drift     drift_table()        PSI per factor and for the score, reference vs latest period

`run_backtest` ties them together for the CLI and the Dagster asset and writes the tables of
schema `backtest` (see docs/backtesting.md).
"""
