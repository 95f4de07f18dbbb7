"""The registry (duplicates, typo hints, families, copies) and the proxy interface's metadata."""
import pytest

from nb201.errors import UserError
from nb201.api import Proxy, proxy_registry


def test_registry_refuses_duplicates_and_suggests_on_typos():
    reg = proxy_registry()
    reg.register(Proxy("synflow", "zero-cost"))
    with pytest.raises(ValueError):
        reg.register(Proxy("synflow", "zero-cost"))
    with pytest.raises(UserError, match="did you mean 'synflow'"):
        reg.get("synflwo")
    assert reg.get("synflow").kind == "zero-cost"


def test_registry_families_resolve_patterns():
    reg = proxy_registry()
    reg.family("x{n}", lambda name, registry: Proxy(name, "training") if name.startswith("x") else None)
    assert reg.get("x12").name == "x12"
    with pytest.raises(UserError, match="x\\{n\\}"):
        reg.get("y12")


def test_proxy_kind_is_checked():
    with pytest.raises(ValueError):
        Proxy("p", "magic")


def test_every_registered_proxy_has_metadata():
    from proxies import REGISTRY
    names = REGISTRY.names()
    assert {"params", "flops", "nb201-12ep", "random"} <= set(names)
    for proxy in REGISTRY:
        d = proxy.describe()
        assert set(d) >= {"name", "kind", "higher_is_better", "version", "cost"}
        assert d["kind"] in ("table", "zero-cost", "training") and isinstance(d["version"], int)


def test_what_a_kind_implies_is_asked_through_the_proxy():
    from proxies import REGISTRY
    learned = REGISTRY.get("learned:ridge:10:graph")
    assert all(p.lookup == (p.kind == "table") for p in REGISTRY)
    assert learned.reads_scores and not any(p.reads_scores for p in REGISTRY)
    order = [REGISTRY.get(n) for n in ("params", "synflow", "c4r4s0e1", learned.name)]
    assert [p.cost_rank for p in order] == [0, 1, 2, 3]
    assert [p.describe()["cost"] for p in order] == [
        "lookup", "forward/backward passes", "training", "its features per arch, its labels once"]


def test_registry_copy_is_independent():
    reg = proxy_registry()
    reg.register(Proxy("a", "table"))
    own = reg.copy()
    own.register(Proxy("b", "table"))
    assert "b" in own and "a" in own and "b" not in reg
