"""`healthscore scorecard render|diff`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestration.cli.common import _say


def cmd_scorecard_render(args: argparse.Namespace) -> int:
    from orchestration.lib.scoring.render import render_markdown
    from orchestration.lib.scoring.scorecard import load_scorecard

    card = load_scorecard(args.path)
    text = render_markdown(card)
    if args.out:
        Path(args.out).write_text(text)
        _say(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_scorecard_diff(args: argparse.Namespace) -> int:
    from orchestration.lib.backtest.command import ScorecardDiffOptions, scorecard_diff_command

    options = ScorecardDiffOptions(old=args.old, new=args.new, as_of=args.as_of, out=args.out)
    return scorecard_diff_command(options, say=_say)


def cmd_scorecard_learn(args: argparse.Namespace) -> int:
    from orchestration.lib.backtest.command import LearnCommandOptions, scorecard_learn_command

    options = LearnCommandOptions(
        scorecard=args.scorecard,
        out=args.out,
        horizon=args.horizon,
        every=args.every,
        start=args.start,
        end=args.end,
        label=args.label,
        holdout=args.holdout,
        max_factors=args.max_factors,
        max_bins=args.max_bins,
        max_interactions=args.max_interactions,
        exclude=tuple(args.exclude),
        only=tuple(args.only),
        bootstrap=args.bootstrap,
    )
    return scorecard_learn_command(options, say=_say)
