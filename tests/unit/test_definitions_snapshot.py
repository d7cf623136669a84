"""Every asset key, check, job, schedule and sensor, snapshotted: an accidental rename shows here.

After an intended change, refresh the snapshot with
    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_definitions_snapshot.py
and review the diff of tests/snapshots/definitions.txt like code.
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "definitions.txt"


def _describe() -> str:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        kind = "asset" if node.is_materializable else "external"
        partitioned = " [daily partitions]" if node.partitions_def is not None else ""
        lines.append(f"{kind} {key.to_user_string()} (group {node.group_name}){partitioned}")
    for check in sorted(graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name)):
        lines.append(f"check {check.asset_key.to_user_string()}:{check.name}")
    lines += [f"job {job.name}" for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name)]
    lines += [
        f"schedule {s.name} ({s.cron_schedule})" for s in sorted(defs.schedules or [], key=lambda s: s.name)
    ]
    lines += [f"sensor {s.name}" for s in sorted(defs.sensors or [], key=lambda s: s.name)]
    return "\n".join(lines) + "\n"


REGENERATE = f"UPDATE_SNAPSHOTS=1 .venv/bin/pytest {Path(__file__).relative_to(Path(__file__).parents[2])}"


def test_definitions_match_the_snapshot():
    current = _describe()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    # A missing snapshot is a failure, never written silently: the test could not fail otherwise.
    assert SNAPSHOT.exists(), (
        f"{SNAPSHOT.name} is missing; write it on purpose with `{REGENERATE}`, review and commit it"
    )
    assert current == SNAPSHOT.read_text(), (
        f"Dagster definitions changed; if intended, regenerate with `{REGENERATE}` and commit the snapshot"
    )


# The asset graph middle-truncates a node's name (the key's last part) beyond 31 characters and an
# upstream/downstream link's beyond 30 (dagster-webserver's ASSET_NODE_NAME_MAX_LENGTH and
# ASSET_LINK_NAME_MAX_LENGTH): every asset must be readable in full at the graph's normal zoom.
GRAPH_NAME_MAX_LENGTH = 30


def test_asset_names_fit_the_asset_graph():
    from orchestration.definitions import defs

    names = {key.path[-1] for key in defs.resolve_asset_graph().get_all_asset_keys()}
    too_long = sorted(name for name in names if len(name) > GRAPH_NAME_MAX_LENGTH)
    assert not too_long, f"cut in the asset graph (over {GRAPH_NAME_MAX_LENGTH} characters): {too_long}"
