# healthscore: two commands on a fresh machine.
#   make run    set up, generate demo data if the landing zone is empty, materialise everything
#   make test   set up and run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DAGSTER_HOME
DEMO_ACCOUNTS ?= 500
DEMO_DAYS ?= 365

.PHONY: install run ravenstack dev screenshots test test-fast test-shifted test-deps lint fix manifest lock bench bench-daily demo-data summary docs clean

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check uv
	$(UV) pip install --quiet --compile-bytecode -p $(PY) -r requirements.lock
	$(UV) pip install --quiet -p $(PY) --no-deps -e .
	@touch $@

install: $(VENV)/.installed

manifest: install
	$(PY) -c "from orchestration.cli.common import ensure_manifest; ensure_manifest(force=True)"

run: install
	DEMO_ACCOUNTS=$(DEMO_ACCOUNTS) DEMO_DAYS=$(DEMO_DAYS) $(VENV)/bin/healthscore run

# The worked example on real data (examples/ravenstack, docs/bring-your-own-data.md): ingest the
# RavenStack CSVs through their mappings, gate, score as of 2024-12-31 and backtest.
ravenstack: install
	$(VENV)/bin/healthscore run --example ravenstack

demo-data: install
	$(VENV)/bin/healthscore demo-data --accounts $(DEMO_ACCOUNTS) --days $(DEMO_DAYS)

summary: install
	$(VENV)/bin/healthscore summary

# The UI (healthscore dev). dbt is parsed only when its files changed (not on every start); Dagster's
# notice that `dagster dev` is superseded by `dg dev` (not installed here) is silenced. DEV_PORT
# moves it; EXAMPLE=ravenstack opens the example's warehouse and run history (make ravenstack).
DEV_PORT ?= 3000
EXAMPLE ?=
dev: install
	env --default-signal=INT $(VENV)/bin/healthscore dev --port $(DEV_PORT) $(if $(EXAMPLE),--example $(EXAMPLE))

# docs/img/{summary,report,data-docs}.png from the current published files (run `make run` first):
# headless Chromium with the network closed.
screenshots: install
	$(PY) -m orchestration.lib.reporting.screenshots --out docs/img

# Debian packages the tests use (installed when root): headless Chromium renders the health
# report; the PostgreSQL 15 server and a Java runtime (local Spark) run the cross-engine tests.
test-deps:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium could not be installed: the report rendering test will be skipped"
	@{ test -x /usr/lib/postgresql/15/bin/initdb && command -v java >/dev/null; } || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			postgresql-15 openjdk-17-jre-headless >/dev/null) || \
		echo "postgresql-15 / Java could not be installed: the engine tests will be skipped"

# Two workers (the machine has 2 cores); --dist loadfile keeps each test module, whose
# end-to-end tests share one warehouse and run in order, on one worker; --no-loadscope-reorder
# hands the modules out in collection order, which tests/conftest.py sets longest first (xdist
# would otherwise start the modules with the most tests first and leave a long one-test module,
# such as Spark's, running alone at the end); the 15 slowest tests are listed at the end so a
# slow-down shows in CI output.
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# pytest exits 5 when a selection holds no test: not a failure here (say so and go on).
NO_TESTS_OK = || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest: no tests collected (exit 5), not a failure"; [ $$rc -eq 5 ]; }

test: install manifest test-deps
	$(VENV)/bin/pytest -q $(PYTEST_ARGS) $(NO_TESTS_OK)

# The inner loop: unit tests and the quick integration tests (not the end-to-end runs marked slow);
# no forced dbt parse (the tests parse when the dbt project changed).
test-fast: install test-deps
	$(VENV)/bin/pytest -q $(PYTEST_ARGS) -m "not slow" $(NO_TESTS_OK)

# The tests whose data or checks depend on "today", run again with today moved SHIFT_DAYS ahead
# (HEALTHSCORE_TODAY, orchestration/lib/clock.py): their outcomes must not change with the calendar.
SHIFT_DAYS ?= 23
SHIFTED_TODAY ?= $(shell $(PYTHON) -c "import datetime as d; print(d.datetime.now(d.UTC).date() + d.timedelta(days=$(SHIFT_DAYS)))")
SHIFTED_TESTS ?= tests/unit/test_demo_data.py tests/unit/test_landing_sensor.py \
	tests/integration/test_quality_checks.py tests/integration/test_sentiment_pipeline.py
test-shifted: install
	HEALTHSCORE_TODAY=$(SHIFTED_TODAY) $(VENV)/bin/pytest -q $(PYTEST_ARGS) $(SHIFTED_TESTS) $(NO_TESTS_OK)

lint: install
	$(VENV)/bin/ruff check orchestration benchmarks tests
	$(VENV)/bin/ruff format --check orchestration benchmarks tests

fix: install
	$(VENV)/bin/ruff check --fix orchestration benchmarks tests
	$(VENV)/bin/ruff format orchestration benchmarks tests

docs: install
	$(VENV)/bin/healthscore gen-docs

lock: install
	$(UV) pip compile pyproject.toml --all-extras -o requirements.lock -p 3.11 --quiet

# The pipeline against the independent yardstick (equality checked at every size), the own-SQL
# bound and the pandas peer (docs/benchmarks.md). BENCH_SIZES=M runs M alone (a quiet machine:
# 20,000 accounts take minutes and GBs); BENCH_ARGS passes anything else (--skip-pandas, ...).
BENCH_SIZES ?= S M
bench: install manifest
	$(PY) -m benchmarks.bench --sizes $(BENCH_SIZES) $(BENCH_ARGS)

# Daily run vs full rebuild at a year of history (docs/benchmarks.md): DAILY_SIZE=S|M|L
DAILY_SIZE ?= S
bench-daily: install manifest
	$(PY) -m benchmarks.bench_daily --size $(DAILY_SIZE)

clean:
	rm -rf data/warehouse dbt_project/target dbt_project/logs .dagster_home/storage .dagster_home/history .dagster_home/schedules
