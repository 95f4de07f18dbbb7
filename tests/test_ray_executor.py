"""The Ray executor on a two-node ``ray.cluster_utils.Cluster`` (one per module: Ray's start-up is
paid once): same outcomes as the local executor, a killed worker's chunk retried with every arch
stored once, a UserError in a worker as its one line, mixed data sources refused.

The workers resolve proxies by name in this module's ``REGISTRY`` (the suite's plus the test
proxies below): the cluster's processes get this folder on their PYTHONPATH."""
from __future__ import annotations

import ast
import dataclasses
import json
import os
import signal
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import proxies
from nb201.api import Outcome, Proxy
from nb201.context import Context
from benchmark.cli import main
from nb201.errors import UserError
from benchmark.executors import LocalExecutor
from benchmark.runner import compute
from nb201.store import Store
from test_training_proxy import write_folder

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from benchmark import ray_executor  # noqa: E402
from benchmark.ray_executor import RayExecutor, group  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MARKERS = "NB201_RAY_TEST_MARKERS"     # where SlowProxy notes (worker pid, first arch) per chunk
SLEEP_S = 2.0


@dataclass(frozen=True)
class SlowProxy(Proxy):
    """Scores arch i as i, after noting its worker and sleeping (so a chunk can be killed)."""

    def score(self, archs, indices, ctx) -> list[Outcome]:
        (Path(os.environ[MARKERS]) / f"{os.getpid()}-{indices[0]}").touch()
        time.sleep(SLEEP_S)
        return [Outcome(score=float(i), seconds=SLEEP_S / len(indices)) for i in indices]


@dataclass(frozen=True)
class BadDataProxy(Proxy):
    """Fails on arch 7 as a proxy does on bad input: with a UserError."""

    def score(self, archs, indices, ctx) -> list[Outcome]:
        if 7 in indices:
            raise UserError("bad data: arch 7 has no images")
        return [Outcome(score=1.0) for _ in indices]


@dataclass(frozen=True)
class MarkedProxy(Proxy):
    """Scores arch i as i (1 s each, as measured), noting the process that scored each chunk."""

    def score(self, archs, indices, ctx) -> list[Outcome]:
        (Path(os.environ[MARKERS]) / f"{os.getpid()}-marked-{indices[0]}").touch()
        return [Outcome(score=float(i), seconds=1.0) for i in indices]


