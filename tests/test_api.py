"""The Python API (benchmark.api) and proxies from outside the repository (--plugins FILE,
$NB201_PLUGINS, the nb201.proxies entry point): found by the CLI, by Ray-free worker code and by
the library alike; a broken plugin is one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.api import Benchmark
from nb201 import groundtruth as gt
from nb201.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = '''
from nb201.api import REGISTRY
from proxies.table import TableProxy


class Convs(TableProxy):
    def value(self, arch, index, ctx):
        return float(sum(op == "nor_conv_3x3" for op in arch.ops))


REGISTRY.register(Convs("{name}", "table", source="network", description="3x3 convs"))
'''


def cli(*args, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=300)


def test_benchmark_looks_up_scores_and_compares(tmp_path):
    with Benchmark("cifar10", results=tmp_path / "r.sqlite", device="cpu") as bench:
        info = bench.info(123)
        assert info["index"] == 123 and bench.index(info["arch"]) == 123
        archs = bench.sample(40, seed=3)
        assert archs == gt.sample(40, 3)
        assert np.array_equal(bench.truth(archs), gt.vector("cifar10", "test_200")[archs])
        scores = bench.scores("params", archs)
        result = bench.compare("params", archs)
        assert result["n"] == 40 and -1 <= result["kendall_tau"] <= 1
        assert [s["score"] for s in result["scores"]] == pytest.approx(list(scores))
        found = bench.search("random", "nb201-12ep-valid", queries=20, runs=2, lookup=("cifar100",))
        assert found["runs"] == 2 and "cifar100" in found["lookup"]
    with pytest.raises(UserError, match="unknown option 'gpu'"):
        Benchmark("cifar10", results=tmp_path / "r.sqlite", gpu=True)
    with pytest.raises(UserError, match="fuse"):
        Benchmark("cifar10", results=tmp_path / "r.sqlite", fuse=0)
    with pytest.raises(UserError, match="unknown dataset"):
        Benchmark("cifar1O", results=tmp_path / "r.sqlite")


def test_benchmark_finds_the_proxy_that_ranks_best_as_the_find_command(tmp_path, capsys):
    from benchmark.cli import main
    db = tmp_path / "r.sqlite"
    with Benchmark("cifar10", results=db, device="cpu") as bench:
        found = bench.find("params,flops,random", budget=1000, pool=60, n0=10, progress=False)
        with pytest.raises(UserError, match="--budget must be a positive number"):
            bench.find("params,flops", budget=0)
        with pytest.raises(UserError, match="--pool"):
            bench.find("params,flops", budget=10, pool="60")
        with pytest.raises(UserError, match="space must be a string"):
            bench.find(["params"], budget=10)
    capsys.readouterr()
    assert main(["find", "--space", "params,flops,random", "--budget", "1000", "--pool", "60",
                 "--n0", "10", "--results", str(db), "--json", "--quiet"]) == 0
    cli_found = json.loads(capsys.readouterr().out)
    assert found["digest"] == cli_found["digest"]
    assert [r["name"] for r in found["front"]] == [r["name"] for r in cli_found["front"]]


def test_benchmark_learns_a_proxy_as_the_learn_command(tmp_path):
    with Benchmark("cifar10", results=tmp_path / "r.sqlite", device="cpu") as bench:
        result = bench.learn("graph,params", train=30, model="ridge", test=100, progress=False)
        assert result["train"] == 30 and result["test_n"] == 100 and result["model"] == "ridge"
        assert result["features"] == ["graph", "params"]
        assert bench.learn(["graph"], 30, model="ridge", test=100)["features"] == ["graph"]
        for kwargs, message in (({"features": "graph", "train": 0}, "--train must be at least 1"),
                                ({"features": "graph,,params", "train": 5}, "empty item"),
                                ({"features": 3, "train": 5}, "features must be"),
                                ({"features": "graph", "train": "5"}, "train must be an integer"),
                                ({"features": "graph", "train": 5, "test": "some"},
                                 "test must be a number of archs")):
            with pytest.raises(UserError, match=message):
                bench.learn(**kwargs)


def test_benchmark_writes_the_report_as_the_report_command(tmp_path):
    with Benchmark("cifar10", results=tmp_path / "r.sqlite", device="cpu") as bench:
        bench.compare("params", bench.sample(20))
        files = bench.report(tmp_path / "out")
        assert files["html"].is_file() and files["json"].is_file()
        assert "params" in files["html"].read_text()
        with pytest.raises(UserError, match="unknown experiment"):
            bench.report(tmp_path / "out2", experiment="no-such-experiment")
        (tmp_path / "ro").write_text("a file, not a folder")
        with pytest.raises(UserError, match="cannot write the report"):
            bench.report(tmp_path / "ro")


def test_the_api_example_runs(tmp_path):
    """The README's example, as CI runs it, from outside the repository."""
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "api_example.py"), str(tmp_path)],
                         cwd=tmp_path, text=True, capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "n-conv3x3" in out.stdout and "looked up on CIFAR-100" in out.stdout


