"""The daily schedule."""

import os

import dagster as dg

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job_name="healthscore_all",
    cron_schedule=os.environ.get("HEALTHSCORE_SCHEDULE_CRON", "0 6 * * *"),
    execution_timezone=os.environ.get("HEALTHSCORE_SCHEDULE_TZ", "UTC"),
    description="Ingest new landing files, gate quality, rebuild features and publish today's scores.",
)
