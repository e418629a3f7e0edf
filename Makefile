# dtmf-gateway — every command a developer or CI needs. `make help` lists them.
# The two that matter: `make demo` (run the product locally) and `make test` (everything CI checks).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY313      := $(shell scripts/find-python313)
PY313_BIN  := $(dir $(PY313))
VENV       := .venv
TOOLS      := .tools
PY         := $(VENV)/bin/python
SAM        := $(TOOLS)/sam/bin/sam
STAMP_DEV  := $(VENV)/.installed-$(shell cat requirements/dev.txt | sha1sum | cut -c1-12)
STAMP_SAM  := $(TOOLS)/sam/.installed-$(shell cat requirements/sam.txt | sha1sum | cut -c1-12)
STAMP_MS   := $(TOOLS)/ministack/.installed-$(shell cat requirements/ministack.txt | sha1sum | cut -c1-12)
STAMP_CK   := $(TOOLS)/checkov/.installed-$(shell cat requirements/checkov.txt | sha1sum | cut -c1-12)
# sam build looks for `python3.13` on PATH; put the interpreter we found first.
SAM_ENV    := PATH="$(PY313_BIN):$$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-eu-west-1}
CODE       := layers/shared/dtmf_gateway functions local scripts tests bench devtools

.PHONY: help
help:  ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- environments
# Each stamp's name carries the hash of its requirements file, so a changed list rebuilds its
# venv; the file is only an order-only prerequisite: a newer mtime alone (a fresh checkout, a
# worktree sharing the venvs) must not delete and reinstall a venv whose pins are unchanged.
$(STAMP_DEV): | requirements/dev.txt
	rm -rf $(VENV) && $(PY313) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

$(STAMP_SAM): | requirements/sam.txt
	rm -rf $(TOOLS)/sam && $(PY313) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/pip install --quiet --disable-pip-version-check -r requirements/sam.txt
	touch $@

$(STAMP_MS): | requirements/ministack.txt
	rm -rf $(TOOLS)/ministack && $(PY313) -m venv $(TOOLS)/ministack
	$(TOOLS)/ministack/bin/pip install --quiet --disable-pip-version-check -r requirements/ministack.txt
	touch $@

$(STAMP_CK): | requirements/checkov.txt
	rm -rf $(TOOLS)/checkov && $(PY313) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	touch $@

.PHONY: install
install: $(STAMP_DEV) $(STAMP_SAM) $(STAMP_MS) $(STAMP_CK)  ## create the venvs (dev, SAM CLI, ministack, checkov) from the pinned lists

# ---------------------------------------------------------------- quality gates
.PHONY: lint
lint: $(STAMP_DEV)  ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: fmt
fmt: $(STAMP_DEV)  ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: typecheck
typecheck: $(STAMP_DEV)  ## mypy (strict) on the shared package, the functions, the local tools and the clients
	$(VENV)/bin/mypy layers/shared/dtmf_gateway functions local/cm_simulator local/cm_sandbox \
		clients/python/dtmf-gateway-events/src/dtmf_gateway_events \
		clients/python/dtmf-gateway-client/src/dtmf_gateway_client

.PHONY: template-check
template-check: $(STAMP_SAM)  ## sam validate --lint, then cfn-lint on the SAM-translated template
	$(SAM_ENV) $(SAM) validate --lint
	mkdir -p .aws-sam
	$(TOOLS)/sam/bin/python scripts/sam_translate.py template.yaml .aws-sam/translated.json
	$(TOOLS)/sam/bin/cfn-lint --ignore-checks W1020 -- .aws-sam/translated.json

.PHONY: iac-scan
iac-scan: template-check $(STAMP_CK)  ## checkov on the SAM-translated template; every skip is justified in template.yaml
	$(TOOLS)/checkov/bin/checkov --quiet --compact --framework cloudformation \
		--file .aws-sam/translated.json --skip-download

.PHONY: build
build: $(STAMP_SAM)  ## sam build (cached); its makefile recipes ship the bytecode (scripts/lambda-build)
	$(SAM_ENV) $(SAM) build --cached --parallel

.PHONY: unit
unit: $(STAMP_DEV) $(STAMP_SAM)  ## unit, handler and simulator tests (no local stack; the IAM policy check translates the template with SAM)
	$(VENV)/bin/pytest -m "not e2e" -q

.PHONY: e2e
e2e: install build  ## bring the local stack up, run the end-to-end tests, bring it down
	SANDBOX= scripts/with-local-stack $(VENV)/bin/pytest -m e2e -q tests/e2e

