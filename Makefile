# Two commands do all the set-up: `make demo` and `make test`.
# Both create .venv when missing and install from the pins (constraints.txt), skipping the
# install when pyproject.toml and constraints.txt have not changed since the last one.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint pytest lock clean

install: $(STAMP)

# pip's output goes to $(VENV)/install.log; its end is printed when the install fails.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned dependencies into $(VENV) (log: $(VENV)/install.log)"
	@{ $(BIN)/python -m pip install --disable-pip-version-check --upgrade 'pip>=24' && \
	   $(BIN)/python -m pip install --disable-pip-version-check -c constraints.txt -e '.[dev]'; \
	 } > $(VENV)/install.log 2>&1 || { tail -n 40 $(VENV)/install.log; \
	   echo "make: the install failed (above: the end of $(VENV)/install.log)"; exit 1; }
	@touch $(STAMP)

demo: install
	@$(BIN)/runner demo

test: install lint pytest
	@echo 'make test: lint and tests passed'

lint: install
	$(BIN)/runner lint

# One worker per core (pytest-xdist), each with its own embedded server and project copy;
# a module's tests stay on one worker, as they share the module's database.
pytest: install
	$(BIN)/python -m pytest -n auto --dist loadfile

lock: install
	$(BIN)/python -m pip freeze --exclude-editable | sort -f > constraints.tmp
	( echo "# Exact versions for reproducible installs: pip install -c constraints.txt -e '.[dev]'"; \
	  echo "# Regenerate with \`make lock\` after changing pyproject.toml dependencies."; \
	  cat constraints.tmp ) > constraints.txt && rm constraints.tmp

clean:
	rm -rf target logs dbt_packages .pytest_cache
