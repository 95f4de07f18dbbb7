#!/usr/bin/env bash
# Reproduce the study with one command: set up .venv, run an experiment, write the report.
set -euo pipefail

usage() {
  cat <<'TEXT'
Usage: ./run_all.sh [--full] [--help] [options of `python -m benchmark run`]

Sets up .venv in the repository root (python3 -m venv, then pip install -r requirements.txt;
reused while requirements.txt is unchanged; NB201_SYSTEM_TORCH=1: see below) and runs one
experiment of data/experiments/:

  (default)  quick: a CPU-sized version of the study on the embedded CIFAR-10 (JPEG copy):
             the table proxies, every zero-cost proxy but ntk_cond on a small sample, EcoNAS-style
             training proxies reduced one factor at a time with a same-iterations comparison,
             the table and zero-cost proxies and two training proxies on the embedded CIFAR-100,
             CPU-sized searches with proxies as fitness (docs/SEARCH.md) and the proxy
             finder over those proxies (docs/FINDER.md). Its report also shows the shipped
             EcoNAS study (data/experiments/econas-cpu.toml) from its results pack in
             data/results/, labelled with the pack and the machine that computed it; those rows
             are read, never recomputed.
             About 8 minutes on an idle 2-core CPU before the CIFAR-100 section; 11 with it
             on a shared one (README: measured).
  --full     paper: the full-scale study for a GPU: EcoNAS's reduction-factor study and the
             zero-cost paper's EcoNAS/econas+ points on 1,000 archs per training setting,
             every zero-cost and table proxy on all 15,625 archs, on CIFAR-10, CIFAR-100 and
             ImageNet16-120 (the last needs its data: see --data-dir below; without it the
             proxies that read its images are listed as skipped).

Both print the plan and a time estimate before computing anything, keep every result in
results/results.sqlite (a rerun computes only what is missing; a killed run resumes), and end
with results/report.html (one self-contained page) and results/report.md, with the tables in
results/tables/ (CSV, Markdown, LaTeX) and the figures in results/figures/ (PNG, PDF).

Other options go to `python -m benchmark run`, for example:
  ./run_all.sh --dry-run                 the plan and estimate only
  ./run_all.sh --full --device cuda
  ./run_all.sh --full --data-dir cifar100=/data/cifar-100-python,imagenet16-120=/data/ImageNet16
  ./run_all.sh --results other.sqlite --out other-report
Environment: NB201_DATA_DIR (one data folder for every dataset), NB201_CACHE_DIR (decoded images).
On a machine with its own CUDA torch and no network (a lent GPU machine):
  NB201_SYSTEM_TORCH=1 ./run_all.sh --full --device cuda
makes .venv on the system Python's packages (its torch included), downloads nothing, installs only
the missing requirements from the wheels in .whl/ (tools/gpu_wheels.sh makes them where pip
works; NB201_WHEELS names another folder) and says in one line what is still missing
(tools/setup_venv.sh). NB201_VENV: another venv folder than .venv.
TEXT
}

experiment=quick
out=results
dry=0
args=()
prev=""
for a in "$@"; do
  case "$a" in
    -h|--help) usage; exit 0 ;;
    --full) experiment=paper ;;
    *) args+=("$a") ;;
  esac
  [ "$prev" = "--out" ] && out="$a"
  case "$a" in --out=*) out="${a#--out=}" ;; --dry-run) dry=1 ;; esac
  prev="$a"
done

cd "$(dirname "$0")"
tools/setup_venv.sh
start=$(date +%s)
"${NB201_VENV:-.venv}/bin/python" -m benchmark run "$experiment" ${args[@]+"${args[@]}"}
if [ "$dry" = 0 ]; then
  echo "report: $(cd "$out" && pwd)/report.html (run_all.sh wall time: $(( $(date +%s) - start )) s)"
fi
