# Two commands: `make demo` and `make test` (and `make lab` to open JupyterLab). Each sets up .venv first if it is missing or stale.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sft_nb-installed
STAMP_TIME := $(shell date +%Y%m%d-%H%M%S)

.PHONY: setup demo test test-fast nbdev readme clean lab kernel strip-filter

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

KERNEL_JSON := $(VENV)/share/jupyter/kernels/sft_nb/kernel.json

setup: $(STAMP) $(KERNEL_JSON) strip-filter

# The project kernel, in the venv (--sys-prefix): JupyterLab, papermill and nbdev-test find it by the name the notebooks use.
$(KERNEL_JSON): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name sft_nb --display-name sft_nb
kernel: $(KERNEL_JSON)

# nbs/train.ipynb and nbs/explore.ipynb are committed without outputs: .gitattributes sends them through this clean filter.
strip-filter:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.sft-nb-strip.clean '.venv/bin/nbstripout --keep-id --extra-keys metadata.language_info' && \
	  git config filter.sft-nb-strip.smudge cat; fi

# JupyterLab from the venv on 127.0.0.1 (token printed, root allowed), opening nbs/explore.ipynb.
lab: setup
	$(BIN)/sft-nb lab

# The main job on the embedded default: check the config, then the train notebook through papermill.
demo: setup
	$(BIN)/sft-nb check --config config.yaml
	@mkdir -p artifacts/notebooks
	$(BIN)/papermill nbs/train.ipynb artifacts/notebooks/demo_$(STAMP_TIME).ipynb --cwd . -r run_name demo-$(STAMP_TIME)
	$(BIN)/sft-nb archive --config config.yaml --run-name demo-$(STAMP_TIME)
	@echo "output notebook: artifacts/notebooks/demo_$(STAMP_TIME).ipynb; run archived in artifacts/runs/demo-$(STAMP_TIME)"

# Every check: notebooks run as tests (nbdev-test), then pytest (sync, papermill, CLI, distributed, ...).
test: setup
	$(BIN)/nbdev-test --n-workers 2
	$(BIN)/pytest -q tests --durations=15 --timeout 1800

# Export the package and clean the notebooks after editing them.
nbdev: setup
	$(BIN)/nbdev-clean && $(BIN)/nbdev-export

# README.md is generated from nbs/index.ipynb (nbdev-readme needs quarto, which cannot be installed offline).
readme: setup
	$(BIN)/jupyter nbconvert --to markdown --log-level WARN nbs/index.ipynb --output-dir . --output README

clean:
	bash scripts/clean.sh
