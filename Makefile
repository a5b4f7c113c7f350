# Two commands on a fresh clone: `make run` and `make test`. Both install and generate first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GEN_STAMP := gen/.generated

.PHONY: install protos run test test-fast lint bench clean browser

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# Generated stubs import each other as top-level packages (events.v1, privacy.v1, ...).
	echo "$(CURDIR)/gen" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/kontingent-gen.pth"
	touch $@

protos: $(GEN_STAMP)

$(GEN_STAMP): $(STAMP) $(PROTOS)
	rm -rf gen && mkdir -p gen
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=gen --pyi_out=gen \
		--grpc_python_out=gen $(PROTOS)
	find gen -type d -exec touch {}/__init__.py \;
	rm -f gen/__init__.py
	touch $@

run: protos
	$(BIN)/kontingent dev up

test: protos browser
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The privacy page's end-to-end test drives Debian's headless Chromium through chromedriver
# (selenium, never a downloaded browser); CI runs as root on a fresh Debian machine.
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver)

test-fast: protos
	$(BIN)/python -m pytest -q -m 'not e2e' $(PYTEST_ARGS)

lint: protos
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: protos
	$(BIN)/python -m bench.signup $(BENCH_ARGS)
	$(BIN)/python -m bench.member_api $(MEMBER_API_ARGS)
	$(BIN)/python -m bench.notify_email $(NOTIFY_EMAIL_ARGS)
	$(BIN)/python -m bench.erasure $(ERASURE_ARGS)

clean:
	rm -rf $(VENV) gen data
