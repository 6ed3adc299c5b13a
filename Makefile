# Two entry points (see README): `make run` and `make test`. Both create .venv on first use
# and reuse it afterwards; the stamp is rebuilt only when the dependency files change.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export NO_ALBUMENTATIONS_UPDATE := 1
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: env run test test-all lint bench gpu-check lock kernel figures readme book lab-folder clean

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned environment into $(VENV) (first time only; log: $(VENV)/install.log)"
	@( $(PY) -m pip install -c constraints.txt "setuptools==84.2.1" "wheel==0.48.0" && \
	   $(PY) -m pip install -c constraints.txt --no-build-isolation -e ".[dev]" \
	 ) > $(VENV)/install.log 2>&1 || { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

run: $(STAMP)           ## the main job: every notebook, default profile, stand-in data
	$(PY) run_all.py $(ARGS)

test: $(STAMP)          ## the test suite (slow and gpu tests deselected)
	$(PY) -m pytest -q $(ARGS)

test-all: $(STAMP)      ## also the slow tests
	$(PY) -m pytest -q -m "not gpu" $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check hsilib tests run_all.py notebooks

bench: $(STAMP)
	$(PY) -m hsilib.bench $(ARGS)

gpu-check: $(STAMP)     ## the first day on a CUDA GPU: every family at full size, bf16 vs fp32, memory (docs/full_profile.md)
	$(PY) -m hsilib.bench.gpu_check $(ARGS)

kernel: $(STAMP)        ## register the environment as a Jupyter kernel named hsi-skin-synth
	$(PY) -m ipykernel install --user --name hsi-skin-synth --display-name "Python (hsi-skin-synth)" \
	  $$($(PY) -c "from hsilib.runtime import kernel_env_args; print(kernel_env_args())")

lock: $(STAMP)          ## refresh constraints.txt from the working environment
	{ sed -n '1,3p' constraints.txt; echo "setuptools==84.2.1"; echo "wheel==0.48.0"; \
	  $(PY) -m pip freeze --exclude-editable | grep -v "^-e" \
	  | sed -E "/^(nvidia-|cuda-|triton==)/s/$$/ ; sys_platform == \"linux\"/"; } > constraints.txt.tmp && mv constraints.txt.tmp constraints.txt

README_FIGURES := 01_cubes 01_spectra 01_normalisation 03_samples_mm 03_spectra_mm 05_vae_vs_fastgan_mm 07_amount \
                  06_conventional 06_learning_curves 02_samples_mm 03_stylegan2_samples_mm 04_mask_samples \
                  08_heatmap_generators 08_calibration 09_relevance_spectra 09_variants
figures:                ## copy the README's figures from runs/quick/figures to figures/
	@for f in $(README_FIGURES); do cp runs/quick/figures/$$f.png figures/ || exit 1; done
	@echo "copied $(words $(README_FIGURES)) figures from runs/quick/figures/"

readme: $(STAMP)        ## rewrite README's result tables from a run: make readme RUN=runs/quick
	@test -n "$(RUN)" || { echo "usage: make readme RUN=<run folder>"; exit 2; }
	$(PY) tools/readme_results.py $(RUN) --readme README.md $(ARGS)

# The site goes to build/book/ (open build/book/index.html). A run on real data shows patient
# images: the build refuses it unless BOOK_PUBLISH_REAL_DATA=1 (or ARGS=--publish-real-data).
book: $(STAMP)          ## the course book of a run's executed notebooks: make book [RUN=runs/quick]
	$(PY) book/build.py $(or $(RUN),runs/quick) $(ARGS)

# One archive of a prepared run folder for a class: runs/lab.tar.gz beside it (ARGS="--out FILE"
# for another name); never overwrites an archive, refuses a folder without manifest.json.
lab-folder:             ## pack a run folder to hand out: make lab-folder [RUN=runs/lab]
	$(PYTHON) tools/pack_run.py $(or $(RUN),runs/lab) $(ARGS)

clean:
	rm -rf runs build .pytest_cache .ruff_cache
