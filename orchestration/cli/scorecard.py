"""`healthscore scorecard render|diff`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestration.cli.common import _say, options_from_args


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

    options = options_from_args(ScorecardDiffOptions, args)
    return scorecard_diff_command(options, say=_say)


def cmd_scorecard_learn(args: argparse.Namespace) -> int:
    from orchestration.lib.backtest.command import LearnCommandOptions, scorecard_learn_command

    options = options_from_args(LearnCommandOptions, args, exclude=tuple(args.exclude), only=tuple(args.only))
    return scorecard_learn_command(options, say=_say)
