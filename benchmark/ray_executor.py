"""The Ray executor: the runner's chunks as Ray tasks, on a local Ray instance or a cluster.

Imported only for ``--executor ray`` (the local path never imports Ray). The driver sends each
task the proxy's *name*, its chunks of arch indices and the context itself (every run option, the
state folder for checkpoints; paths made absolute, the device reduced to its type); the task
resolves the
proxy through the registry in its own process (``import proxies``), scores the chunks with the
proxy's own :meth:`~nb201.api.Proxy.score` and returns the outcomes with the data source and
proxy version it used. The driver yields the chunks in completion order (``ray.wait``); the runner
commits each one, so only the driver writes the store.

- Tasks: the runner's chunks are grouped into tasks of at most about :data:`TASK_SECONDS` of
  estimated work (``cost_s`` per arch), in a multiple of the number of tasks the cluster runs at
  once, so small runs still use every worker and no wave of tasks runs half-empty. A task costs
  milliseconds (``perf/ray_overhead.py``; docs/BENCHMARKS.md), so the task length is set by what a
  dead worker or driver loses (its tasks' work) and by the last wave's tail, not by overhead.
- Resources by device type (:data:`RESOURCES`): one GPU per task when the context's device is
  CUDA, else one CPU; lookups (:attr:`~nb201.api.Proxy.lookup`: table proxies) and proxies that
  read other scores run in the driver. Tasks are spread over the nodes.
- Faults: a task whose worker dies is retried (:data:`MAX_RETRIES`); its chunks are committed only
  once, when a try returns. A :class:`~nb201.errors.UserError` raised in a task stops the run
  with its one-line message (and the worker's node); the other tasks are cancelled.
- Data: each task reports the fingerprint of what it computed (``Proxy.fingerprint``: the data's
  content digest, the options, the versions); a fingerprint or proxy
  version other than the driver's stops the run before that chunk is written.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import ray
import torch

from nb201.api import Outcome, Proxy
from nb201.context import Context
from nb201.errors import UserError
from .executors import LocalExecutor, score_chunk

#: seconds of estimated work per task (proxy.cost_s per arch, a 2-core CPU guess)
TASK_SECONDS = 120.0
#: tries after the first for a task whose worker process or node died
MAX_RETRIES = 3
#: what one task asks Ray for, by device type
RESOURCES = {
    "cpu": {"num_cpus": 1},
    "cuda": {"num_cpus": 1, "num_gpus": 1},  # fractional GPUs: unmeasured
}
RAY_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU"}
#: seconds to wait for a cluster's address to answer
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class TaskResult:
    """What a task returns: one list of outcomes per chunk, and what it scored them with."""

    outcomes: list[list[Outcome]]
    source: str
    version: int
    node: str


def score_chunks(registry_module: str, name: str, chunks: list[list[int]], ctx: Context
                 ) -> TaskResult:
    """Runs in a Ray worker: resolve the proxy by name and score each chunk."""
    node = ray.util.get_node_ip_address()
    try:
        proxy = importlib.import_module(registry_module).REGISTRY.get(name)
        # what the store would key these rows by; loads the dataset (once per worker) if it is read
        source = fingerprint(proxy, ctx)
        outcomes = [score_chunk(proxy, chunk, ctx) for chunk in chunks]
    except UserError as err:
        raise UserError(f"{err} (in a Ray worker on {node})") from None
    return TaskResult(outcomes, source, proxy.version, node)


_remote_score = ray.remote(max_retries=MAX_RETRIES)(score_chunks)


def group(chunks: Sequence[list[int]], seconds_per_arch: float, slots: int,
          task_seconds: float = TASK_SECONDS) -> list[list[list[int]]]:
    """Consecutive chunks in tasks of at most about ``task_seconds`` of work each, their number a
    multiple of ``slots`` (the tasks that run at once), so every wave of tasks fills the cluster
    and small runs still use every slot; at most one task per chunk."""
    work = seconds_per_arch * sum(len(c) for c in chunks)
    tasks = min(len(chunks), slots * max(1, math.ceil(work / (task_seconds * slots))))
    bounds = [k * len(chunks) // tasks for k in range(tasks + 1)] if tasks else [0]
    return [list(chunks[lo:hi]) for lo, hi in zip(bounds, bounds[1:])]


class RayExecutor:
    """Scores chunks as Ray tasks. ``address``: None starts a local Ray instance (shut down by
    :meth:`close`), ``auto`` joins the cluster of ``ray start --head`` on this machine, else the
    address of a cluster. Ray is started (or joined) on entering the executor's ``with`` block or on
    the first :meth:`map`. ``registry_module``: the module whose ``REGISTRY`` the workers resolve
    proxy names in."""

    def __init__(self, address: str | None = None, registry_module: str = "proxies",
                 task_seconds: float = TASK_SECONDS):
        self.address = address
        self.registry_module = registry_module
        self.task_seconds = task_seconds
        self._started = False

    def _connect(self) -> None:
        if ray.is_initialized():
            return
        if self.address not in (None, "auto", "local"):
            _check_reachable(self.address)
        try:
            # "local": a new instance even when RAY_ADDRESS or a `ray start` cluster is around
            ray.init(address=self.address or "local", include_dashboard=False,
                     logging_level="WARNING")
        except ConnectionError as err:
            raise UserError(f"--ray-address {self.address}: {str(err).splitlines()[0]}") from None
        self._started = True   # close() disconnects (and stops a local instance)
        print(cluster_summary(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._started:
            ray.shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        self._connect()   # a wrong address fails here, before anything is computed
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def map(self, proxy: Proxy, chunks: Sequence[list[int]], ctx: Context
            ) -> Iterator[tuple[list[int], list[Outcome]]]:
        resources = (None if proxy.lookup or proxy.reads_scores   # a lookup: cheaper than a task
                     else RESOURCES.get(ctx.device.type))
        if resources is None:
            yield from LocalExecutor().map(proxy, chunks, ctx)
            return
        self._connect()
        total = ray.cluster_resources()
        slots = min(int(total.get(RAY_NAMES[k], 0) // v) for k, v in resources.items())
        if slots < 1:
            raise UserError(f"the Ray cluster has no room for a {proxy.kind} task on "
                            f"{ctx.device.type} (needs {resources}, has {total})")
        expected = (fingerprint(proxy, ctx), proxy.version)
        remote_ctx = task_context(ctx)
        task = _remote_score.options(**resources, scheduling_strategy="SPREAD")
        pending = {task.remote(self.registry_module, proxy.name, part, remote_ctx): part
                   for part in group(chunks, proxy.cost_s, slots, self.task_seconds)}
        try:
            while pending:
                [ref], _ = ray.wait(list(pending), num_returns=1)
                part = pending.pop(ref)
                result = _get(ref)
                if (result.source, result.version) != expected:
                    theirs, ours = json.loads(result.source), json.loads(expected[0])
                    differ = sorted(k for k in ours.keys() | theirs.keys()
                                    if ours.get(k) != theirs.get(k))
                    raise UserError(
                        f"a Ray worker on {result.node} scored {proxy.name} v{result.version} with "
                        f"{', '.join(f'{k}={theirs.get(k)!r}' for k in differ)}, the driver has "
                        f"v{expected[1]} with {', '.join(f'{k}={ours.get(k)!r}' for k in differ)}: "
                        f"refusing to mix them (give every node the same code and --data-dir "
                        f"content)")
                yield from zip(part, result.outcomes)
        finally:
            for ref in pending:
                ray.cancel(ref)


def task_context(ctx: Context) -> Context:
    """The context a task gets: the driver's, with its paths absolute (the same path on every
    node, not relative to a worker's directory) and its device reduced to the type (Ray makes a
    task's GPU the process's only visible one: plain "cuda")."""
    def absolute(path):
        return path and os.path.abspath(os.path.expanduser(path))
    return dataclasses.replace(ctx, device=torch.device(ctx.device.type),
                               data_dir=absolute(ctx.data_dir), state_dir=absolute(ctx.state_dir),
                               reader=None)


def _check_reachable(address: str) -> None:
    """A HOST:PORT that nothing answers on is a UserError (Ray itself would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except ValueError:
        raise UserError(f"--ray-address {address}: expected HOST:PORT or auto") from None
    except OSError as err:
        raise UserError(f"--ray-address {address}: no Ray cluster answers there ({err})") from None


def _get(ref) -> TaskResult:
    """The task's result; a UserError raised in the task as itself (its one line, no traceback)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, UserError):
            raise UserError(str(err.cause)) from None
        raise


def cluster_summary() -> str:
    """One line on the cluster this process is connected to (for logs)."""
    total = ray.cluster_resources()
    return (f"Ray: {sum(n['Alive'] for n in ray.nodes())} nodes, {total.get('CPU', 0):g} CPUs, "
            f"{total.get('GPU', 0):g} GPUs")


def fingerprint(proxy, ctx) -> str:
    """The proxy's fingerprint on ``ctx`` as canonical JSON: the data's content digest, the
    options, the versions; a worker's must equal the driver's."""
    return json.dumps(proxy.fingerprint(ctx), sort_keys=True)
