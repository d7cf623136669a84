"""healthscore: the Dagster code location and its libraries."""

import warnings

# GX imports PySpark when it is installed (the Spark engine's dependency); PySpark's notice about
# pandas 3 concerns its own pandas API, which no healthscore engine uses.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
