#!/usr/bin/env bash
# Create or reuse .venv in the repo root and install requirements.txt (quietly; skipped when the
# installed requirements are unchanged). Sourced by run_all.sh and run_tests.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "setting up $venv ..." >&2
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want="$(cat "$root/requirements.txt" "$root/pyproject.toml" "$root/tools/setup_venv.sh" | sha256sum | cut -d' ' -f1) $root"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing requirements into $venv ..." >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/requirements.txt"
  # the suite itself, editable: `python -m benchmark` and the tools work from any directory
  # compat: the checkout root on the path, so tools/ and perf/ (not packaged) import as well
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$root" \
    --config-settings editable_mode=compat
  echo "$want" > "$stamp"
fi
