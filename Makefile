# Two commands on a fresh machine: `make run` (demo library, main job) and `make test` (the suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO   := demo-library

.PHONY: run undo test env demo bench serve clean

$(VENV)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# torch only for the node tests (real tensors); ComfyUI brings its own, so never in requirements.txt
	$(PY) -m pip install --quiet torch==2.13.0
	touch $@

env: $(VENV)/.installed

run: env
	$(PY) -m lora_atlas demo $(DEMO) --force
	@echo "== 1. inspect: what every file is (header only)"
	$(PY) -m lora_atlas inspect $(DEMO)
	@echo
	@echo "== 2. organize: own folder + config.yaml per LoRA, bad files quarantined, journaled"
	$(PY) -m lora_atlas organize $(DEMO)
	$(PY) -m lora_atlas reconcile $(DEMO)
	@echo
	@echo "== 3. analyze: where one LoRA acts and how hard, per Inspire block"
	$(PY) -m lora_atlas analyze $(DEMO)/styles/ink-sketch-xl/ink_sketch_xl.safetensors
	@echo
	@echo "== 4. plan: a two-LoRA SDXL stack, per-LoRA strengths and block vectors for Inspire"
	$(PY) -m lora_atlas plan $(DEMO)/styles/ink-sketch-xl/ink_sketch_xl.safetensors:1.0 $(DEMO)/characters/red-hair-girl-pony/red_hair_girl_pony.safetensors:0.9 --policy balanced --save demo-duo
	$(PY) -m lora_atlas plans list --root $(DEMO)
	@echo
	@echo "Next: 'make undo' puts the demo library back as it was (same paths, same bytes);"
	@echo "      '$(PY) -m lora_atlas inspect $(DEMO) --json' for the JSON contract;"
	@echo "      '$(PY) -m lora_atlas organize <your LoRA folder>' (try 'check' first: it changes nothing);"
	@echo "      'make serve' for the HTTP routes without ComfyUI; 'make bench' for the benchmarks."

undo: env
	$(PY) -m lora_atlas undo $(DEMO)

serve: env
	$(PY) -m lora_atlas serve $(DEMO)

test: env
	$(PY) -m pytest

bench: env
	$(PY) bench/bench_inspect.py
	$(PY) bench/bench_routes.py
	$(PY) bench/bench_import.py
	$(PY) bench/bench_analyze.py
	$(PY) bench/bench_library.py
	$(PY) bench/bench_plan.py
	$(PY) bench/bench_panel.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
