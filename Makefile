# t2c top-level Makefile.  Every target builds/uses the local virtual environment .venv/
# and installs what it needs (Python packages; iverilog via apt when missing).
#
#   make sim LAYER=conv3 [MODEL=digits-cnn | GOLDEN=DIR | GRAPH=net.t2c] [SIM=icarus|verilator]
#            [WAVES=1] [PIXELS=N] [ROWS=8] [COLS=8] [RTL_DIR=DIR] [ARGS="more t2c sim options"]
#            (= t2c sim, docs/testbench.md; any other variable is an error)
#   make test          Python unit tests + cocotb RTL tests, not the `slow` ones (what CI runs)
#   make test-slow     the `slow` tests only: whole networks, the zoo at 224, documented commands
#   make venv          the environment with every extra
#   make golden        regenerate golden/digits-cnn (byte-for-byte deterministic)
#   make bench         benchmarks (ratios measured side by side)
#   make mutate        mutation check of rtl/, results written into docs/mutation.md (tools/mutate.py; not part of
#                      make test): ARGS="--modules requant --jobs 1 --list ..."
#   make mutate-py     mutation check of the Python reference with mutmut, results written into
#                      docs/mutation.md (tools/mutate_py.py): ARGS="--modules arith,ref --list"
#   make synth         FPGA synthesis of every rtl/ unit and the 4x4/8x8/16x16 engine for ECP5
#                      and Xilinx 7-series, checks, and place and route of every ECP5 configuration
#                      that fits an LFE5U-85F with its Fmax (tools/synth.py, docs/synth.md; cached):
#                      ARGS="--tops engine_8x8 --families ecp5 --no-pnr --force --list"
#
# cocotb's own makefiles define a `sim` target and read SIM; they are not included here.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
MODEL  ?= digits-cnn
LAYER  ?= conv3
SIM    ?= icarus
WAVES  ?= 0
JOBS   ?= auto

# Variables `make` accepts on its command line; any other is an error, not silently ignored.
ALLOWED_VARS := MODEL LAYER SIM WAVES PIXELS GOLDEN GRAPH ROWS COLS RTL_DIR JOBS PYTHON ARGS
GIVEN_VARS   := $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v)))
UNKNOWN_VARS := $(filter-out $(ALLOWED_VARS),$(GIVEN_VARS))
ifneq ($(UNKNOWN_VARS),)
$(error unknown variable $(firstword $(UNKNOWN_VARS)); make takes $(ALLOWED_VARS))
endif

.PHONY: venv test test-slow test-python test-sim lint sim golden bench report clean iverilog mutate mutate-py synth

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[sim,test,scale,fpga,synth]'
	@touch $@

iverilog:
	@command -v iverilog >/dev/null 2>&1 || { \
	  echo "installing Icarus Verilog (apt)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq iverilog liblz4-dev >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq iverilog liblz4-dev >/dev/null; fi; }

test: venv iverilog lint
	$(PY) -m pytest -n $(JOBS) -q -m "not slow" tests $(wildcard sim)

test-slow: venv iverilog
	$(PY) -m pytest -n $(JOBS) -q -m slow tests $(wildcard sim)

lint: venv
	$(PY) -m ruff check .

test-python: venv
	$(PY) -m pytest -n $(JOBS) -q -m "not slow" tests

test-sim: venv iverilog
	$(PY) -m pytest -n $(JOBS) -q -m "not slow" sim

golden: venv
	$(VENV)/bin/t2c golden --model $(MODEL) --out golden/$(MODEL)

# make sim hands its variables to t2c through the environment, never through shell text:
# a value is one argument, verbatim, whatever it holds (quotes, `;`, `$(...)`), and ARGS is
# split into words only (no globbing, no evaluation).
T2C_BIN ?= $(VENV)/bin/t2c
unexport $(ALLOWED_VARS)  # make would expand them (running any $(shell ...)) into every recipe's environment
export T2C_MK_MODEL   := $(value MODEL)
export T2C_MK_LAYER   := $(value LAYER)
export T2C_MK_SIM     := $(value SIM)
export T2C_MK_GOLDEN  := $(value GOLDEN)
export T2C_MK_GRAPH   := $(value GRAPH)
export T2C_MK_PIXELS  := $(value PIXELS)
export T2C_MK_ROWS    := $(value ROWS)
export T2C_MK_COLS    := $(value COLS)
export T2C_MK_RTL_DIR := $(value RTL_DIR)
export T2C_MK_ARGS    := $(value ARGS)

SIM_SOURCE = $(if $(value GOLDEN),--golden "$$T2C_MK_GOLDEN",$(if $(value GRAPH),--graph "$$T2C_MK_GRAPH",--model "$$T2C_MK_MODEL"))

sim: venv iverilog
	@set -f; "$(T2C_BIN)" sim $(SIM_SOURCE) --layer "$$T2C_MK_LAYER" --sim "$$T2C_MK_SIM" \
	  $(if $(filter-out 0 no false off,$(value WAVES)),--waves) $(if $(value PIXELS),--pixels "$$T2C_MK_PIXELS") \
	  $(if $(value ROWS),--rows "$$T2C_MK_ROWS") $(if $(value COLS),--cols "$$T2C_MK_COLS") \
	  $(if $(value RTL_DIR),--rtl-dir "$$T2C_MK_RTL_DIR") $$T2C_MK_ARGS

bench: venv iverilog
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

mutate: venv iverilog
	$(PY) tools/mutate.py $(or $(ARGS),--write-docs)

mutate-py: venv
	$(PY) tools/mutate_py.py $(or $(ARGS),--write-docs)

synth: venv
	$(PY) tools/synth.py $(ARGS)

report: venv
	$(VENV)/bin/t2c report

clean:
	rm -rf sim_build .pytest_cache .hypothesis
