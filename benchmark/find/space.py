"""The finder's search space: a SPEC of space-separated tokens, parsed into candidate proxy names.

- A token that is not ``WORD=...`` is a comma list of registered proxy names (zero-cost, table, learned,
  training specs: whatever ``python -m benchmark proxies`` lists or a family resolves).
- ``FACTOR=v1,v2,...`` tokens give the EcoNAS training grid: ``c``, ``r``, ``s`` (reduction
  factors; default 1: none), ``e`` (epochs of the cosine schedule; required by a grid), ``b``
  (batch; default NB201's 256) and ``read`` (which epochs of each schedule are candidates:
  ``last`` (default), ``all`` = every epoch 1..e, or a comma list of epochs, those above e
  skipped). Each (c, r, s, e, b) is one schedule: one stored run serves all of its reads.

Example: ``"synflow,nwot,l2_norm,params,meco c=8 r=8 s=8 e=2 read=all"`` is five zero-cost and
table proxies and ``c8r8s8e2@1``, ``c8r8s8e2``. Every name is resolved (and checked against the
dataset) here, so a bad spec is one line before anything is computed.
"""
from __future__ import annotations

import itertools

from nb201.errors import UserError
from nb201.lists import comma_list
from nb201.registry import Registry

FACTORS = ("c", "r", "s", "e", "b", "read")
DEFAULTS = {"c": (1,), "r": (1,), "s": (1,), "b": (None,), "read": ("last",)}


def _ints(factor: str, text: str, low: int) -> tuple[int, ...]:
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < low:
            raise UserError(f"find space: {factor}={text!r}: each value must be an integer >= "
                            f"{low}, got {part!r}")
        values.append(int(part))
    return tuple(dict.fromkeys(values))


def _grid(factors: dict[str, str]) -> list[str]:
    """The training proxy names of the factor grid."""
    if "e" not in factors:
        raise UserError(f"find space: a training grid needs e=EPOCHS (given: "
                        f"{', '.join(f'{k}={v}' for k, v in factors.items())})")
    values = {k: (_ints(k, factors[k], 0 if k in "crs" else 1) if k in factors else DEFAULTS[k])
              for k in ("c", "r", "s", "e", "b") if k in factors or k in DEFAULTS}
    read = factors.get("read", "last")
    reads = read if read in ("last", "all") else _ints("read", read, 1)
    names = []
    for c, r, s, e, b in itertools.product(values["c"], values["r"], values["s"], values["e"],
                                           values["b"]):
        schedule = f"c{c}r{r}s{s}e{e}" + (f"b{b}" if b is not None else "")
        epochs = (e,) if reads == "last" else range(1, e + 1) if reads == "all" else \
            [m for m in reads if m <= e]
        names += [schedule if m == e else f"{schedule}@{m}" for m in epochs]
    return names


def parse_space(text: str, registry: Registry, dataset: str) -> tuple[str, ...]:
    """The candidate names of a SPEC (in the order given, without repeats), each resolved in
    ``registry`` and checked against ``dataset``; a mistake is a one-line UserError."""
    if not isinstance(text, str) or not text.split():
        raise UserError("find space is empty: give proxy names and/or factor=v1,v2 tokens, e.g. "
                        "\"synflow,nwot c=4 r=4 s=8 e=2 read=all\"")
    names: list[str] = []
    factors: dict[str, str] = {}
    for token in text.split():
        factor, eq, values = token.partition("=")
        if eq and factor.isalpha():    # a proxy name may hold "=" (learned:...:label=L:...)
            if factor not in FACTORS:
                raise UserError(f"find space: unknown factor {factor!r} in {token!r}; factors: "
                                f"{', '.join(FACTORS)}")
            if factor in factors:
                raise UserError(f"find space: factor {factor!r} given twice")
            if not values:
                raise UserError(f"find space: {token!r} gives no values")
            factors[factor] = values
        else:
            names += comma_list(token, "find space", "proxies")
    if factors:
        names += _grid(factors)
    if not names:
        raise UserError(f"find space {text!r} names no candidate")
    for name in names:
        registry.get(name).check(dataset)     # unknown name: the registry's one line
    return tuple(dict.fromkeys(names))
