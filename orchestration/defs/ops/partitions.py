"""The as_of dimension: one partition per day."""

import os

import dagster as dg

from orchestration.lib import clock

# end_offset=1: today's partition exists today, so the daily run can score "as of today"; with
# HEALTHSCORE_TODAY set in the future, partitions run up to that day too.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("HEALTHSCORE_PARTITIONS_START", "2020-01-01"),
    end_offset=1 + max(0, clock.offset().days),
)
