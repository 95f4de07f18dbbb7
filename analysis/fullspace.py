"""Full-space numbers: a proxy's rank agreement on all 15,625 archs of NB201, where the suite has
it without training anything: a stored result on every arch (``score --all``), a table proxy
(read from NB201's table or computed from the cell: a lookup per arch), or, for a zero-cost proxy,
NASLib's shipped scores of the same proxy (``naslib:NAME``, NAS-Bench-Suite-Zero's data; the
cells NASLib did not score are NaN and rank last). Lookups are scored through the proxy
interface and their metrics kept in the suite's cache (``fullspace/<digest>.json``, named by the
proxy's fingerprint, the truth vector and the resamples), so a report computes each once.
"""
from __future__ import annotations

import hashlib
import json
import os

from nb201 import groundtruth as gt
from nb201.errors import UserError
from nb201.provenance import cache_root, config_digest
from nb201.registry import Registry
from nb201.store import read_scores

from .metrics import summarize
from .results import ProxyResult

#: bootstrap resamples of a full-space CI (at 15,625 archs the interval is about +-0.01 wide)
N_BOOT = 200


class FullSpace:
    """The full-space numbers of the report's results, against ``truth``."""

    def __init__(self, registry: Registry, results: list[ProxyResult], truth: str):
        self.registry, self.truth = registry, truth
        self.stored = {(r.proxy.name, r.dataset): r for r in results
                       if len(r.indices) == gt.NUM_ARCHS}

    def summary(self, r: ProxyResult) -> tuple[dict, str] | None:
        """(metrics on all archs, what they are of) for ``r``'s proxy, or None."""
        if (r.proxy.name, r.dataset) in self.stored:
            return self.stored[(r.proxy.name, r.dataset)].summary, "stored"
        if r.proxy.kind == "table" and not r.proxy.needs_images:
            return self._lookup(r.proxy, r.dataset, r.seeds[0]), "lookup"
        if r.proxy.kind == "zero-cost":
            try:
                theirs = self.registry.get(f"naslib:{r.proxy.name}")
                theirs.check(r.dataset)
            except UserError:
                return None
            return self._lookup(theirs, r.dataset, 0), "NASLib's scores"
        return None

    def cell(self, r: ProxyResult) -> str:
        """The main table's "full space" cell, e.g. ``tau 0.576 [0.569, 0.583], n=15,625``."""
        found = self.summary(r)
        if found is None:
            return ""
        s, what = found
        if s["kendall_tau"] is None:
            return ""
        lo, hi = s["ci"]["kendall_tau"]
        ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None else ""
        return (f"tau {s['kendall_tau']:.3f}{ci}, n={s['n']:,}"
                + (f" ({what})" if what == "NASLib's scores" else ""))

    def _lookup(self, proxy, dataset: str, seed: int) -> dict:
        """Metrics of a table proxy scored on every arch (kept in the cache)."""
        from nb201.context import Context
        ctx = Context(dataset, seed, device="cpu")
        truth = gt.vector(dataset, self.truth)
        key = config_digest({"fingerprint": proxy.fingerprint(ctx), "truth": self.truth,
                             "values": hashlib.sha256(truth.tobytes()).hexdigest(),
                             "n_boot": N_BOOT})
        path = cache_root() / "fullspace" / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        indices = list(range(gt.NUM_ARCHS))
        outcomes = proxy.score([gt.arch_of(i) for i in indices], indices, ctx)
        scores, _ = read_scores(proxy, [dict(zip(indices, outcomes))], indices)
        out = summarize(scores, truth, higher_is_better=proxy.higher_is_better, n_boot=N_BOOT)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:                   # a cache: an unwritable folder only means computing it again
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(out), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
        return out
