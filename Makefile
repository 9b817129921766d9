# Quick start: `make demo` generates a track with the shipped model; `make test` runs the test suite.
# Both create a project-local virtual environment in .venv and install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint clean judge-env browser notes-eval

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps 'basic-pitch==0.4.0'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/audiogen generate "a hopeful corporate track with piano and strings" --emotion happy \
		--duration 30 --seed 7 -o demo.mp3

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# basic-pitch's note model for eval/note_f1.py (part of the dev install; this target adds it to an older .venv)
notes-eval: $(STAMP)
	$(BIN)/pip install --quiet onnxruntime resampy
	$(BIN)/pip install --quiet --no-deps 'basic-pitch==0.4.0'

lint: $(STAMP)
	$(BIN)/ruff check .

# The studio's browser tests drive a system Chromium with Playwright (its own browser download is not used). As root
# on a machine with apt and no Chromium yet (CI), it is installed from the distribution's packages (about 20 s);
# anywhere else, or if that fails, the browser tests are skipped and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
		|| [ -n "$${AUDIOGEN_CHROMIUM:-}" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "browser: installing chromium for the studio's browser tests (apt-get)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
			|| echo "browser: could not install chromium; the studio's browser tests will be skipped"; \
	else echo "browser: no chromium; the studio's browser tests will be skipped (see README, Studio)"; fi

# The musicnn judge of `python -m audiogen.eval` in its own environment (TensorFlow; ~2.6 GB, ~5 min). musicnn's
# wheel pins numpy<1.17, so it goes in without its dependencies; the self-test judges a synthetic clip offline.
JUDGE_VENV ?= .venv-judge
judge-env: $(JUDGE_VENV)/.installed

$(JUDGE_VENV)/.installed:
	$(PYTHON) -m venv $(JUDGE_VENV)
	$(JUDGE_VENV)/bin/pip install --quiet --upgrade pip
	$(JUDGE_VENV)/bin/pip install --quiet "tensorflow-cpu>=2.18" "tf-keras>=2.18" "librosa>=0.10" "scipy>=1.10"
	$(JUDGE_VENV)/bin/pip install --quiet --no-deps "musicnn==0.1.0"
	TF_USE_LEGACY_KERAS=1 $(JUDGE_VENV)/bin/python eval/judge.py --selftest
	touch $@

clean:
	rm -rf $(VENV) $(JUDGE_VENV) build *.egg-info
