# Two commands matter: `make run` (set up and serve with demo data) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: run test setup venv assets translations db demo lint test-sqlite test-postgres browser pdf bench soak clean

setup: pdf venv assets translations

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

assets: app/static/vendor/.installed
app/static/vendor/.installed: package.json assets/designer-lint.js assets/designer-rules.js
	npm install --no-audit --no-fund --silent
	mkdir -p app/static/vendor/bootstrap
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/js/bootstrap.bundle.min.js app/static/vendor/bootstrap/
	mkdir -p app/static/vendor/bpmn-js
	cp node_modules/bpmn-js/dist/bpmn-modeler.production.min.js node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js app/static/vendor/bpmn-js/
	cp -r node_modules/bpmn-js/dist/assets/. app/static/vendor/bpmn-js/
	mkdir -p app/static/vendor/designer
	node_modules/.bin/esbuild assets/designer-lint.js --bundle --minify --format=iife --target=es2019 \
		--log-level=warning --outfile=app/static/vendor/designer/lint-layout.js
	cp node_modules/bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css app/static/vendor/designer/
	mkdir -p app/static/vendor/echarts
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE app/static/vendor/echarts/
	touch $@

translations: venv
	$(VENV)/bin/pybabel compile -d app/translations 2>&1 | grep -v "^compiling" || true

db: setup
	mkdir -p instance
	$(VENV)/bin/flask migrate
	$(VENV)/bin/flask deploy

demo: db
	$(VENV)/bin/flask seed-demo

run: demo
	@echo "Serving on http://127.0.0.1:$(PORT) — sign in as marketing / demo (see README)"
	SCHEDULER_ENABLED=true $(VENV)/bin/flask run --host 127.0.0.1 --port $(PORT)

# PDF documents (WeasyPrint): Pango draws the text, and a CJK font that the documents' CSS names
# renders the Chinese (Debian's packages, installed here; nothing is downloaded at run time).
pdf:
	@{ ldconfig -p | grep -q libpangoft2-1.0 && fc-list | grep -q "WenQuanYi Micro Hei"; } || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-wqy-microhei >/dev/null; }

browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-sqlite: setup browser
	TEST_DB=sqlite $(PY) -m pytest -n 2 -q

test-postgres: setup
	TEST_DB=postgres $(PY) -m pytest -n 2 -q -m "not browser"

test: lint test-sqlite test-postgres

# The benchmark (docs/benchmarks.md): writes bench/results.json and bench/results.md.
# BENCH_SCALE=small finishes in under 5 minutes; needs PostgreSQL at 127.0.0.1:5432.
bench: setup
	$(PY) bench/run.py

# Export 1,000,000 audit events as CSV, JSON and Excel on SQLite and PostgreSQL and check the
# exporting process's memory stays under the bound (figures: docs/audit-export-soak.md).
#
# Reliability (docs/reliability.md): the HTTP concurrency torture for 5 minutes on PostgreSQL,
# 20 SIGKILL rounds on both databases, and 300 fuzz cases per form.
soak: setup
	AUDIT_SOAK=1 TEST_DB=sqlite $(PY) -m pytest -q -s -m slow tests/audit/test_export_memory.py
	AUDIT_SOAK=1 TEST_DB=postgres $(PY) -m pytest -q -s -m slow tests/audit/test_export_memory.py
	TORTURE_SECONDS=300 TEST_DB=postgres $(PY) -m pytest -q -s tests/test_concurrency_pg.py -k torture
	CRASH_ROUNDS=20 TEST_DB=sqlite $(PY) -m pytest -q -s tests/reliability/test_crash.py
	CRASH_ROUNDS=20 TEST_DB=postgres $(PY) -m pytest -q -s tests/reliability/test_crash.py
	FORM_FUZZ_EXAMPLES=300 FORM_FUZZ_CHANNEL_EXAMPLES=60 TEST_DB=sqlite $(PY) -m pytest -q tests/reliability/test_forms_property.py

clean:
	rm -rf $(VENV) node_modules app/static/vendor instance .pytest_cache

# Refresh the catalogue after adding strings: then translate the new entries in messages.po.
i18n-extract: venv
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output -o app/translations/messages.pot app
	$(VENV)/bin/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching
