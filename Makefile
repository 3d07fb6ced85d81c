# Entry points for people and CI. Each target calls nox sessions; the first one installs the
# pinned nox (and uv) into .tools/, and nox builds the tool's own environment from noxfile.py.
#   make validate LABEL=1.2.SBD.0   every use case on one version label
#   make matrix                     every label (make -j2 matrix runs two labels at once)
#   make upgrades                   every label's upgrade from production (ROLLOUT_FROM=<label> for another)
#   make stores                     every label's tracking-store checks from production (db upgrade, file store, clients)
#   make test                       unit and end-to-end tests
#   make unit                       unit tests only
#   make lock [LABEL=...]           refresh committed locks after changing their inputs
#   make cleanup                    stop processes left by runs that were killed

PYTHON ?= python3
TOOLS := $(CURDIR)/.tools
NOX := $(TOOLS)/bin/nox
export PATH := $(TOOLS)/bin:$(PATH)

.PHONY: bootstrap validate matrix matrix-labels upgrades upgrade-labels stores store-labels test unit lint lock cleanup clean-envs
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

# One run folder for all labels; every label is its own make target so -j2 parallelizes them.
# A label whose nox fails (or is killed) fails the matrix, and the report names every cell that
# never reported.
matrix: bootstrap
	@run=$${ROLLOUT_RUN_DIR:-$(CURDIR)/results/runs/matrix-$$(date -u +%Y%m%dT%H%M%SZ)}; \
	$(NOX) -s labels -- $$run/labels.txt || exit 2; labels="$$(cat $$run/labels.txt)"; \
	ROLLOUT_RUN_DIR=$$run $(MAKE) --no-print-directory -k matrix-labels LABELS="$$labels"; made=$$?; \
	ROLLOUT_RUN_DIR=$$run $(NOX) -s report -- $$run $$labels; reported=$$?; \
	test $$made -eq 0 && test $$reported -eq 0

matrix-labels: $(addprefix validate/,$(LABELS))
validate/%:
	$(NOX) -s validate-$*

# The same for upgrades: one make target per label (the production label itself has none).
upgrades: bootstrap
	@run=$${ROLLOUT_RUN_DIR:-$(CURDIR)/results/runs/upgrades-$$(date -u +%Y%m%dT%H%M%SZ)}; \
	$(NOX) -s labels -- $$run/labels.txt --upgrades || exit 2; labels="$$(cat $$run/labels.txt)"; \
	ROLLOUT_RUN_DIR=$$run $(MAKE) --no-print-directory -k upgrade-labels LABELS="$$labels"; made=$$?; \
	ROLLOUT_RUN_DIR=$$run $(NOX) -s report -- $$run $$(for l in $$labels; do printf 'upgrade-%s ' $$l; done); \
	reported=$$?; test $$made -eq 0 && test $$reported -eq 0

upgrade-labels: $(addprefix upgrade/,$(LABELS))
upgrade/%:
	$(NOX) -s upgrade-$*

# The tracking-store checks: one make target per label, as for upgrades.
stores: bootstrap
	@run=$${ROLLOUT_RUN_DIR:-$(CURDIR)/results/runs/stores-$$(date -u +%Y%m%dT%H%M%SZ)}; \
	$(NOX) -s labels -- $$run/labels.txt --upgrades || exit 2; labels="$$(cat $$run/labels.txt)"; \
	ROLLOUT_RUN_DIR=$$run $(MAKE) --no-print-directory -k store-labels LABELS="$$labels"; made=$$?; \
	ROLLOUT_RUN_DIR=$$run $(NOX) -s report -- $$run $$(for l in $$labels; do printf 'store-upgrade-%s ' $$l; done); \
	reported=$$?; test $$made -eq 0 && test $$reported -eq 0

store-labels: $(addprefix store/,$(LABELS))
store/%:
	$(NOX) -s store-upgrade-$*

test: bootstrap
	$(NOX) -s tests

unit: bootstrap
	$(NOX) -s tests -- -m "not e2e"

lint: bootstrap
	$(NOX) -s lint

lock: bootstrap
	$(NOX) -s $(if $(LABEL),lock-$(LABEL),lock)

cleanup: bootstrap
	$(NOX) -s cleanup

clean-envs:
	rm -rf .nox
