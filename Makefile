# The two set-up commands on a fresh machine: `make demo` and `make test`.
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# A second environment with a regular (compiled) install: the SIP hot path built with mypyc, as
# users get it from a wheel. The development environment above is an editable, pure-Python install.
CVENV   := .venv-bench
CBIN    := $(CVENV)/bin
CSTAMP  := $(CVENV)/.installed
SOURCES := $(shell find src -name '*.py' -o -name '*.xml') setup.py pyproject.toml
SIP_TESTS := tests/test_sip_message.py tests/test_spoofing.py tests/test_stream_framing.py \
             tests/test_probe_peers.py tests/test_cli_probe.py tests/test_cli_run.py

.PHONY: install compiled deps test test-compiled lint rules demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

compiled: $(CSTAMP)

$(CSTAMP): $(SOURCES)
	test -x $(CBIN)/python || $(PYTHON) -m venv $(CVENV)
	$(CBIN)/python -m pip install -q --upgrade pip
	$(CBIN)/python -m pip install -q --force-reinstall --no-deps .
	$(CBIN)/python -m pip install -q '.[dev]'
	$(CBIN)/python -c "import trunkguard.sip.message as m; assert m.__file__.endswith('.so'), m.__file__"
	touch $(CSTAMP)

deps:
	scripts/test-deps

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# The shipped Prometheus alert rules: syntax, and their unit tests.
rules: deps
	promtool check rules deploy/prometheus/trunkguard-rules.yml
	promtool test rules deploy/prometheus/trunkguard-rules.test.yml

test: deps lint rules test-compiled
	$(BIN)/pytest -q

test-compiled: compiled
	$(CBIN)/pytest -q -p no:cacheprovider $(SIP_TESTS)

demo: install
	$(BIN)/trunkguard demo

bench: compiled
	$(CBIN)/python bench/options_vs_sipp.py
	$(CBIN)/python bench/detection.py
	$(CBIN)/python bench/sweep.py
	$(CBIN)/python bench/cutover.py
	$(CBIN)/python bench/scale.py
	$(CBIN)/python bench/groups.py

clean:
	rm -rf $(VENV) $(CVENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
