# Entry points for people and CI. Each target calls nox sessions; the first one installs the
# pinned nox (and uv) into .tools/, and nox builds the tool's own environment from noxfile.py.
#   make rollout LABEL=3.17.2       is it safe to roll out? every cell of the label, then the decision (nox: 0 GO, 1 NO-GO, 2 BAD INPUT, 10 GO WITH ACTIONS)
#   make validate LABEL=1.2.SBD.0   every use case on one version label
#   make decide [RUN=dir]           the decision of a run again (a merged CI run too)
#   make matrix                     nox -s matrix: every validate cell of every label, progress per cell (-j2: two at once)
#   make matrix SHARD=2/4           the 2nd of 4 deterministic parts of the cells (one per machine)
#   make merge RUNS="a b" [INTO=d]  merge run folders of several machines into one run (JUnit, Markdown, HTML)
#   make cells [FORMAT=json|github|lines] [OUT=f] [LABEL=l] [KIND="validate upgrade store-upgrade models"]   the cells as data, for CI
#   make cell SESSION="validate-L(U)"   exactly one cell (what each CI job runs)
#   make ci-lint                    lint the GitHub workflow (actionlint) and the Jenkinsfile (npm-groovy-lint)
#   make upgrades                   nox -s matrix -- --kind upgrade: every label's upgrade from production (ROLLOUT_FROM=<label>)
#   make stores                     nox -s matrix -- --kind store-upgrade: production's tracking stores to every label
#   ROLLOUT_MODELS_FROM=<copy> make models LABEL=3.17.2   production's own models (envs/models.yaml) served by a label
#   make doctor                     what this machine has for production's rollout, and the install line of what it lacks
#   make test                       CI files' lint, unit and end-to-end tests (the docs' build among them)
#   make docs                       the documentation site, built strict: results/docs/index.html
#   make test-all                   make test and the slow end-to-end tests CI leaves out (tests marked `slow`)
#   make unit                       unit tests only
#   make lock [LABEL=...]           refresh committed locks after changing their inputs
#   make cleanup                    stop processes left by runs that were killed
#   make clean-envs                 remove every environment the tool built (.nox/): gigabytes, rebuilt on the next run
#   make cache [KEEP=N | CLEAR=1]   the trained-model cache (results/model-cache): size, keep the N newest, or empty it
#   RETRAIN=1 make ...              train every model again (ROLLOUT_RETRAIN=1), even when one of the same inputs is kept
#   FAIL_FAST=1 make ...            a cell stops at its first failed stage (ROLLOUT_FAIL_FAST=1): reproducing one failure

PYTHON ?= python3
# Python keeps compiled bytecode: with PYTHONDONTWRITEBYTECODE=1 (set on some machines and CI images)
# every nox, pytest and mlflow process compiles its imports from source again, seconds each time.
unexport PYTHONDONTWRITEBYTECODE
TOOLS := $(CURDIR)/.tools
NOX := $(TOOLS)/bin/nox
export PATH := $(TOOLS)/bin:$(PATH)
ifneq ($(RETRAIN),)
export ROLLOUT_RETRAIN := $(RETRAIN)
endif
ifneq ($(FAIL_FAST),)
export ROLLOUT_FAIL_FAST := $(FAIL_FAST)
endif

.PHONY: bootstrap doctor docs test-all rollout decide validate matrix cells cell merge ci-lint upgrades stores models test unit lint lock cleanup cache clean-envs
.DEFAULT_GOAL := help

help:
	@sed -n 's/^#   //p' Makefile

bootstrap: $(TOOLS)/.stamp
$(TOOLS)/.stamp: scripts/requirements-bootstrap.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-bootstrap.txt
	touch $@

validate: bootstrap
	@test -n "$(LABEL)" || { echo "usage: make validate LABEL=<label>"; $(NOX) -s labels; exit 2; }
	$(NOX) -s validate-$(LABEL)

