"""Fit the training cost model (``sizing.DIRECT_ESTIMATE_CONSTANTS`` and
``sizing.ESTIMATE_CONSTANTS``) on the training runs of a store, each trainer's on its own runs.

    python perf/fit_estimate.py results/quick.sqlite [--device cpu]

For every training proxy in the store (one row per arch; runs of engine versions other than the
current one are left out), grouped by the trainer that ran it (the fingerprint's ``kernels``:
the direct kernels or PyTorch), the mean seconds per arch and the model's two terms
(``sizing.estimate_terms``: training images x epochs trained, images evaluated, both scaled to the
network's size); then, per trainer with at least 3 proxies, least squares for (seconds per arch,
per training image, per evaluated image). Prints per trainer the fit, and per proxy the measured
mean, the current constants' estimate and the fit's, as JSON. Stored seconds are the machine's
own; divide by ``sizing.cpu_speed_factor()`` for the reference CPU's.
"""
from __future__ import annotations

import argparse
import json
import math

import numpy as np

from nb201.errors import UserError
from nb201.store import Store
from nb201.training import engine, sizing
from nb201.training.recipe import matches
from proxies.training import recipe_for


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        frame = Store(args.store, create=False).frame()
    except UserError as error:
        raise SystemExit(f"error: {error}") from None
    units: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    for proxy, device, config, outcome in zip(frame["proxy"], frame["device"], frame["config"],
                                              frame["outcome"]):
        fingerprint = json.loads(config).get("fingerprint", {})
        if (device != args.device or not matches(proxy)
                or fingerprint.get("engine") != engine.ENGINE_VERSION):
            continue
        curve = outcome.curve or []
        trained = sum(end - start for start, end, _ in outcome.segments or []) or len(curve)
        evaluated = sum(1 for v in curve if not math.isnan(v))
        recipe, _ = recipe_for(proxy)
        train, valid = sizing.estimate_terms(recipe, epochs=trained, evaluations=evaluated)
        trainer = fingerprint.get("kernels", "torch")
        units.setdefault(trainer, {}).setdefault(proxy, []).append((outcome.seconds, train, valid))
    out = {"store": args.store, "engine": engine.ENGINE_VERSION, "trainers": {}}
    for trainer, runs in sorted(units.items()):
        if len(runs) < 3:
            out["trainers"][trainer] = {"skipped": f"{len(runs)} training proxies; the fit needs 3"}
            continue
        out["trainers"][trainer] = fit(runs, CURRENT.get(trainer, sizing.ESTIMATE_CONSTANTS))
    if not any("fit" in t for t in out["trainers"].values()):
        raise SystemExit(f"{args.store}: no trainer has 3 training proxies of engine version "
                         f"{engine.ENGINE_VERSION} to fit")
    print(json.dumps(out, indent=1))
    return out


#: each trainer's constants as the code has them
CURRENT = {"direct": sizing.DIRECT_ESTIMATE_CONSTANTS, "torch": sizing.ESTIMATE_CONSTANTS}


def fit(units: dict[str, list[tuple[float, float, float]]], current) -> dict:
    """Least squares of (fixed, per training image, per evaluated image) on ``units``' means."""
    names = sorted(units)
    mean = {n: np.mean(np.array(units[n]), axis=0) for n in names}
    a = np.array([[1.0, mean[n][1], mean[n][2]] for n in names])
    y = np.array([mean[n][0] for n in names])
    found = np.linalg.lstsq(a, y, rcond=None)[0]
    old = np.array(current)
    count = [len(units[n]) for n in names]
    return {"fit": [float(f"{v:.3g}") for v in found], "current": list(current),
            "units": {n: {"archs": count[i], "measured_s": round(float(mean[n][0]), 3),
                          "current_s": round(float(a[i] @ old), 3),
                          "fit_s": round(float(a[i] @ found), 3)} for i, n in enumerate(names)},
            "total_measured_s": round(float(y @ count), 1),
            "total_current_s": round(float((a @ old) @ count), 1),
            "total_fit_s": round(float((a @ found) @ count), 1)}


if __name__ == "__main__":
    main()
