#!/usr/bin/env bash
# The prepared GPU check: figures as JSON in under 8 minutes on one H100/H200 (tools/gpu_check.py).
#   tools/gpu_check.sh                          # CUDA, writes results/gpu_check/*.json
#   tools/gpu_check.sh --device cpu --tiny      # the CPU-sized dry run of the same code
# Options go to tools/gpu_check.py (--out DIR, --budget SECONDS). The whole run is stopped after
# 470 s (--tiny: 1800 s) whatever happens; each phase writes its JSON file when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
limit=470
case " $* " in *" --tiny "*) limit=1800 ;; esac
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout "$limit" "$python" -m tools.gpu_check "$@"