# One run folder for the selected cells, each its own nox session (nox -s matrix). `make -jN matrix`
# runs N cells at once; SHARD=k/N runs the k-th of N deterministic parts (merge them with `make
# merge`); LABEL=... narrows it to one label. A cell whose nox fails or that never reported fails it.
# The machine's cores by default (JOBS=1: one cell at a time); speed comparisons still hold the machine alone.
MAKE_JOBS = $(or $(JOBS),$(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),$(shell nproc 2>/dev/null || echo 1))
matrix: bootstrap
	$(NOX) -s matrix -- --nox '$(NOX)' --jobs $(MAKE_JOBS) $(if $(SHARD),--shard $(SHARD)) $(if $(LABEL),--label $(LABEL))

cells: bootstrap
	@$(NOX) -s cells -- --format $(or $(FORMAT),json) $(if $(OUT),--output $(OUT)) $(if $(LABEL),--label $(LABEL)) $(if $(PRODUCTION),--production $(PRODUCTION)) $(foreach k,$(KIND),--kind $(k))

cell: bootstrap
	@test -n '$(SESSION)' || { echo 'usage: make cell SESSION="validate-<label>(<usecase>)"'; exit 2; }
	$(NOX) -s '$(SESSION)'

# RUNS defaults to the folders CI jobs download into shards/
merge: bootstrap
	$(NOX) -s merge -- $(if $(INTO),--into $(INTO)) $(if $(EXPECT),--expect $(EXPECT)) $(or $(RUNS),$(wildcard shards/*/))

# Upgrades and store checks are the same runner with another kind of cells (nox -s matrix -- --kind ...).
upgrades: bootstrap
	$(NOX) -s matrix -- --kind upgrade --nox '$(NOX)' --jobs $(MAKE_JOBS) $(if $(SHARD),--shard $(SHARD)) $(if $(LABEL),--label $(LABEL))

# The answer for one label: its validate cells, production's upgrades and stores to it, then the decision.
rollout: bootstrap
	@test -n "$(LABEL)" || { echo "usage: make rollout LABEL=<label>"; $(NOX) -s labels; exit 2; }
	$(NOX) -s rollout-$(LABEL) -- --nox '$(NOX)' --jobs $(MAKE_JOBS) $(if $(SHARD),--shard $(SHARD))

decide: bootstrap
	$(NOX) -s decide -- $(RUN)

stores: bootstrap
	$(NOX) -s matrix -- --kind store-upgrade --nox '$(NOX)' --jobs $(MAKE_JOBS) $(if $(SHARD),--shard $(SHARD)) $(if $(LABEL),--label $(LABEL))

# Production's own models, from the copy of its tracking store ROLLOUT_MODELS_FROM names (without one: one line).
models: bootstrap
	@test -n "$(LABEL)" || { echo "usage: ROLLOUT_MODELS_FROM=<copy> make models LABEL=<label>"; exit 2; }
	@test -n "$$ROLLOUT_MODELS_FROM" || { $(NOX) -s models-$(LABEL); exit 2; }
	$(NOX) -s matrix -- --kind models --label $(LABEL) --nox '$(NOX)' --jobs $(MAKE_JOBS) $(if $(SHARD),--shard $(SHARD))

test: bootstrap ci-lint
	$(NOX) -s tests

ci-lint: bootstrap
	$(NOX) -s ci-lint

unit: bootstrap
	$(NOX) -s tests -- -m "not e2e"

test-all: bootstrap ci-lint
	$(NOX) -s tests -- -m "slow or not slow"

lint: bootstrap
	$(NOX) -s lint

docs: bootstrap
	$(NOX) -s docs

lock: bootstrap
	$(NOX) -s $(if $(LABEL),lock-$(LABEL),lock)

cleanup: bootstrap
	$(NOX) -s cleanup

doctor: bootstrap
	$(NOX) -s doctor

cache: bootstrap
	$(NOX) -s cache -- $(if $(CLEAR),--clear) $(if $(KEEP),--keep $(KEEP))

clean-envs:
	rm -rf .nox
