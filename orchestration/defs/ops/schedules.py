"""The daily schedule: score today's partition."""

import os

import dagster as dg

from orchestration.lib import clock


@dg.schedule(
    name="daily_refresh",
    job_name="healthscore_all",
    cron_schedule=os.environ.get("HEALTHSCORE_SCHEDULE_CRON", "0 6 * * *"),
    execution_timezone=os.environ.get("HEALTHSCORE_SCHEDULE_TZ", "UTC"),
    description="Ingest new landing files, gate quality, rebuild features and publish the day's scores.",
)
def daily_refresh(context: dg.ScheduleEvaluationContext):
    # HEALTHSCORE_TODAY moves "today" for the data; the tick itself stays on the real clock.
    day = (context.scheduled_execution_time + clock.offset()).date().isoformat()
    # run_key: one run per day, however often the daemon evaluates the schedule.
    return dg.RunRequest(run_key=f"daily-{day}", partition_key=day)
