# SafeCE: `make run` serves the demo, `make cluster` the scaled-out shape, `make test`
# runs the whole suite.
# Both install what is missing first (a Python virtualenv, Redis, Chromium, a CJK font).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEPS_STAMP := $(VENV)/.deps-$(shell sha1sum pyproject.toml | cut -c1-12)
UV_VERSION := 0.13.10
APT_RUN := redis-server fonts-wqy-microhei ffmpeg
APT_CLUSTER := redis-server postgresql nginx pgbouncer
APT_TEST := chromium poppler-utils zbar-tools postgresql libreoffice-writer-nogui nginx pgbouncer
# What the benchmarks under bench/ start (`make bench-deps`; each benchmark says so if one is missing).
APT_BENCH := redis-server nginx postgresql pgbouncer
# `make test` runs the whole suite on both databases, the two passes side by side
# (devtools/testrun.py); DB=sqlite (or postgresql) runs one only, for local work.
DB ?= sqlite postgresql
# Test processes per database pass (pytest-xdist; by default 2 each, the passes side by side):
# each has its own redis-server, database copies, PostgreSQL cluster and ports.
# `TEST_WORKERS=0` runs each pass in one process.
TEST_WORKERS ?=
# `make cluster`: server and worker processes (nginx listens on PORT, default 8080);
# POOLER=pgbouncer puts PgBouncer (transaction mode) in front of PostgreSQL.
SERVERS ?= 2
WORKERS ?= 2
POOLER ?=

.PHONY: run cluster test deps system-deps cluster-system-deps test-system-deps bench-deps lint clean

run: deps system-deps
	$(BIN)/python -m devtools run

cluster: deps system-deps cluster-system-deps
	$(BIN)/python -m devtools cluster --servers $(SERVERS) --workers $(WORKERS) --pooler '$(POOLER)'

test: deps system-deps test-system-deps lint
	$(BIN)/python -m devtools.testrun $(DB) \
		$(if $(TEST_WORKERS),--workers sqlite=$(TEST_WORKERS) --workers postgresql=$(TEST_WORKERS)) \
		-- $(PYTEST_ARGS)

# The code style and the layering (import contracts in pyproject.toml) are part of the suite.
lint: deps
	$(BIN)/ruff check app realtime workers devtools tests bench migrations
	$(BIN)/ruff format --check app realtime workers devtools tests bench migrations
	$(BIN)/lint-imports

deps: $(DEPS_STAMP)

# uv installs the same pinned set as pip does, in ~10 s instead of ~26 s on a fresh clone
# (part of `make test`'s time); pip does it if uv cannot. --compile-bytecode: like pip, it
# writes every module's .pyc at install; where PYTHONDONTWRITEBYTECODE is set (this
# machine) Python never writes them, and every process of the suite compiled its imports
# from source (~15 % more CPU).
# The virtualenv is made without pip (ensurepip alone took 5 s of a fresh clone's run): the
# system's pip puts uv into it; if that cannot be done, or uv fails, the venv gets its pip.
$(DEPS_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	test -x $(BIN)/uv || $(PYTHON) -m pip --python $(BIN)/python install -q uv==$(UV_VERSION) \
		|| { $(BIN)/python -m ensurepip && $(BIN)/python -m pip install -q uv==$(UV_VERSION); }
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[test]' \
		|| { $(BIN)/python -m ensurepip && $(BIN)/python -m pip install -q -e '.[test]'; }
	rm -f $(VENV)/.deps-* && touch $@

system-deps:
	@dpkg -s $(APT_RUN) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_RUN); }

cluster-system-deps:
	@dpkg -s $(APT_CLUSTER) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_CLUSTER); }

test-system-deps:
	@dpkg -s $(APT_TEST) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_TEST); }

bench-deps: deps
	@dpkg -s $(APT_BENCH) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_BENCH); }

# Resets the demo: everything `make run` and `make test` leave behind (not .venv).
clean:
	rm -rf var tests/e2e/screenshots .pytest_cache .ruff_cache bench/out
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
