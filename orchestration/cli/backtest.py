"""`healthscore backtest`: score past dates and measure against outcomes (docs/backtesting.md)."""

from __future__ import annotations

import argparse

from orchestration.cli.common import _say


def cmd_backtest(args: argparse.Namespace) -> int:
    from orchestration.lib.backtest.command import BacktestOptions, run_backtest_command

    options = BacktestOptions(
        scorecard=args.scorecard,
        start=args.start,
        end=args.end,
        horizon=args.horizon,
        every=args.every,
        challenger=args.challenger,
        suggest=args.suggest,
        suggest_out=args.suggest_out,
        leakage_dates=args.leakage_dates,
        bootstrap=args.bootstrap,
        out=args.out,
        write_tables=not args.no_write,
        label=args.label,
    )
    return run_backtest_command(options, say=_say)
