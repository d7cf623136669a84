"""`healthscore backtest`: score past dates and measure against outcomes (docs/backtesting.md)."""

from __future__ import annotations

import argparse

from orchestration.cli.common import _say, options_from_args


def cmd_backtest(args: argparse.Namespace) -> int:
    from orchestration.lib.backtest.command import BacktestOptions, run_backtest_command

    options = options_from_args(BacktestOptions, args, write_tables=not args.no_write)
    return run_backtest_command(options, say=_say)
