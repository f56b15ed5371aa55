# Two commands on a fresh machine: `make run` (demo library, main job) and `make test` (the suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO   := demo-library

.PHONY: run test env demo bench serve clean

$(VENV)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

env: $(VENV)/.installed

run: env
	$(PY) -m lora_atlas demo $(DEMO) --force
	$(PY) -m lora_atlas inspect $(DEMO)
	@echo
	@echo "Next: '$(PY) -m lora_atlas inspect $(DEMO) --json' for the JSON contract,"
	@echo "      '$(PY) -m lora_atlas inspect <your LoRA folder>' on your own files,"
	@echo "      'make bench' for the header-inspection benchmark."

test: env
	$(PY) -m pytest

bench: env
	$(PY) bench/bench_inspect.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
