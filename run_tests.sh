#!/usr/bin/env bash
# The test command: set up .venv, then run the fast tests (add `-m slow` for the long ones).
set -euo pipefail
cd "$(dirname "$0")"
tools/setup_venv.sh
exec "${NB201_VENV:-.venv}/bin/python" -m pytest -m "not slow" "$@"
