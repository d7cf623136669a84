"""Sensors: new landing files start ingestion; grade drops and expired overrides notify a webhook."""

import hashlib
import json
from pathlib import Path

import dagster as dg

from orchestration.defs.asset_keys import HEALTH_SCORES
from orchestration.lib import clock
from orchestration.lib.contracts.sources import CONTRACTS
from orchestration.lib.ingest.loader import discover_files
from orchestration.lib.reporting.alerts import WEBHOOK_ENV, AlertDeliveryError, deliver, webhook_url_from_env
from orchestration.lib.settings import Settings


def _landing_files(landing: Path) -> dict[str, list[float]]:
    files: dict[str, list[float]] = {}
    for source in CONTRACTS:
        for path in discover_files(landing, source):  # the files the loader would read
            stat = path.stat()
            files[str(path.relative_to(landing))] = [stat.st_size, stat.st_mtime]
    return files


@dg.sensor(
    name="landing_files_sensor",
    job_name="healthscore_all",
    minimum_interval_seconds=60,
    description="Starts a full run when a file appears or changes in the landing zone.",
)
def landing_files_sensor(context: dg.SensorEvaluationContext):
    landing = Settings.from_env().landing_dir
    seen = json.loads(context.cursor) if context.cursor else {}
    now = _landing_files(landing)
    new = sorted(name for name, sig in now.items() if seen.get(name) != sig)
    if not new:
        return dg.SkipReason(f"no new or changed files in {landing}")
    context.update_cursor(json.dumps(now))
    signature = hashlib.sha256(json.dumps([[n, now[n]] for n in new]).encode()).hexdigest()[:16]
    return dg.RunRequest(
        run_key=f"landing-{signature}",
        partition_key=clock.today().isoformat(),
        tags={"healthscore/trigger": "landing_files", "healthscore/new_files": ",".join(new)[:1000]},
    )


@dg.sensor(
    name="grade_drop_alerts",
    minimum_interval_seconds=30,
    description=(
        f"Posts a JSON notification to ${WEBHOOK_ENV} for every grade drop and expired override in a "
        "newly published score version; each alert is sent once, with retries."
    ),
)
def grade_drop_alerts(context: dg.SensorEvaluationContext):
    url = webhook_url_from_env()  # not http(s): WebhookSettingError, the tick fails saying so
    if not url:
        return dg.SkipReason(f"no webhook configured (set {WEBHOOK_ENV})")
    state = json.loads(context.cursor) if context.cursor else {"after": None, "sent": []}
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=HEALTH_SCORES, after_storage_id=state["after"]),
        limit=20,
        ascending=True,
    ).records
    if not records:
        return dg.SkipReason("no new score versions")
    total = 0
    for record in records:
        metadata = record.asset_materialization.metadata if record.asset_materialization else {}
        changes = metadata["changes"].value if "changes" in metadata else []
        already = set(state["sent"])
        try:
            sent = deliver(url, changes, already)
        except AlertDeliveryError as exc:
            # Keep what was sent so a retry on the next tick does not send it twice.
            state["sent"] = sorted(already | set(getattr(exc, "sent_keys", [])))
            context.update_cursor(json.dumps(state))
            raise
        total += len(sent)
        state = {"after": record.storage_id, "sent": []}
        context.update_cursor(json.dumps(state))
    return dg.SkipReason(f"sent {total} alert(s) for {len(records)} score version(s)")
