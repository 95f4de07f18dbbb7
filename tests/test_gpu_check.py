"""The prepared GPU check (tools/gpu_check*.py, tools/gpu_check.sh) on a CPU: it cannot come back
empty (a failing proxy, the time running out or SIGTERM still leave every file, at most 8), its
results pack is served by a store as stored rows, and what must travel to a GPU machine (the wheel
list, the system-torch venv) covers what the suite imports there."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import pytest

from nb201.packs import read_pack
from nb201.store import Key, Store
from tools import gpu_check, system_requirements
from tools.gpu_check_out import MAX_FILES, OutFolder, slug

ROOT = Path(__file__).resolve().parent.parent
PHASES = ["econas_point", "zc_paper", "factors", "zero_cost", "throughput"]

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(tmp_path, *argv, **cfg):
    """One tiny check in this process (budget counted from now); its summary."""
    args, config = gpu_check.parse_args(["--device", "cpu", "--tiny", "--out", str(tmp_path / "out"),
                                         "--store", str(tmp_path / "store.sqlite"), *argv])
    config.update(cfg)
    check = gpu_check.Check(args, config, gpu_check.Clock(config["budget"]))
    code = check.main()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    return code, summary, check


def test_tiny_shrinks_every_factor_alike():
    assert gpu_check.tiny("c4r4s0e40@20") == "c4r4s100e4@2"
    assert gpu_check.tiny("c4r4s0e40@10") == "c4r4s100e4@1"
    assert gpu_check.tiny("c4r4s0e40") == "c4r4s100e4@4"
    assert gpu_check.tiny("c8r4s4e40@20") == "c8r4s400e4@2"
    assert gpu_check.tiny("zc-paper:c4r4s0e40b2048@20") == "zc-paper:c4r4s100e4@2"


def test_the_budget_is_read_without_loading_torch():
    code = ("import sys; from tools import gpu_check; gpu_check.main(['--tiny', '--budget', '61.2',"
            " '--print-budget']); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.split() == ["62", "False"], out.stderr


def test_the_out_folder_holds_at_most_eight_files(tmp_path):
    out = OutFolder(tmp_path, "NVIDIA H100 80GB HBM3")
    assert out.pack_name == "gpu-check-nvidia-h100-80gb-hbm3.jsonl.gz" and slug("cpu") == "cpu"
    for k in range(MAX_FILES):
        out.write_json(f"f{k}.json", {"k": k})
    out.write_json("f0.json", {"k": "again"})                    # rewriting is fine
    with pytest.raises(RuntimeError, match="more than 8 files"):
        out.write_json("one-more.json", {})
    assert len(list(tmp_path.iterdir())) == MAX_FILES


def test_a_failing_proxy_leaves_the_later_phases_and_every_file(tmp_path):
    """Both EcoNAS points (phases 1 and 2) are made to fail: their tracebacks are recorded, the
    later phases run and write their files; the results pack holds the store's rows and is served
    by a store (as if stored) for the same computation."""
    point, zc_point = (gpu_check.tiny(gpu_check.FULL[k]) for k in ("point", "zc_paper"))
    code, summary, check = _run(tmp_path, "--budget", "25", "--fail-proxy", point,
                                "--fail-proxy", zc_point, train_archs=4, zc_archs=1)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert code == 0 and summary["status"] == "finished"
    assert len(files) <= MAX_FILES and files == summary["files"]
    assert {f"{p}.json" for p in PHASES} | {"summary.json", "log.txt",
                                              "gpu-check-cpu.jsonl.gz"} == set(files)
    phases = summary["phases"]
    assert phases["econas_point"]["failed"] == [point]
    assert phases["zc_paper"]["failed"] == [zc_point]
    record = json.loads((tmp_path / "out" / "econas_point.json").read_text())
    assert "made to fail on purpose" in record["proxies"][0]["traceback"]
    factors = json.loads((tmp_path / "out" / "factors.json").read_text())["proxies"]
    trained = [e for e in factors if e.get("archs")]
    assert phases["factors"]["status"] == "ok" and trained      # the time went to phase 3
    env = summary["environment"]
    assert env["scored_with_tf32"] is False and "cudnn_allow_tf32" in env["float32_flags"]
    pack = read_pack(tmp_path / "out" / "gpu-check-cpu.jsonl.gz")
    assert len(pack.rows) == len(check.store.rows()) == summary["pack"]["rows"] > 0
    assert pack.header["machine"]["device"] == "cpu"
    # served as stored rows, for the computation that made them
    proxy = check.proxy(trained[0]["proxy"])
    archs = trained[0]["archs"]
    served = Store(tmp_path / "other.sqlite", packs=(pack,)).get(Key.of(proxy, check.ctx), archs)
    assert sorted(served) == sorted(archs)


def test_sigterm_stops_the_run_and_the_files_are_written(tmp_path, monkeypatch):
    """tools/gpu_check.sh's timeout sends SIGTERM: the phase in progress stops, and the summary
    (status terminated) and the results pack are written. The signal comes 2 s into the first
    phase."""
    previous = signal.signal(signal.SIGTERM, gpu_check._terminate)
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM))
    run = gpu_check.Check.run

    def run_and_signal(check, phase, body, deadline):
        if not timer.is_alive() and not timer.finished.is_set():
            timer.start()
        return run(check, phase, body, deadline)

    monkeypatch.setattr(gpu_check.Check, "run", run_and_signal)
    try:
        code, summary, _ = _run(tmp_path, "--budget", "300")
    finally:
        timer.cancel()
        signal.signal(signal.SIGTERM, previous)
        gpu_check.STOPPING.clear()
    assert code == 3 and summary["status"] == "terminated"
    stopped = [p for p, s in summary["phases"].items() if s["status"] == "terminated"]
    assert len(stopped) == 1 and gpu_check.STOPPED in summary["phases"][stopped[0]]["error"]
    assert (tmp_path / "out" / "gpu-check-cpu.jsonl.gz").is_file()


@pytest.mark.slow
def test_the_dry_run_command_ends_in_time_with_every_file(tmp_path):
    """The documented dry run, as a lease would run it: under 90 s, every file, at most 8. On a
    machine so loaded that a step overruns the budget, SIGTERM stops it (exit status 3) and
    the files are all there just the same."""
    started = time.time()
    out = subprocess.run(["tools/gpu_check.sh", "--device", "cpu", "--tiny", "--budget", "60",
                          "--out", str(tmp_path / "out"), "--store", str(tmp_path / "s.sqlite")],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable})
    assert out.returncode in (0, 3), out.stderr[-3000:]
    assert time.time() - started < 90
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(files) == MAX_FILES and "summary.json" in files
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == ("finished" if out.returncode == 0 else "terminated")
    assert set(summary["phases"]) == set(PHASES)


# ------------------------------------------------------------------ what travels

def _image_and_wheels() -> tuple[set[str], set[str]]:
    lines = (ROOT / "tools" / "gpu_wheels.txt").read_text().splitlines()
    image = {n for line in lines if line.startswith("# image:") for n in line.split(":", 1)[1].split()}
    wheels = {line.split("==")[0] for line in lines if line.strip() and not line.startswith("#")}
    return image, wheels


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def test_the_wheel_list_covers_what_the_cuda_path_imports():
    """Every distribution that the GPU check and `benchmark run` (the report included) import is
    in the GPU machine's image or on the wheel list, and every wheel is a pinned requirement."""
    modules = ["tools.gpu_check", "tools.gpu_check_phases", "benchmark.command_results", "benchmark.cli",
               "benchmark.experiments.run", "analysis.report", "perf.baselines",
               "perf.train_throughput", "nb201.training.torch_trainer", "proxies"]
    code = ("import sys, importlib, json; from importlib import metadata as md\n"
            f"[importlib.import_module(m) for m in {modules!r}]\n"
            "ours = {'nb201', 'proxies', 'benchmark', 'analysis', 'tools', 'perf'}\n"
            "top = {n.split('.')[0] for n in sys.modules} - set(sys.stdlib_module_names) - ours\n"
            "dist = md.packages_distributions()\n"
            "print(json.dumps(sorted({d for t in top if t in dist for d in dist[t]})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    imported = {_norm(d) for d in json.loads(out.stdout.strip().splitlines()[-1])}
    image, wheels = _image_and_wheels()
    assert "torch" in imported and "numba" not in imported           # numba: only where used
    assert imported <= {_norm(n) for n in image | wheels}, imported - {_norm(n) for n in image | wheels}
    pinned = {_norm(n) for n, _, _ in system_requirements.requirements(ROOT / "requirements.txt")}
    assert {_norm(w) for w in wheels} <= pinned


def test_missing_requirements_are_named_in_one_line(tmp_path, capsys):
    requirements = tmp_path / "requirements.txt"
    pytest_version = metadata.version("pytest")
    requirements.write_text(f"pytest=={pytest_version}\nno-such-package-a==1.0  # optional: a test\n"
                            "no-such-package-b==2.0\n")
    assert system_requirements.main([str(requirements)]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == "missing: no-such-package-a (optional: a test), no-such-package-b"
    requirements.write_text(f"pytest=={pytest_version}\nno-such-package-a==1.0  # optional: a test\n")
    assert system_requirements.main([str(requirements), "--install", "--wheels", str(tmp_path)]) == 0
    assert "no wheel of them" in capsys.readouterr().err
    requirements.write_text("pytest==0.0.1\n")
    assert system_requirements.main([str(requirements)]) == 0
    assert f"pytest {pytest_version} (pinned 0.0.1)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_system_torch_venv_sees_the_system_packages_offline(tmp_path):
    """NB201_SYSTEM_TORCH=1 with a Python that is itself a venv (as a GPU machine's python3 is):
    the new venv imports that Python's torch and the checkout, and nothing is downloaded."""
    env = {**os.environ, "NB201_SYSTEM_TORCH": "1", "NB201_VENV": str(tmp_path / "venv"),
           "NB201_PYTHON": sys.executable, "NB201_WHEELS": str(tmp_path / "none"),
           "PIP_NO_INDEX": "1"}
    out = subprocess.run(["tools/setup_venv.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "every requirement is installed" in out.stderr
    check = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c",
                            "import torch, nb201, tools.gpu_check; print(nb201.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert check.stdout.strip() == str(ROOT / "nb201" / "__init__.py"), check.stderr
