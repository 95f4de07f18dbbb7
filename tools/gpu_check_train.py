"""The GPU check's training proxies, chunk by chunk (tools/gpu_check.py).

A chunk is one fused CUDA group (the proxy's chunk size, which its fingerprint records), committed
to the store when it ends. A chunk is started only if its projected time fits the time left:

- before a proxy has a measured chunk, from the check's speed so far (:class:`Speed`: measured
  seconds over :func:`nb201.training.sizing.estimate_seconds`, over every chunk trained; a CPU
  cost model, so only a projection of more than :data:`PRIOR_SLACK` times the time left skips the
  proxy), and then from a probe: one epoch of the chunk (a read of the next epoch of the same runs,
  which the chunk then continues: the same weights as one run through), after the check's one
  warm-up (the device's, cuDNN's and numba's one-off costs are not projected);
- after that, from the proxy's slowest measured chunk.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

#: a chunk is started when its projection times this fits the time left
MARGIN = 1.15
#: a proxy not yet probed is not probed when the check's speed so far projects its chunk at more
#: than this times the time left (the cost model is a CPU's: only a clear miss is trusted)
PRIOR_SLACK = 4.0


class Speed:
    """Measured seconds per estimated second (:func:`~nb201.training.sizing.estimate_seconds`,
    a CPU cost model) over every chunk trained so far: how a proxy not yet probed is projected."""

    def __init__(self):
        self.measured = self.estimated = 0.0

    def add(self, seconds: float, recipe, archs: int, epochs: int) -> None:
        from nb201.training.sizing import estimate_seconds
        self.measured += seconds
        self.estimated += archs * estimate_seconds(recipe, epochs=epochs)

    def project(self, recipe, archs: int, epochs: int) -> float | None:
        from nb201.training.sizing import estimate_seconds
        if not self.estimated:
            return None
        return self.measured / self.estimated * archs * estimate_seconds(recipe, epochs=epochs)


class Chunks:
    """One training proxy on ``order`` (at most ``limit`` archs), one chunk per :meth:`step`;
    what it did is in ``entry`` (archs, chunks with their seconds, why it stopped).
    ``on_chunk`` is called after every chunk (the check rewrites its files)."""

    def __init__(self, proxy, order: list[int], check, limit: int, entry: dict,
                 on_chunk: Callable[[], None]):
        from nb201.catalog import dataset_spec
        from nb201.devices import accelerated
        from nb201.store import Key
        from nb201.training import engine
        self.proxy, self.check, self.on_chunk = proxy, check, on_chunk
        ctx = check.ctx
        self.size = proxy.chunk_size(ctx)
        self.until = max(proxy.epochs_read)
        self.key = Key.of(proxy, ctx)
        self.parts = [order[at:at + self.size] for at in range(0, min(len(order), limit), self.size)]
        self.per_chunk: float | None = None
        self.entry = entry
        resolution = proxy.recipe.resolution(dataset_spec(ctx.dataset).resolution)
        entry.update(name=proxy.name, reads=list(proxy.epochs_read), chunk=self.size,
                     trainer=engine.kernels(ctx.device, ctx.amp, proxy.recipe, resolution),
                     group=self.size if accelerated(ctx.device) else 1, archs=[], chunks=[])

    @property
    def finished(self) -> bool:
        return "stopped" in self.entry

    def stop(self, why: str) -> bool:
        self.entry["stopped"] = why
        return False

    def step(self, ends: float) -> bool:
        """Train the next chunk if it is projected to end before ``ends`` (time.time()); False
        when it is not, or when no archs are left (then :attr:`finished`)."""
        from benchmark.runner import compute
        if self.finished:
            return False
        if not self.parts:
            return self.stop("every arch asked for is scored")
        part = self.parts[0]
        stored = self.check.store.get(self.key, part)
        missing = [i for i in part if i not in stored or not self.proxy.covers(stored[i])]
        row = {"archs": len(part), "computed": len(missing), "seconds": 0.0}
        if missing:
            reached = min(len(stored[i].curve or []) if i in stored else 0 for i in part)
            epochs = self.until - reached
            left = ends - time.time()
            if self.per_chunk is not None:
                projected, allowed = self.per_chunk * MARGIN, left
            else:
                projected = self.check.speed.project(self.proxy.recipe, len(part), epochs) or 0.0
                allowed = left * PRIOR_SLACK
            if left <= 0 or projected > allowed:
                return self.stop(f"next chunk projected {projected:.0f} s, {left:.0f} s left")
            if self.per_chunk is None and epochs > 1:
                warmed = self.check.warm_up(self.proxy, part)
                if warmed is not None:
                    self.entry["warm_up_seconds"] = warmed
                probe = dataclasses.replace(self.proxy, at=reached + 1, reads=())
                started = time.perf_counter()
                compute(probe, part, self.check.ctx, self.check.store, progress=False)
                row["seconds"] = row["probe_seconds"] = time.perf_counter() - started
                projected = row["probe_seconds"] * (epochs - 1) * MARGIN
                if projected > ends - time.time():
                    self.entry["chunks"].append(row)
                    self.on_chunk()
                    return self.stop(f"one epoch took {row['probe_seconds']:.1f} s: the other "
                                     f"{epochs - 1} projected {projected:.0f} s, "
                                     f"{ends - time.time():.0f} s left")
            started = time.perf_counter()
            compute(self.proxy, part, self.check.ctx, self.check.store, progress=False)
            row["seconds"] += time.perf_counter() - started
            row["epochs"] = epochs
            self.per_chunk = max(self.per_chunk or 0.0, row["seconds"])
            self.check.speed.add(row["seconds"], self.proxy.recipe, len(missing), epochs)
        self.parts.pop(0)
        self.entry["chunks"].append(row)
        self.entry["archs"] += part
        self.on_chunk()
        return True


def chunks(check, record: dict, name: str, reads: tuple[str, ...] = ()) -> Chunks | None:
    """A guarded :class:`Chunks` of the proxy ``name`` (reading ``reads`` too) on the check's
    archs, in ``record``'s phase (None: it failed to start; recorded there)."""
    made = []
    phase = record["phase"]
    check.guarded(record, name, lambda entry: made.append(Chunks(
        check.proxy(name, reads), check.order(), check, check.cfg["train_archs"], entry,
        lambda: check.saved(phase))))
    return made[0] if made else None


def train(check, record: dict, runners: list[Chunks], deadline: float, min_archs: int = 0,
          reach: float | None = None) -> None:
    """Chunks of ``runners`` in turn (one each per round) while they fit before ``deadline``
    (before ``reach`` while a runner has fewer than ``min_archs``); each step guarded."""
    while True:
        progressed = False
        for runner in runners:
            if runner.finished:
                continue
            ends = deadline
            if reach is not None and len(runner.entry["archs"]) < min_archs:
                ends = max(deadline, reach)
            entry = runner.entry
            if check.guarded(record, entry["proxy"], lambda _: runner.step(ends) and None,
                             entry=entry).get("error"):
                runner.stop("failed")
                continue
            progressed = progressed or not runner.finished
            check.out.log(f"{entry['proxy']}: {len(entry['archs'])} archs"
                          + (f" ({entry['stopped']})" if runner.finished else "")
                          + f", {deadline - time.time():.0f} s left in {record['phase']}")
        if not progressed:
            break
    for runner in runners:
        runner.entry["agreement"] = check.agreement(runner.proxy, runner.entry["archs"])
