"""The prepared GPU check: one lease, the whole study (run it through tools/gpu_check.sh).

Five phases in order of value (tools/gpu_check_phases.py: the EcoNAS point, the zero-cost paper's
EcoNAS point, the shipped CPU study's factor settings, every zero-cost proxy, training
throughput), each with a share of the time left, each guarded: a failing phase, or a failing proxy
in one, is recorded with its traceback and the check goes on. Archs come in the order of
``nb201.groundtruth.sample(15625, seed=0)``, whose first 200 are the shipped CPU study's; training
proxies go a fused CUDA group at a time, each started only if it is projected to fit
(tools/gpu_check_train.py). Every score goes into a results store (``--store``, in /tmp, its run
states beside it; a rerun resumes it) and comes back in a results pack; the whole run is bounded
by ``--budget`` seconds counted from tools/gpu_check.sh's start (which stops it 10 s after with
SIGTERM, when it writes its files, and kills it 20 s after). What comes back, at most 8 files:
tools/gpu_check_out.py. ``--device cpu --tiny`` is the CPU-sized dry run of the same code (every
training proxy shrunk by :func:`tiny`, zero-cost networks of 4 channels and 1 cell).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import signal
import sys
import threading
import time
import traceback

from tools.gpu_check_phases import SHARES
from tools.gpu_check_train import Speed

#: ``point_min_archs``: the point phase goes on past its share until it has these archs, while its
#: next chunk is projected to end within ``point_reach`` of the time left at the phase's start.
#: ``valid_images``: held-out images a training proxy evaluates (None: all; --tiny: fewer, as the
#: dry run's training is 100x smaller). ``floor``: seconds a throughput measurement needs.
FULL = dict(budget=420, point="c4r4s0e40@20", point_reads=("c4r4s0e40@10",), point_min_archs=500,
            point_reach=0.6, zc_paper="zc-paper:c4r4s0e40b2048@20", study="econas-cpu",
            train_archs=15625, valid_images=None, zc_archs=15625, zc_chunk=64, ntk_archs=512,
            tight_archs=2, naive_archs=1, naive_workers=8, reserve=15, pack_seconds=10, floor=20)
TINY = dict(FULL, budget=60, point_min_archs=16, train_archs=16, valid_images=500, zc_archs=2,
            zc_chunk=1, ntk_archs=1, tight_archs=2, naive_workers=0, reserve=4, pack_seconds=0,
            floor=2)


class Terminated(BaseException):
    """SIGTERM (tools/gpu_check.sh's timeout): the phase in progress stops, the files are written.
    A BaseException, as KeyboardInterrupt is, so that no ``except Exception`` on the way takes
    it for a failure of the proxy or phase."""


#: set by SIGTERM. The handler also raises at once, but an exception raised while Python runs a
#: finalizer is only printed, so every check point (after a chunk's files, before a proxy or
#: phase) raises again while it is set.
STOPPING = threading.Event()
STOPPED = "the run was stopped at its time limit"


def _terminate(signum, frame):
    STOPPING.set()
    raise Terminated(f"signal {signum}: {STOPPED}")


def stop_point() -> None:
    """Raise :class:`Terminated` if SIGTERM came."""
    if STOPPING.is_set():
        raise Terminated(f"SIGTERM: {STOPPED}")


def tiny(name: str) -> str:
    """The CPU-sized twin of a training proxy: 100x fewer training images, a tenth of the epochs
    (at least 2), batch at most 256, the read epoch scaled alike: ``c4r4s0e40@20`` ->
    ``c4r4s100e4@2``."""
    from proxies.training import recipe_for
    recipe, at = recipe_for(name)
    small = dataclasses.replace(recipe, sample_factor=max(1, recipe.sample_factor) * 100,
                                epochs=max(2, recipe.epochs // 10),
                                batch_size=min(recipe.batch_size, 256))
    return f"{small.spec}@{max(1, min(small.epochs, at // 10))}"


class Clock:
    """Seconds left of the budget, counted from ``started`` (time.time(); default now)."""

    def __init__(self, budget: float, started: float | None = None):
        self.budget = budget
        self.started = time.time() if started is None else started

    def elapsed(self) -> float:
        return time.time() - self.started

    def left(self) -> float:
        return self.budget - self.elapsed()


class Check:
    """One run of the check: the context, store, out folder and what each phase recorded."""

    def __init__(self, args, cfg: dict, clock: Clock):
        from nb201.context import Context
        from nb201.devices import device_name, resolve_device
        from nb201.packs import machine
        from nb201.store import Store
        from tools.gpu_check_out import OutFolder, environment
        self.args, self.cfg, self.clock = args, cfg, clock
        self.device = resolve_device(args.device)
        self.name = device_name(self.device)
        self.out = OutFolder(args.out, self.name, cfg["pack_seconds"])
        self.summary = {"status": "starting", "budget": clock.budget, "tiny": args.tiny,
                        "config": cfg, "failing_on_purpose": args.fail_proxy, "phases": {},
                        "environment": environment(self.device, os.getloadavg()[0])}
        self.computed_on = {**machine(), "device": self.name}
        self.write_summary()
        if args.fresh and os.path.exists(args.store):
            import shutil
            os.remove(args.store)
            shutil.rmtree(args.store + ".runs", ignore_errors=True)
        self.store = Store(args.store, packs=())        # fresh computations only: no shipped rows
        self.ctx = Context("cifar10", seed=0, device=self.device)
        self.phases: dict[str, dict] = {}
        self.speed = Speed()
        self.warmed = False

    # ------------------------------------------------------------------ files
    def write_summary(self) -> None:
        self.summary["seconds"] = self.clock.elapsed()
        self.out.write_json("summary.json", self.summary)

    def saved(self, phase: str, force: bool = False) -> None:
        """After a chunk: the phase's file, and the results pack (throttled unless ``force``)."""
        record = self.phases[phase]
        record["seconds"] = time.time() - record["started"]
        self.out.write_json(f"{phase}.json", record)
        rows = self.out.write_pack(self.store, self.computed_on, force)
        if rows is not None:
            self.summary["pack"] = {"file": self.out.pack_name, "rows": rows}
        stop_point()

    # ------------------------------------------------------------------ phases
    def run(self, phase: str, body, deadline: float) -> None:
        from nb201.devices import peak_memory
        import resource
        peak_memory(self.device, reset=True)
        record = self.phases[phase] = {"phase": phase, "status": "running", "started": time.time(),
                                       "deadline_in": deadline - time.time()}
        self.summary["phases"][phase] = {"status": "running", "file": f"{phase}.json"}
        self.write_summary()
        self.out.log(f"{phase}: {deadline - time.time():.0f} s (budget left {self.clock.left():.0f} s)")
        status = "ok"
        try:
            body(record, deadline)
        except Terminated as err:
            status, record["error"] = "terminated", str(err)
        except Exception as err:                         # recorded; the next phase runs
            status, record["error"] = "failed", f"{type(err).__name__}: {err}"
            record["traceback"] = traceback.format_exc()
            self.out.log(f"{phase} failed: {record['error']}")
        record["status"] = status
        record["peak_memory"] = peak_memory(self.device)
        record["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            self.saved(phase, force=True)
        except Terminated:
            pass
        self.summary["phases"][phase] = {k: record.get(k) for k in
                                         ("status", "seconds", "error", "peak_memory")}
        self.summary["phases"][phase].update(
            file=f"{phase}.json",
            failed=[e["proxy"] for e in record.get("proxies", []) if "error" in e],
            scored={e["proxy"]: len(e["archs"]) if isinstance(e.get("archs"), list) else e.get("archs", 0)
                    for e in record.get("proxies", []) if "error" not in e})
        self.write_summary()
        self.out.log(f"{phase}: {status} in {record['seconds']:.0f} s")
        if status == "terminated":
            raise Terminated(record["error"])

    def guarded(self, record: dict, name: str, body, entry: dict | None = None) -> dict:
        """``body(entry)`` for one proxy of a phase, guarded: its entry in ``record["proxies"]``
        (new unless given), with the error and traceback if it fails (the phase goes on)."""
        from nb201.devices import release
        if entry is None:
            entry = {"proxy": name}
            record.setdefault("proxies", []).append(entry)
        try:
            stop_point()
            if name in (self.args.fail_proxy or []):
                raise RuntimeError(f"{name}: made to fail on purpose (--fail-proxy)")
            body(entry)
        except Terminated:
            entry["stopped"] = "terminated"
            raise
        except Exception as err:
            entry["error"] = f"{type(err).__name__}: {err}"
            entry["traceback"] = traceback.format_exc()
            self.out.log(f"{name} failed: {entry['error']}")
            release(self.device)
        return entry

    # ------------------------------------------------------------------ training proxies
    def proxy(self, name: str, reads: tuple[str, ...] = ()):
        """The registered proxy ``name`` (reading ``reads`` too); with --tiny, training proxies
        evaluate ``valid_images`` held-out images and zero-cost proxies build a 4-channel, 1-cell
        network (other fingerprints, so other rows: a dry run's)."""
        from proxies import REGISTRY
        from proxies.training import TrainingProxy
        proxy = REGISTRY.get(name)
        if reads:
            proxy = proxy.joined([REGISTRY.get(r) for r in reads])
        if self.args.tiny and isinstance(proxy, TrainingProxy):
            recipe = dataclasses.replace(proxy.recipe, valid_images=self.cfg["valid_images"])
            proxy = dataclasses.replace(proxy, recipe=recipe)
        elif self.args.tiny:
            proxy = dataclasses.replace(proxy, channels=4, cells=1)
        return proxy

    def warm_up(self, proxy, order: list[int]) -> float | None:
        """Once per run, before the first probe: one epoch of two networks of ``proxy``'s recipe
        (not stored), so that the device's, cuBLAS', cuDNN's and numba's one-off costs are not in
        a probe's time (not projected). Its seconds (None after the first call)."""
        from nb201 import groundtruth as gt
        from nb201.devices import synchronize
        from nb201.training import data, engine
        if self.warmed:
            return None
        self.warmed = True
        started = time.perf_counter()
        split = data.prepare(self.ctx.images, proxy.recipe, self.ctx.seed, self.device)
        engine.train([gt.arch_of(i) for i in order[:2]], order[:2], split, proxy.recipe,
                     self.ctx.seed, self.device, self.ctx.amp, until=1, evaluate_at=())
        synchronize(self.device)
        return time.perf_counter() - started

    def agreement(self, proxy, indices: list[int]) -> dict:
        """Spearman and Kendall tau (with 95% CIs) against NB201's valid_200 and test_200."""
        from benchmark.command_results import score
        from benchmark.runner import Request
        if len(indices) < 3:
            return {}
        out = {}
        try:
            for truth in ("valid_200", "test_200"):
                card = score(Request(proxy, "cifar10", list(indices), (self.ctx.seed,), truth),
                             self.ctx, self.store, progress=False)
                out[truth] = {k: card[k] for k in ("n", "spearman", "kendall_tau", "ci", "nan_scores")}
        except Exception as err:                   # recorded: the scores are stored all the same
            out["error"] = f"{type(err).__name__}: {err}"
        return out

    def order(self) -> list[int]:
        from nb201 import groundtruth as gt
        return gt.sample(gt.NUM_ARCHS, 0)

    def names(self, names) -> list[str]:
        return [tiny(n) for n in names] if self.args.tiny else list(names)

    # ------------------------------------------------------------------ the whole run
    def skipped(self, phase: str, why: str) -> None:
        """A phase that did not run: its file and summary entry say why."""
        record = {"phase": phase, "status": "skipped", "error": why}
        self.out.write_json(f"{phase}.json", record)
        self.summary["phases"][phase] = {**record, "file": f"{phase}.json"}

    def main(self) -> int:
        from tools import gpu_check_phases as phases
        self.summary["status"] = "running"
        end = self.clock.started + self.clock.budget - self.cfg["reserve"]
        order = list(SHARES)
        status = "finished"
        try:
            self.ctx.images                                  # decoded once, counted in the budget
            self.summary["data_seconds"] = self.clock.elapsed()
            for k, phase in enumerate(order):
                stop_point()
                share = SHARES[phase] / sum(SHARES[p] for p in order[k:])
                deadline = time.time() + max(0.0, end - time.time()) * share
                if deadline - time.time() < 1:
                    self.skipped(phase, "no time left")
                    continue
                self.run(phase, lambda record, deadline, phase=phase:
                         getattr(phases, phase)(self, record, deadline), deadline)
        except Terminated:
            status = "terminated"
        for phase in order:
            if phase not in self.summary["phases"]:
                self.skipped(phase, "the run was stopped before it began")
        self.summary["status"] = status
        self.summary["load_average_after"] = os.getloadavg()[0]
        self.summary["pack"] = {"file": self.out.pack_name,
                                "rows": self.out.write_pack(self.store, self.computed_on, True)}
        self.summary["files"] = sorted(self.out.written | {"summary.json"})
        self.write_summary()
        self.out.log(f"{status} in {self.clock.elapsed():.0f} s; {len(self.summary['files'])} files "
                     f"in {self.out.path}")
        self.out.close()
        return 0 if status == "finished" else 3


def parse_args(argv=None):
    from tools.gpu_check_out import default_out
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="the CPU-sized dry run")
    parser.add_argument("--budget", type=float, default=None,
                        help=f"seconds for the whole run (default {FULL['budget']}, --tiny "
                             f"{TINY['budget']}), counted from tools/gpu_check.sh's start")
    parser.add_argument("--out", default=default_out(),
                        help="where the files go (default: $OUT when set, else results/gpu_check)")
    parser.add_argument("--store", default="/tmp/nb201-gpu-check/results.sqlite",
                        help="the results store (its run states beside it); a rerun resumes it")
    parser.add_argument("--fresh", action="store_true",
                        help="start from an empty store (always with --tiny: a dry run measures)")
    parser.add_argument("--fail-proxy", action="append", metavar="NAME",
                        help="test hook: this proxy (as the phase names it) fails on purpose")
    parser.add_argument("--print-budget", action="store_true",
                        help="print the budget in whole seconds and exit (tools/gpu_check.sh)")
    args = parser.parse_args(argv)
    args.fresh = args.fresh or args.tiny
    cfg = dict(TINY if args.tiny else FULL)
    if args.budget is not None:
        if args.budget <= 0:
            parser.error("--budget must be > 0")
        cfg["budget"] = args.budget
    return args, cfg


def main(argv=None) -> int:
    args, cfg = parse_args(argv)
    if args.print_budget:
        print(math.ceil(cfg["budget"]))
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    started = os.environ.get("NB201_GPU_CHECK_STARTED")
    clock = Clock(cfg["budget"], float(started) if started else None)
    from nb201.errors import UserError
    try:
        check = Check(args, cfg, clock)
        return check.main()
    except Terminated as err:
        print(f"gpu_check: {err}", file=sys.stderr)
        return 3
    except UserError as err:
        print(f"gpu_check: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
