#!/usr/bin/env bash
# The shipped EcoNAS study (data/experiments/econas-cpu.toml, docs/RESULTS.md "The shipped EcoNAS
# study"): continue it at low priority, and export what it holds into the shipped results pack.
#
#   tools/study.sh run [STORE]      import the shipped pack into STORE (default
#                                   results/econas-cpu.sqlite), then continue the study there at
#                                   nice 19 (resumable: kill it any time, rerun to continue)
#   tools/study.sh export [STORE]   write STORE's study rows to data/results/econas-cpu.jsonl.gz
#                                   (commit that file every time work stops)
#   tools/study.sh plan [STORE]     what is left, and how long it takes here
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="${PYTHON:-$root/.venv/bin/python}"
store="${2:-results/econas-cpu.sqlite}"
pack="data/results/econas-cpu.jsonl.gz"
case "${1:-}" in
  run)
    mkdir -p "$(dirname "$store")"
    if [ -f "$pack" ]; then "$python" -m benchmark import "$pack" --results "$store"; fi
    exec nice -n 19 "$python" -m benchmark run econas-cpu --results "$store" --out results/econas-cpu ;;
  export)
    "$python" -m benchmark export --results "$store" --out "$pack" \
      $(for p in $("$python" - <<'PY'
import tomllib
from nb201.provenance import DATA_DIR
exp = tomllib.loads((DATA_DIR / "experiments" / "econas-cpu.toml").read_text())
print(" ".join(sorted({p for g in exp["group"] for p in g["proxies"]})))
PY
); do printf -- "--proxy %s " "$p"; done) ;;
  plan)
    NB201_PACKS=none "$python" -m benchmark run econas-cpu --results "$store" --dry-run ;;
  *)
    sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
