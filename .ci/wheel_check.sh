#!/usr/bin/env bash
# Packaging check: build a wheel of this checkout, install the wheel alone (its declared
# dependencies, no requirements.txt) into a fresh venv in a temp dir outside the checkout, and run
# the CLI from another temp dir with PYTHONPATH unset: the installed copy alone (code and the data/
# it ships as nb201/data) must work. The base install has no optional part (Ray, LightGBM,
# scikit-learn: the commands that need one say in one line which extra installs it); then the
# [learn] extra is added and `learn` runs. Builds from a copy of the tracked and
# untracked-but-not-ignored files, so no build/ is left here.
# Keeps its temp dir when WHEEL_CHECK_KEEP=1. Called by .ci/run; run it alone as .ci/wheel_check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

tools/setup_venv.sh   # .venv, with setuptools, builds the wheel (no build isolation: no network)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/nb201-wheel-check.XXXXXX")"
case "$tmp/" in "$root"/*) echo "error: temp dir $tmp is inside the checkout" >&2; exit 1 ;; esac
if [ "${WHEEL_CHECK_KEEP:-0}" = 1 ]; then
  echo "wheel check: keeping $tmp" >&2
else
  trap 'rm -rf "$tmp"' EXIT
fi
log="$tmp/log"; mkdir -p "$log"

# step NAME CMD...: print CMD, run it (stdout to $log/NAME.out); on failure show its output and stop
step() {
  local name="$1"; shift
  echo "+ $*"
  if ! "$@" >"$log/$name.out" 2>"$log/$name.err"; then
    tail -n 40 "$log/$name.err" "$log/$name.out" >&2
    echo "wheel check FAILED: $*" >&2
    exit 1
  fi
}

# 1. the sources, as a clean clone would have them plus this working tree's edits
mkdir "$tmp/src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$root" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |   # skip deleted files
    tar --null -T - -cf - | tar -xf - -C "$tmp/src"
else
  tar --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./dist --exclude=./.cache \
      --exclude=./results --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C "$tmp/src"
fi

# 2. the wheel
(cd "$tmp/src" && step wheel "$root/.venv/bin/python" -m pip wheel -q --no-deps --no-build-isolation \
   -w "$tmp/dist" .)
wheel="$(ls "$tmp"/dist/*.whl)"
echo "built $(basename "$wheel")"

# 3. a fresh venv outside the checkout, and the wheel alone: pip resolves its declared
#    dependencies (plain pip: this machine's index settings), held to the versions CI tests by
#    requirements.txt as constraints (which add no package: without them pip takes the newest in
#    range, e.g. PyPI's CUDA build of torch, 4 GB on Linux, where the pin is the CPU build)
step venv "$root/.venv/bin/python" -m venv "$tmp/venv"
step install "$tmp/venv/bin/python" -m pip install -q -c "$root/requirements.txt" "$wheel"
echo "+ pip install -c requirements.txt $(basename "$wheel"): $(du -sh "$tmp/venv" | cut -f1) venv"

# 4. from another directory, PYTHONPATH unset, the user cache dir in the temp dir
mkdir "$tmp/work" "$tmp/xdg-cache"
cd "$tmp/work"
unset PYTHONPATH NB201_CACHE_DIR NB201_DATA_DIR
export XDG_CACHE_HOME="$tmp/xdg-cache" PATH="$tmp/venv/bin:$PATH"
hash -r
[ "$(command -v python)" = "$tmp/venv/bin/python" ] || { echo "error: python is not the venv's" >&2; exit 1; }
field() { python -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$log/$1.out" "$2"; }

step where python -c "from pathlib import Path; import nb201, nb201.provenance as p, nb201.datasets as d
print('nb201:', nb201.__file__); print('DATA_DIR:', p.DATA_DIR); print('cache:', d.cache_root())
assert not p.in_checkout() and p.DATA_DIR.is_dir(), p.DATA_DIR
assert d.cache_root() == Path('$tmp/xdg-cache/nb201'), d.cache_root()
print('cifar split:', {k: len(v) for k, v in d.nb201_split('cifar-split.txt.gz').items()})"
cat "$log/where.out"
step proxies python -m benchmark proxies --json
head -c 300 "$log/proxies.out"; echo " ..."
step info python -m benchmark info 123
cat "$log/info.out"
step info_json python -m benchmark info 123 --json
head -c 300 "$log/info_json.out"; echo " ..."
step score python -m benchmark score --proxy params --sample 50 --seed 0 --results R/x.sqlite --json
echo "kendall_tau: $(field score kendall_tau); store: $(field score store)"
step score_cached python -m benchmark score --proxy params --sample 50 --seed 0 --results R/x.sqlite
cat "$log/score_cached.out" "$log/score_cached.err"
# the embedded CIFAR-100 (no --data-dir): the truth, an image-reading proxy, and the data source
# its rows are stored under (the copy's own name, from nb201.catalog)
step info_c100 python -m benchmark info 123 --dataset cifar100 --json
cat "$log/info_c100.out"
# computed from the installed copy's images: the shipped packs (which hold meco on these archs)
# are switched off for this one command
step score_c100 env NB201_PACKS=none python -m benchmark score --proxy meco --dataset cifar100 \
  --sample 20 --seed 0 --results R/x.sqlite --json
echo "cifar100 meco kendall_tau: $(field score_c100 kendall_tau) (n=$(field score_c100 n)); store: $(field score_c100 store)"
step source_c100 python -c "from nb201.catalog import SPECS; from nb201.store import Store
rows = Store('R/x.sqlite').frame(own=True); found = sorted(set(rows[rows['dataset'] == 'cifar100']['source']))
want = [SPECS['cifar100'].embedded.source]
print('cifar100 data sources:', found); assert found == want, (found, want)"
cat "$log/source_c100.out"
step search python -m benchmark search --strategy random --fitness nb201-12ep-valid --budget 3000 \
  --runs 2 --results R/x.sqlite --json
echo "final_truth_mean: $(field search final_truth_mean)"
# the base install has no optional part, and says how to add one
step no_extras python -c "import importlib.util as u
missing = [m for m in ('ray', 'lightgbm', 'sklearn') if u.find_spec(m) is None]
print('not installed (extras):', ', '.join(missing)); assert len(missing) == 3, missing"
cat "$log/no_extras.out"
# refused: prints "STATUS|STDERR" of a command that must fail with exit status 2 and one line
refused() {
  local status=0
  "$@" >/dev/null 2>"$log/refused.err" || status=$?
  echo "$status|$(cat "$log/refused.err")"
}
for cmd in "score --proxy params --sample 5 --executor ray --results R/x.sqlite" \
           "learn --features graph --train 20 --test 50 --results R/x.sqlite --quiet"; do
  echo "+ python -m benchmark $cmd (base install: refused)"
  got="$(refused python -m benchmark $cmd)"
  echo "  $got"
  case "$got" in 2\|error:*nb201-proxy-benchmark\[*\]*) ;;
    *) echo "wheel check FAILED: expected exit 2 and a one-line hint to install an extra" >&2; exit 1 ;;
  esac
  [ "$(wc -l <"$log/refused.err")" = 1 ] || { echo "wheel check FAILED: not one line" >&2; exit 1; }
done
step extra "$tmp/venv/bin/python" -m pip install -q -c "$root/requirements.txt" "$wheel[learn]"
echo "+ pip install '$(basename "$wheel")[learn]'"
step learn python -m benchmark learn --features graph,params,naslib:synflow --train 50 --test 200 \
  --dataset imagenet16-120 --seed 0 --results R/x.sqlite --json
echo "learned kendall_tau: $(field learn kendall_tau)"
step find python -m benchmark find --space "params,flops,random" --budget 100 --dataset cifar10 \
  --seed 0 --results R/x.sqlite --json
echo "finder spent_s: $(field find spent_s)"
step dry_run python -m benchmark run quick --dry-run --results R/x.sqlite --json
echo "estimate_s: $(field dry_run estimate_s)"
step report python -m benchmark report --results R/x.sqlite --out R/report
echo "+ report provenance:"
grep -o '<tr><th>[^<]*</th><td>[^<]*</td></tr>' R/report/report.html | head -5 | sed 's/<[^>]*>/ /g'
grep -q "installed as a package" R/report/report.html ||
  { echo "wheel check FAILED: the report does not give the installed version" >&2; exit 1; }
grep -q "$(python -c 'import nb201.packs as p; print(p.machine()["cpu"])')" R/report/report.html ||
  { echo "wheel check FAILED: the report does not name this machine's CPU" >&2; exit 1; }

# 5. what the install put into site-packages: the suite's packages and nb201/data, no scripts, no cache
site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "+ ls $site (no top-level tools, perf, .cache; nb201/data present)"
bad=0
for name in tools perf .cache; do
  if [ -e "$site/$name" ]; then echo "error: $site/$name exists" >&2; bad=1; fi
done
for f in nb201_groundtruth.csv.gz cifar10-jpeg.tar.gz cifar100-jpeg.tar.gz experiments/quick.toml \
         splits/cifar-split.txt.gz \
         naslib/imagenet16-120.csv.gz experiments/learned.toml experiments/finder.toml; do
  if [ ! -f "$site/nb201/data/$f" ]; then echo "error: $site/nb201/data/$f is missing" >&2; bad=1; fi
done
[ "$bad" = 0 ] || { echo "wheel check FAILED: site-packages" >&2; exit 1; }
echo "wheel check passed in $SECONDS s: $(basename "$wheel") works from $tmp/work"
