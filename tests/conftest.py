"""Shared fixtures: a registry of the test's own, and isolation from the user's data settings."""
import pytest
import torch

import proxies
from nb201.registry import Registry


@pytest.fixture
def registry(monkeypatch) -> Registry:
    """A copy of the suite's registry (every proxy and family) that a test may register into;
    the CLI (which reads ``proxies.REGISTRY`` when a command runs) uses it for the duration of the test, and the suite's own registry is untouched."""
    own = proxies.REGISTRY.copy()
    monkeypatch.setattr(proxies, "REGISTRY", own)
    return own


@pytest.fixture(autouse=True)
def reference_cpu(monkeypatch):
    """Plans scale cost_s by the CPU's measured speed (nb201.training.sizing.cpu_speed_factor):
    fixed at 1 in tests, so that estimates do not depend on the machine or its load."""
    monkeypatch.setenv("NB201_CPU_FACTOR", "1")


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No $NB201_DATA_DIR, and a dataset cache of the test's own."""
    monkeypatch.delenv("NB201_DATA_DIR", raising=False)
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def one_thread():
    """One intra-op thread: tiny networks run faster so (on a busy 2-core machine, many times
    faster), and the engine's own worker threads take one each anyway."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def float64():
    """Networks, fused modules and random inputs built in float64 (the engine follows the model's
    dtype), so that two code paths agree to float64 rounding, on any CPU's kernels."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.fixture(autouse=True, scope="session")
def no_shipped_packs():
    """Stores serve no shipped results pack (data/results/) unless a test asks for one, so that
    what a test computes or reads does not depend on the suite's shipped measurements. Session
    scope: module-scoped fixtures (a report built once for a file) are set up before any
    function-scoped one, and must not see the packs either."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NB201_PACKS", "none")
        yield
