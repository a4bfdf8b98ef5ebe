# Two entry points for a fresh machine: `make demo` and `make test`. Both install what is
# missing first (Debian's MariaDB, mydumper and chromium, a venv with the package, npm's dynalite/kinesalite, the
# Maven jars) and are safe to run again: each step is skipped when its inputs did not change.
# `make bench` runs every benchmark at full size (long: about an hour on 2 cores); `make dist`
# builds the sdist and the (reproducible) wheel into dist/.

VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
ROWS   ?= 1000
BENCHES := $(sort $(basename $(notdir $(wildcard bench/*_bench.py))))
# wheel timestamps: the last commit's time, so the same commit builds the same wheel
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 315532800)

.PHONY: setup demo test bench dist lint clean stop

setup: .local/.debian $(VENV)/.installed node_modules/.installed jars/mysql2dynamo-converter.jar

# Debian packages, in one apt-get when any is missing: MariaDB (the local MySQL), mydumper (the
# snapshot bench's second baseline; its smoke run is part of `make test`), libmariadb-dev and
# pkg-config (mysqlclient, the snapshot workers' C driver, builds against them) and chromium (the report
# test's headless browser: Playwright drives the system chromium and downloads no browser)
DEBIAN := mariadb-server-core mariadb-client mydumper libmariadb-dev pkg-config chromium
.local/.debian: Makefile
	@missing=$$(for p in $(DEBIAN); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@mkdir -p .local && touch $@

$(VENV)/.installed: setup.py pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

jars/mysql2dynamo-converter.jar: emr/pom.xml $(wildcard emr/converter/src/main/java/io/mysql2dynamo/emr/*.java)
	mvn -q -B -f emr/pom.xml package

demo: setup
	$(VENV)/bin/mysql2dynamo demo --rows $(ROWS)

test: setup
	$(PYTEST) -q

bench: setup
	$(VENV)/bin/mysql2dynamo local up
	@for b in $(BENCHES); do echo "== bench.$$b"; $(PY) -m bench.$$b || exit 1; done

dist: $(VENV)/.installed
	rm -rf dist
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(PY) -m build --outdir dist

lint: setup
	$(VENV)/bin/ruff check .

stop:
	-$(VENV)/bin/mysql2dynamo local down

clean: stop
	rm -rf .local .build build dist *.egg-info jars node_modules $(VENV)
