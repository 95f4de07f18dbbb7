#!/usr/bin/env bash
# Make .whl/: the wheels of tools/gpu_wheels.txt for a GPU machine of the device tool (Python
# 3.12, x86-64, manylinux; their own needs are in its image), and check that they and the working
# tree that travels fit the 64 MiB one call carries. Then, in a lease:
#   run(command="tools/gpu_check.sh", carry=[".whl"])   # installs them into /tmp/nb201-site
# Needs pip with access to an index (here); .whl/ is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
mapfile -t wanted < <(grep -v '^[[:space:]]*#' tools/gpu_wheels.txt | awk NF)
rm -rf .whl
mkdir -p .whl
"$python" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${wanted[@]}"
limit=$((64 * 1024 * 1024))
wheels=$(du -cb .whl/*.whl | tail -1 | cut -f1)
tree=$(git ls-files -z -co --exclude-standard | xargs -0 du -cb 2>/dev/null | awk '$2=="total"{s+=$1} END{print s+0}')
total=$((wheels + tree))
mib() { awk -v b="$1" 'BEGIN{printf "%.1f MiB", b / 1048576}'; }
ls .whl
echo "wheels $(mib "$wheels") + working tree $(mib "$tree") = $(mib "$total") of $(mib "$limit") a call carries"
if [ "$total" -gt "$limit" ]; then
  echo "gpu_wheels: too large to travel" >&2
  exit 1
fi
