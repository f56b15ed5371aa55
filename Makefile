# Two commands on a fresh machine: `make run` (demo library, main job) and `make test` (the suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO   := demo-library

.PHONY: run undo test test-oldest env demo bench serve clean lora-previews lora-previews-queue

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

# The oldest Python the pack supports, where this machine has one (pyenv's 3.10 on ours): the
# suites that need neither torch nor a browser, so a construct newer than 3.10 cannot land unseen.
# CI runs it after `make test`.
PYTHON_OLDEST ?= $(or $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10)),python3.10)
test-oldest:
	@if $(PYTHON_OLDEST) -c pass >/dev/null 2>&1; then \
		$(PYTHON_OLDEST) -m venv .venv-oldest && \
		.venv-oldest/bin/python -m pip install --quiet -e '.[test]' && \
		.venv-oldest/bin/python -m pytest --ignore=tests/integration --ignore=tests/nodes --ignore=tests/browser; \
	else \
		echo "test-oldest: no $(PYTHON_OLDEST) on this machine, skipped"; \
	fi

# The seed's names: previews rendered by a private ComfyUI (COMFYUI=its folder, COMFYUI_PYTHON=its
# interpreter) or queued on running servers (SERVER="http://host:8188 http://other:8188").
COMFYUI_PYTHON ?= $(PYTHON)
lora-previews: env
	@test -n "$(DIR)" -a -n "$(COMFYUI)" || { echo "usage: make lora-previews DIR=<LoRA folder> COMFYUI=<ComfyUI folder> [COMFYUI_PYTHON=...]"; exit 2; }
	$(PY) -m lora_atlas previews "$(DIR)" --comfyui "$(COMFYUI)" --python "$(COMFYUI_PYTHON)"

lora-previews-queue: env
	@test -n "$(DIR)" -a -n "$(SERVER)" || { echo "usage: make lora-previews-queue DIR=<LoRA folder> SERVER=<http://host:port ...>"; exit 2; }
	$(PY) -m lora_atlas previews "$(DIR)" $(foreach s,$(SERVER),--server $(s))

bench: env
	$(PY) bench/bench_inspect.py
	$(PY) bench/bench_routes.py
	$(PY) bench/bench_import.py
	$(PY) bench/bench_analyze.py
	$(PY) bench/bench_library.py
	$(PY) bench/bench_plan.py
	$(PY) bench/bench_panel.py
	$(PY) bench/bench_previews.py   # needs COMFYUI_DIR / COMFYUI_PYTHON / LORA_ATLAS_SD15, else it says so

clean:
	rm -rf $(VENV) .venv-oldest $(DEMO) .pytest_cache