REGISTRY = proxies.REGISTRY.copy()
REGISTRY.register(MarkedProxy("marked", "zero-cost"))
REGISTRY.register(SlowProxy("slow", "zero-cost", cost_s=SLEEP_S))
REGISTRY.register(BadDataProxy("bad-data", "zero-cost"))
REGISTRY.register(dataclasses.replace(proxies.REGISTRY.get("synflow"), name="synflow-tiny",
                                      channels=4, cells=1))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head and a second node, one CPU each; the processes see this folder and a cache and
    marker folder of their own."""
    tmp = tmp_path_factory.mktemp("ray")
    (tmp / "markers").mkdir()
    path = os.pathsep.join(p for p in (str(ROOT), str(Path(__file__).parent),
                                       os.environ.get("PYTHONPATH")) if p)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", path)
        env.setenv("NB201_CACHE_DIR", str(tmp / "cache"))
        env.setenv(MARKERS, str(tmp / "markers"))
        env.delenv("NB201_DATA_DIR", raising=False)
        nodes = Cluster(initialize_head=True,
                        head_node_args={"num_cpus": 1, "include_dashboard": False})
        nodes.add_node(num_cpus=1)
        ray.init(address=nodes.address, logging_level="WARNING")
        try:
            yield tmp
        finally:
            ray.shutdown()
            nodes.shutdown()


def executor(**kwargs) -> RayExecutor:
    return RayExecutor(registry_module=__name__, **kwargs)


def rows(db: Path) -> list[tuple]:
    if not db.exists():             # a store's file is created by its first row
        return []
    with sqlite3.connect(db) as con:
        return con.execute("SELECT proxy, arch_index, seed FROM scores").fetchall()


def test_tasks_group_chunks_by_estimated_seconds_in_full_waves():
    chunks = [[i] for i in range(10)]
    assert group(chunks, 1.0, slots=2, task_seconds=100) == [chunks[:5], chunks[5:]]
    # 300 s of work in tasks of at most ~100 s on 2 slots: 4 tasks (2 full waves), not 3
    assert [len(t) for t in group(chunks, 30.0, slots=2, task_seconds=100)] == [2, 3, 2, 3]
    assert group(chunks[:1], 1.0, slots=4) == [chunks[:1]]
    assert group(chunks, 1e9, slots=1) == [[c] for c in chunks]   # one chunk per task at most


def test_only_the_ray_executor_imports_ray():
    """The local path never imports Ray: no module but benchmark.ray_executor imports it, and that
    one is imported only inside a function (the CLI's, for --executor ray)."""
    for path in [*(ROOT / "nb201").rglob("*.py"), *(ROOT / "benchmark").rglob("*.py"),
                 *(ROOT / "proxies").rglob("*.py"), *(ROOT / "analysis").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [a.name for n in top for a in n.names] + [n.module or "" for n in top
                                                          if isinstance(n, ast.ImportFrom)]
        if path.name != "ray_executor.py":
            assert not any(n == "ray" or n.startswith("ray.") for n in names), path
        assert not any(n.endswith("ray_executor") for n in names), path


def test_same_outcomes_as_local(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "cache"))
    folder = write_folder(tmp_path / "tiny")
    for name, fuse, indices in (("synflow-tiny", None, [0, 11, 15624]),
                                ("c4r4s0e1b16", 1, [1462, 15624])):
        proxy = REGISTRY.get(name)
        ctx = Context("cifar10", seed=1, data_dir=str(folder), fuse=fuse)
        local = compute(proxy, indices, ctx, Store(tmp_path / f"{name}-local.sqlite"), False,
                        LocalExecutor())      # torch's default threads; a Ray worker has one
        remote = compute(proxy, indices, ctx, Store(tmp_path / f"{name}-ray.sqlite"), False,
                         executor(task_seconds=1e-3))
        assert {i: (o.score, o.curve) for i, o in remote.items()} == \
               {i: (o.score, o.curve) for i, o in local.items()}, name
        assert len(rows(tmp_path / f"{name}-ray.sqlite")) == len(indices)


def test_a_killed_worker_is_retried_and_every_arch_is_stored_once(cluster, tmp_path):
    markers = cluster / "markers"
    indices = list(range(100, 108))
    killed = []

    def kill_first_worker_mid_chunk():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            started = list(markers.iterdir())
            if started:
                pid = int(started[0].name.split("-")[0])
                os.kill(pid, signal.SIGKILL)          # a Ray worker process, while it sleeps
                killed.append(started[0].name)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker_mid_chunk)
    killer.start()
    db = tmp_path / "r.sqlite"
    done = compute(REGISTRY.get("slow"), indices, Context("cifar10"), Store(db), False,
                   executor(task_seconds=1e-3))
    killer.join()
    assert killed, "no worker was killed"
    first = killed[0].split("-")[1]
    assert sum(m.name.endswith(f"-{first}") for m in markers.iterdir()) == 2   # tried again
    assert {i: o.score for i, o in done.items()} == {i: float(i) for i in indices}
    stored = rows(db)
    assert len(stored) == len(set(stored)) == len(indices)
    assert sorted(r[1] for r in stored) == indices


def test_a_user_error_in_a_worker_stops_the_run_with_its_line(cluster, tmp_path):
    db = tmp_path / "r.sqlite"
    with pytest.raises(UserError) as err:
        compute(REGISTRY.get("bad-data"), [5, 7, 9], Context("cifar10"), Store(db), False,
                executor(task_seconds=1e-3))
    assert str(err.value).startswith("bad data: arch 7 has no images (in a Ray worker on ")
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)
    assert 7 not in {r[1] for r in rows(db)}