def test_a_plugin_file_is_found_by_the_cli_and_its_env(tmp_path):
    plugin = tmp_path / "my_proxy.py"
    plugin.write_text(PLUGIN.format(name="my-convs"))
    args = ["score", "--proxy", "my-convs", "--sample", "30", "--results", str(tmp_path / "r.sqlite"),
            "--json", "--quiet"]
    out = cli(*args, "--plugins", str(plugin), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n"] == 30
    out = cli("proxies", "--json", cwd=tmp_path, env={"NB201_PLUGINS": str(plugin)})
    assert "my-convs" in [p["name"] for p in json.loads(out.stdout)["proxies"]]
    out = cli(*args, cwd=tmp_path)          # not named: unknown
    assert out.returncode == 2 and "unknown proxy 'my-convs'" in out.stderr


def test_an_entry_point_plugin_is_found(tmp_path):
    """An installed package's nb201.proxies entry point (a dist-info folder on the path)."""
    site = tmp_path / "site"
    (site / "myplug-0.1.dist-info").mkdir(parents=True)
    (site / "myplug-0.1.dist-info" / "METADATA").write_text("Name: myplug\nVersion: 0.1\n")
    (site / "myplug-0.1.dist-info" / "entry_points.txt").write_text(
        "[nb201.proxies]\nconvs = myplug_proxies\n")
    (site / "myplug_proxies.py").write_text(PLUGIN.format(name="ep-convs"))
    out = cli("proxies", "--json", cwd=tmp_path,
              env={"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])})
    assert out.returncode == 0, out.stderr
    assert "ep-convs" in [p["name"] for p in json.loads(out.stdout)["proxies"]]


def test_the_readmes_plugin_runs(tmp_path):
    """The README's zero-cost plugin, as written there, is found and scored."""
    import re
    readme = (ROOT / "README.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S)
                if block.startswith("# my_proxy.py"))
    (tmp_path / "my_proxy.py").write_text(code)
    out = cli("score", "--plugins", "my_proxy.py", "--proxy", "my-proxy", "--sample", "5",
              "--results", "r.sqlite", "--json", "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n"] == 5


def test_a_report_says_how_to_include_a_stored_plugin_proxy(tmp_path):
    """The runner stores which plugin file computed a proxy: a report that is not given it says,
    at the top of the page, how to include it; given it, the proxy is reported."""
    plugin = tmp_path / "my_proxy.py"
    plugin.write_text(PLUGIN.format(name="my-convs"))
    db = str(tmp_path / "r.sqlite")
    out = cli("score", "--proxy", "my-convs", "--sample", "30", "--results", db, "--quiet",
              "--plugins", str(plugin), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert cli("report", "--results", db, "--out", "plain", cwd=tmp_path).returncode == 0
    html = (tmp_path / "plain" / "report.html").read_text()
    box = html[html.index('id="unreported"'):html.index("</div>", html.index('id="unreported"'))]
    assert "30 stored rows of my-convs on cifar10 are not reported" in box
    assert f"python -m benchmark report --plugins {plugin}" in box
    assert cli("report", "--results", db, "--out", "with", "--plugins", str(plugin),
               cwd=tmp_path).returncode == 0
    html = (tmp_path / "with" / "report.html").read_text()
    assert 'id="unreported"' not in html and "my-convs" in html


def test_the_api_shows_progress_by_default(tmp_path):
    out = subprocess.run([sys.executable, "-c", f"""
import nb201.progress
from benchmark.api import Benchmark
nb201.progress.DELAY = 0           # params computes faster than a bar's delay
with Benchmark("cifar10", results={str(tmp_path / "r.sqlite")!r}) as bench:
    bench.scores("params", list(range(100, 130)))
    bench.scores("params", [1, 2, 3], progress=False)
"""], cwd=tmp_path, text=True, capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "params cifar10 seed 0" in out.stderr and "30/30" in out.stderr
    assert "/3 " not in out.stderr          # the call with progress=False shows no bar


@pytest.mark.parametrize("content, message", [
    (None, "no such file"), ("raise ValueError('broken')", "ValueError: broken"),
    ("import not_a_module_anywhere", "ModuleNotFoundError")])
def test_a_broken_plugin_is_one_line(tmp_path, content, message):
    plugin = tmp_path / "bad.py"
    if content is not None:
        plugin.write_text(content)
    out = cli("proxies", "--plugins", str(plugin), cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
