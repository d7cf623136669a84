"""healthscore: the Dagster code location and its libraries."""
