"""Work shared out over forked CPU processes, one torch thread each.

Small networks leave a core idle between their sub-millisecond kernel calls; threads of one
process then contend for the GIL (docs/BENCHMARKS.md: two engine threads kept 1.69 of 2 cores
busy at 4 channels, 8x8). Forked processes share nothing at run time: each inherits the parent's
tensors (copy-on-write, nothing is sent) and returns only its results, pickled.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

import torch

#: Seconds between the parent's checks that its workers are still alive.
POLL_SECONDS = 1.0


def available() -> bool:
    """Whether work can be forked here (Linux: fork is cheap and torch's CPU kernels work in a
    forked child that runs one thread, as DataLoader workers do; elsewhere the caller uses threads)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def run(task: Callable[[int, Callable[[Any], None]], Any], count: int, processes: int,
        on_message: Callable[[Any], None]) -> list[Any]:
    """``[task(i, send) for i in range(count)]`` over ``processes`` forked workers, each taking
    the next ``i`` when it is done. ``send(message)`` in a worker calls ``on_message(message)`` in
    the calling thread (in the order sent). A worker's exception is raised here as a RuntimeError
    with its traceback; a worker that dies raises one too. Workers are gone when this returns."""
    ctx = multiprocessing.get_context("fork")
    tasks, results = ctx.SimpleQueue(), ctx.Queue()
    for i in range(count):
        tasks.put(i)
    processes = max(1, min(processes, count))
    for _ in range(processes):
        tasks.put(None)
    workers = [ctx.Process(target=_work, args=(task, tasks, results, os.getpid()), daemon=True)
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    out: list[Any] = [None] * count
    try:
        done = 0
        while done < count:
            try:
                kind, *payload = results.get(timeout=POLL_SECONDS)
            except queue.Empty:             # all sent is read: has a worker died, or all ended?
                codes = [w.exitcode for w in workers]
                if any(c not in (None, 0) for c in codes) or None not in codes:
                    code = next((c for c in codes if c), 0)
                    raise RuntimeError(f"a training worker process died (exit code {code})") from None
                continue
            if kind == "error":
                raise RuntimeError(f"a training worker process failed:\n{payload[0]}")
            if kind == "message":
                on_message(pickle.loads(payload[0]))
            else:
                i, blob = payload
                out[i] = pickle.loads(blob)
                done += 1
        for worker in workers:
            worker.join()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
        results.close()
    return out


def _work(task, tasks, results, parent: int) -> None:
    _die_with_parent(parent)
    torch.set_num_threads(1)
    send = lambda message: results.put(("message", pickle.dumps(message, pickle.HIGHEST_PROTOCOL)))  # noqa: E731
    try:
        while (i := tasks.get()) is not None:
            results.put(("result", i, pickle.dumps(task(i, send), pickle.HIGHEST_PROTOCOL)))
    except BaseException:   # noqa: BLE001  (KeyboardInterrupt too: the parent is told and stops)
        results.put(("error", traceback.format_exc()))
    finally:
        results.close()
        results.join_thread()


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the thread that forked it ends (Linux's
    PR_SET_PDEATHSIG), so that a killed run leaves no workers behind; exit at once if the parent
    is already gone."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)     # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)
