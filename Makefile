# Entry points for people and CI. Each target bootstraps the pinned tools it needs into .tools/.
#   make validate LABEL=1.2.SBD.0   every use case on one version label
#   make matrix                     every label (make -j2 matrix runs two labels at once)
#   make test                       unit and end-to-end tests
#   make lock [LABEL=...]           refresh committed locks after changing their inputs

PYTHON ?= python3
TOOLS := $(CURDIR)/.tools
NOX := $(TOOLS)/bin/nox
export PYTHONPATH := $(CURDIR)/scripts
export PATH := $(TOOLS)/bin:$(PATH)

.PHONY: bootstrap validate matrix matrix-labels test unit lint lock clean-envs
.DEFAULT_GOAL := help

help:
	@sed -n 's/^#   //p' Makefile

bootstrap: $(TOOLS)/.stamp
$(TOOLS)/.stamp: scripts/requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-tools.txt
	touch $@

validate: bootstrap
	@test -n "$(LABEL)" || { echo "usage: make validate LABEL=<label>; labels:"; $(TOOLS)/bin/python -m rolloutcheck labels; exit 2; }
	$(NOX) -s validate-$(LABEL)

# One run folder for all labels; every label is its own make target so -j2 parallelizes them.
matrix: bootstrap
	@run=$${ROLLOUT_RUN_DIR:-$(CURDIR)/results/runs/matrix-$$(date -u +%Y%m%dT%H%M%SZ)}; \
	ROLLOUT_RUN_DIR=$$run $(MAKE) --no-print-directory -k matrix-labels \
	  LABELS="$$($(TOOLS)/bin/python -m rolloutcheck labels)"; \
	$(TOOLS)/bin/python -m rolloutcheck report $$run

matrix-labels: $(addprefix validate/,$(LABELS))
validate/%:
	-$(NOX) -s validate-$*

test: bootstrap
	$(TOOLS)/bin/pytest

unit: bootstrap
	$(TOOLS)/bin/pytest -m "not e2e"

lint: bootstrap
	$(TOOLS)/bin/ruff check . && $(TOOLS)/bin/ruff format --check .

lock: bootstrap
	$(TOOLS)/bin/python -m rolloutcheck lock $(LABEL)

clean-envs:
	rm -rf .nox
