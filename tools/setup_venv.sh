#!/usr/bin/env bash
# Create or reuse .venv in the repo root and install requirements.txt (quietly; skipped when the
# installed requirements are unchanged). Sourced by run_all.sh and run_tests.sh.
#
# NB201_SYSTEM_TORCH=1: for a machine that brings its own CUDA torch and has no network (a GPU
# machine of the device tool): .venv sees the packages of the Python that makes it
# (--system-site-packages, and a .pth naming that Python's own site-packages, which a venv's
# system site would miss when that Python is itself a venv), nothing is downloaded, and only the
# missing requirements are installed, from the wheels in $NB201_WHEELS (default .whl/, made by
# tools/gpu_wheels.sh); one line says what is still missing (tools/system_requirements.py;
# a missing required package stops here, a missing optional one is only named).
# NB201_VENV: the venv's folder (default .venv); NB201_PYTHON: the Python that makes it (python3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${NB201_VENV:-$root/.venv}"
maker="${NB201_PYTHON:-python3}"
system="${NB201_SYSTEM_TORCH:-0}"
if [ "$system" = 1 ] && [ -x "$venv/bin/python" ] \
    && ! grep -q "include-system-site-packages = true" "$venv/pyvenv.cfg" 2>/dev/null; then
  echo "NB201_SYSTEM_TORCH=1: $venv was made without the system's packages; remove it first" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "setting up $venv ..." >&2
  if [ "$system" = 1 ]; then
    "$maker" -m venv --system-site-packages "$venv"
    site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    "$maker" -c 'import site; print("\n".join(site.getsitepackages()))' > "$site/nb201-system.pth"
  else
    "$maker" -m venv "$venv"
  fi
fi
stamp="$venv/.requirements.sha256"
want="$(cat "$root/requirements.txt" "$root/pyproject.toml" "$root/tools/setup_venv.sh" | sha256sum | cut -d' ' -f1) $root $system"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing requirements into $venv ..." >&2
  if [ "$system" = 1 ]; then
    "$venv/bin/python" "$root/tools/system_requirements.py" "$root/requirements.txt" --install \
      --wheels "${NB201_WHEELS:-$root/.whl}"
    # the checkout on the path (what the editable install below amounts to, with no build step:
    # offline, the system's setuptools may lack what building needs)
    site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$root" > "$site/nb201-checkout.pth"
  else
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/requirements.txt"
    # the suite itself, editable: `python -m benchmark` and the tools work from any directory
    # compat: the checkout root on the path, so tools/ and perf/ (not packaged) import as well
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$root" \
      --config-settings editable_mode=compat
  fi
  echo "$want" > "$stamp"
fi