def test_a_worker_with_other_data_is_refused(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_executor, "fingerprint",        # the driver only: workers differ
                        lambda proxy, ctx: json.dumps({"images": "driver-only-content"}))
    db = tmp_path / "r.sqlite"
    with pytest.raises(UserError, match="refusing to mix"):
        compute(REGISTRY.get("synflow-tiny"), [1, 2], Context("cifar10"), Store(db), False,
                executor())
    assert rows(db) == []


def test_cli_scores_on_ray_as_locally(cluster, tmp_path, capsys):
    args = ["score", "--proxy", "synflow", "--archs", "1,2", "--seed", "0", "--json", "--quiet"]
    assert main([*args, "--results", str(tmp_path / "a.sqlite")]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*args, "--results", str(tmp_path / "b.sqlite"), "--executor", "ray"]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert [s["score"] for s in remote["scores"]] == [s["score"] for s in local["scores"]]
    assert main([*args, "--results", str(tmp_path / "c.sqlite"), "--ray-address", "auto"]) == 2
    assert capsys.readouterr().err.strip() == "error: --ray-address needs --executor ray"


def test_an_address_nothing_answers_on_is_a_user_error():
    port = socket.socket()
    port.bind(("127.0.0.1", 0))         # a free port, held (not listening) so nothing answers
    try:
        address = f"127.0.0.1:{port.getsockname()[1]}"
        with pytest.raises(UserError, match="no Ray cluster answers there"):
            ray_executor._check_reachable(address)
        with pytest.raises(UserError, match="expected HOST:PORT"):
            ray_executor._check_reachable("nowhere")
    finally:
        port.close()


SEARCH_EXPERIMENT = """
[[search]]
strategy = "rea"
fitness = "marked"
queries = 12
runs = 2
population = 4
"""


def test_an_experiments_searches_run_on_ray_as_locally(cluster, tmp_path):
    """`run --executor ray`: the fitness scores a search lacks are computed by Ray tasks (not in
    the driver), and the stored runs equal a local run's."""
    from benchmark.experiments.run import run_experiment
    from nb201.store import SearchRuns
    path = tmp_path / "searches.toml"
    path.write_text(SEARCH_EXPERIMENT)
    markers = cluster / "markers"
    stored = {}
    for name, how in (("local", LocalExecutor()), ("ray", executor(task_seconds=1e-3))):
        before = set(markers.iterdir())
        run = run_experiment(path, REGISTRY, tmp_path / f"{name}.sqlite", progress=False,
                             executor=how)
        scored_by = {int(m.name.split("-")[0]) for m in set(markers.iterdir()) - before}
        assert scored_by and (scored_by == {os.getpid()}) == (name == "local"), (name, scored_by)
        [search] = run.summary["searches"]
        stored[name] = SearchRuns(run.store).get(search["digest"], search["seed"], [0, 1])
    assert stored["ray"] == stored["local"] and len(stored["ray"]) == 2


def test_full_curve_and_checkpoints_reach_ray_tasks(cluster, tmp_path, monkeypatch):
    """Every run option reaches a Ray task: `--full-curve --executor ray` stores a curve evaluated
    after every epoch, and a run stopped before the end of its schedule (@1 of 2 epochs) leaves
    its state file beside the store, to be continued later."""
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "cache"))
    folder = write_folder(tmp_path / "tiny")
    db = tmp_path / "r.sqlite"
    args = ["score", "--archs", "1462", "--seed", "1", "--data-dir", str(folder), "--fuse", "1",
            "--results", str(db), "--executor", "ray", "--json", "--quiet"]
    assert main([*args, "--proxy", "c4r4s0e2b16", "--full-curve"]) == 0
    [curve] = [o.curve for o in Store(db).frame()["outcome"]]
    assert len(curve) == 2 and all(v == v for v in curve), curve     # no NaN: both evaluated
    assert main([*args, "--proxy", "c4r4s0e3b16@1"]) == 0
    assert len(list(Store(db).runs_dir.glob("*.pt"))) == 1
