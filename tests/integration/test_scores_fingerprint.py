"""The published scores on a pinned demo do not change when the pipeline is made faster.

`healthscore run` on 200 accounts x 120 days (seed 7, ending 2026-06-30, "today" pinned to that
day) and a hash per column of scores.health_scores_current and scores.health_scores, compared with
tests/snapshots/scores.json (benchmarks/score_fingerprint.py; run ids, code version, batch ids and
computation timestamps left out). The snapshot was taken on the code before the fixed-cost work of
issue 22; a change meant to alter scores regenerates it on purpose:

    .venv/bin/python -m benchmarks.score_fingerprint --out tests/snapshots/scores.json

and the diff (which columns changed) is reviewed like code.
"""

import json
from pathlib import Path

import pytest

from benchmarks.score_fingerprint import differences, run_pinned_demo

# A whole `healthscore run` (about a minute on a quiet machine): not for test-fast.
pytestmark = pytest.mark.slow

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "scores.json"


def test_published_scores_match_the_snapshot(tmp_path: Path) -> None:
    got = run_pinned_demo(tmp_path)
    stored = json.loads(SNAPSHOT.read_text())
    assert got["scores.health_scores_current"]["rows"] == 400, "200 accounts x 2 objectives"
    assert not differences(got, stored), (
        "published scores changed; if intended, regenerate tests/snapshots/scores.json "
        "(python -m benchmarks.score_fingerprint --out ...) and review the diff"
    )
