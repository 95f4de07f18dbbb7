#!/usr/bin/env bash
# The prepared GPU check (tools/gpu_check.py): one lease, the whole study, bounded by --budget.
#   tools/gpu_check.sh                                  # CUDA, --budget 420: files to $OUT (else results/gpu_check)
#   tools/gpu_check.sh --device cpu --tiny --budget 60  # the CPU-sized dry run of the same code
# Other options go to tools/gpu_check.py (--out DIR, --store FILE, --fresh, --fail-proxy NAME).
# The run stops itself inside the budget; `timeout` sends it SIGTERM 10 s after the budget (it then
# writes its files and exits) and SIGKILL 20 s after. Python: $PYTHON, else .venv/bin/python, else
# python3 (a GPU machine's own, with its CUDA torch). Wheels that travelled in .whl/
# (tools/gpu_wheels.sh) are installed offline into /tmp/nb201-site first.
set -uo pipefail
cd "$(dirname "$0")/.."
export NB201_GPU_CHECK_STARTED="$(date +%s.%N)"
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/nb201-site .whl/*.whl || { echo "gpu_check: installing .whl/*.whl failed" >&2; exit 2; }
  export PYTHONPATH="$PYTHONPATH:/tmp/nb201-site"
fi
budget="$("$python" -m tools.gpu_check --print-budget "$@")" || exit 2
exec timeout -k 10 "$((budget + 10))" "$python" -m tools.gpu_check "$@"