.PHONY: e2e-sandbox
e2e-sandbox: install build  ## the demo flow on a local stack deployed with CmSandbox=true (CM = the sandbox Lambda; brings it up and down)
	SANDBOX=1 scripts/with-local-stack $(VENV)/bin/pytest -m e2e -q tests/e2e_sandbox

.PHONY: load
load: install build  ## bounded load test on the local stack (500 calls at 20/s; brings it up and down)
	scripts/with-local-stack $(PY) scripts/load_test.py $(LOAD_ARGS)

.PHONY: campaign-load
campaign-load: install build  ## one campaign of 10,000 rows through the local stack (rows/s, peak calls/s and concurrency, exact counts; brings it up and down)
	scripts/with-local-stack $(PY) scripts/campaign_load.py $(CAMPAIGN_LOAD_ARGS)

.PHONY: test
test: lint typecheck template-check iac-scan build unit  ## everything CI runs (.ci/run calls this)
	@if [ -d tests/e2e ] && ls tests/e2e/test_*.py >/dev/null 2>&1; then $(MAKE) --no-print-directory e2e; fi
	$(MAKE) --no-print-directory e2e-sandbox

# ---------------------------------------------------------------- the local stack
.PHONY: local-up
local-up: install  ## start ministack + CM simulator, build and deploy the template, write .local/stack.json (SANDBOX=1: the CM sandbox Lambda instead of the simulator process)
	$(PY) scripts/local_stack.py up $(if $(filter 1 true yes,$(SANDBOX)),--sandbox)

.PHONY: local-down
local-down:  ## stop everything local-up started and remove its temporary files
	@if [ -x $(PY) ]; then $(PY) scripts/local_stack.py down; fi

.PHONY: local
local: local-up  ## local-up, follow the logs until Ctrl-C, then local-down
	trap '$(PY) scripts/local_stack.py down' EXIT; trap 'exit 130' INT TERM; $(PY) scripts/local_stack.py logs

.PHONY: demo
demo: local-up  ## the README's "run it": place one whole call on the local stack and narrate it
	$(PY) scripts/demo.py

.PHONY: simulator
simulator: $(STAMP_DEV)  ## run the CM simulator alone in the foreground (see local/cm_simulator/README.md)
	PYTHONPATH=local $(PY) -m cm_simulator

.PHONY: clean
clean:  ## remove build output (keeps the venvs)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache

.PHONY: schema
.PHONY: rederive
rederive: $(STAMP_DEV)  ## re-derive outcomes from stored callback bodies: FROM=… TO=… [DIGITS_KEY=…] [APPLY=1] [TABLE=…] (dry run without APPLY)
	$(VENV)/bin/python scripts/rederive.py --from "$(FROM)" --to "$(TO)" \
		$(if $(DIGITS_KEY),--digits-key "$(DIGITS_KEY)") $(if $(APPLY),--apply) \
		$(if $(TABLE),--table "$(TABLE)")

.PHONY: erase-number
erase-number: $(STAMP_DEV)  ## erase a principal's instructions to/from a number: OWNER=… NUMBER=… [APPLY=1] [TABLE=…] [IDEMPOTENCY_TABLE=…] [PLACE_CALL_FUNCTION=…] (dry run without APPLY)
	$(VENV)/bin/python scripts/erase_number.py --owner "$(OWNER)" --number "$(NUMBER)" \
		$(if $(APPLY),--apply) $(if $(TABLE),--table "$(TABLE)") \
		$(if $(IDEMPOTENCY_TABLE),--idempotency-table "$(IDEMPOTENCY_TABLE)") \
		$(if $(PLACE_CALL_FUNCTION),--place-call-function "$(PLACE_CALL_FUNCTION)")

.PHONY: drop-ended-pending-entries
drop-ended-pending-entries: $(STAMP_DEV)  ## after rolling back past 0.2.0 (docs/operations.md): remove ended calls' pending-calls index keys [TABLE=…] [APPLY=1] (dry run without APPLY)
	$(VENV)/bin/python scripts/drop_ended_pending_entries.py $(if $(TABLE),--table "$(TABLE)") \
		$(if $(APPLY),--apply)

schema: $(STAMP_DEV)  ## regenerate schemas/ (event JSON Schema + template copy, OpenAPI) from the models
	$(PY) scripts/generate_schema.py
	$(PY) scripts/generate_openapi.py

.PHONY: bench
bench: $(STAMP_DEV) build  ## benchmarks: cold init, warm overhead, AWS requests + cost per call, sizes
	PYTHONPATH=layers/shared:local:. $(PY) -m bench.run
