#!/usr/bin/env bash
# Install (or reuse) the Phoenix and MLflow venvs that `pytest -m backends` starts; see install.py.
set -euo pipefail
exec "${PYTHON:-python}" "$(dirname "$0")/install.py" "$@"
