"""Progress lines of long steps (scoring chunks, dbt nodes, sentiment batches).

A step that may run for minutes reports how far it got through a `Progress`, which passes a line
to its log at most every `every` seconds. The lines start with PROGRESS_PREFIX: the quiet terminal
of `healthscore run` shows them (orchestration/cli/progress.py), so a long run is never silent;
the log file and Dagster's UI get them like any other message. A step shorter than `every` prints
none.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PROGRESS_PREFIX = "progress: "


class Progress:
    def __init__(
        self,
        log: Callable[[str], None],
        every: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log, self.every, self.clock = log, every, clock
        self.started = self.last = clock()

    def __call__(self, text: str) -> bool:
        """Report `text` if `every` seconds passed since the step began or the last line; whether it did."""
        now = self.clock()
        if now - self.last < self.every:
            return False
        self.last = now
        self.log(f"{PROGRESS_PREFIX}{text} ({now - self.started:.0f} s in)")
        return True


def no_progress(_text: str) -> bool:
    return False
