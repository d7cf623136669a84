"""python -m orchestration.lib.quality  -> regenerate expectations/suites/ from the contracts."""

from orchestration.lib.quality.suites import export_suites
from orchestration.lib.settings import PROJECT_ROOT

for path in export_suites():
    print(path.relative_to(PROJECT_ROOT))
