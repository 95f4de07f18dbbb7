"""The CPU kernels for small maps (nb201/training/kernels.py, BoxPool) compute what PyTorch's
own layers compute, values and gradients, in float64; and the forked worker processes
(nb201/training/processes.py) return results in order, pass messages and report failures."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nb201.training import processes
from nb201.training.fused import BoxPool
from nb201.training.kernels import Conv2d

CL = torch.channels_last
ROOT = Path(__file__).resolve().parent.parent

#: (c_in, c_out, side, kernel, stride, channels-last, bias): 1x1 as a matrix product over the
#: channels, small maps as one dense product (both layouts, stride 2, bias), maps too large for it
CASES = [(8, 8, 4, 1, 1, True, False), (4, 8, 4, 1, 1, False, True), (16, 32, 8, 1, 1, True, False),
         (16, 16, 2, 3, 1, True, False), (8, 16, 4, 3, 2, True, False),
         (4, 8, 8, 3, 2, False, False), (4, 4, 4, 3, 1, False, True), (16, 16, 2, 3, 1, True, True),
         (3, 4, 1, 3, 1, False, False), (5, 6, 3, 3, 1, True, True), (4, 4, 8, 3, 1, False, False),
         (4, 8, 4, 1, 1, False, False), (16, 16, 4, 3, 1, True, False)]


def _grads(module: nn.Module, x: torch.Tensor, g: torch.Tensor):
    x = x.detach().clone().requires_grad_(True)
    y = module(x)
    grads = torch.autograd.grad(y, [x, *module.parameters()], g)
    return y, grads


@pytest.mark.parametrize("c_in,c_out,side,kernel,stride,last,bias", CASES)
def test_conv_equals_torch_conv(c_in, c_out, side, kernel, stride, last, bias, float64):
    torch.manual_seed(0)
    ours = Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=bias)
    theirs = nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=bias)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(5, c_in, side, side)
    if last:
        x = x.contiguous(memory_format=CL)
    y, grads = _grads(ours, x, g := torch.randn_like(theirs(x)))
    y_ref, grads_ref = _grads(theirs, x, g)
    assert y.dtype == torch.float64 and y.shape == y_ref.shape
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # the layout is kept: channels-last in, channels-last out (layers after it expect it)
    assert y.is_contiguous(memory_format=CL) == x.is_contiguous(memory_format=CL)
    with torch.inference_mode():        # evaluation first must not break training after it
        ours(x)
    _grads(ours, x, g)


@pytest.mark.parametrize("channels,side,last", [(4, 8, False), (8, 4, True), (16, 2, True),
                                                (4, 16, False), (3, 3, False), (2, 5, True)])
def test_box_pool_equals_avg_pool(channels, side, last, float64):
    x = torch.randn(5, channels, side, side)
    if last:
        x = x.contiguous(memory_format=CL)
    pool = BoxPool(channels)
    with torch.inference_mode():        # its cached matrices are made outside inference mode
        pool(x)
    y, (gx,) = _grads(pool, x, g := torch.randn_like(x))
    y_ref, (gx_ref,) = _grads(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), x, g)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-12, atol=1e-12)


def test_conv_keeps_mkldnn_for_grouped_convs():
    conv = Conv2d(8, 8, 3, padding=1, groups=2, bias=False)
    x = torch.randn(2, 8, 2, 2)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, padding=1, groups=2))


def test_processes_return_in_order_and_pass_messages():
    if not processes.available():
        pytest.skip("no fork here")
    seen = []

    def task(i, send):
        send(("progress", i, os.getpid()))
        return {"i": i, "square": torch.tensor(float(i * i))}

    out = processes.run(task, 7, 2, seen.append)
    assert [o["i"] for o in out] == list(range(7))
    assert [o["square"].item() for o in out] == [i * i for i in range(7)]
    assert sorted(m[1] for m in seen) == list(range(7))
    assert os.getpid() not in {m[2] for m in seen}


def test_processes_report_a_failure_and_a_dead_worker():
    if not processes.available():
        pytest.skip("no fork here")

    def fails(i, send):
        if i == 2:
            raise ValueError("bad group 2")
        return i

    with pytest.raises(RuntimeError, match="bad group 2"):
        processes.run(fails, 4, 2, lambda m: None)

    def dies(i, send):
        os._exit(3)

    with pytest.raises(RuntimeError, match="exit code 3"):
        processes.run(dies, 2, 2, lambda m: None)

    def leaves(i, send):
        os._exit(0)                     # exits "cleanly" without its result: still an error

    with pytest.raises(RuntimeError, match="exit code 0"):
        processes.run(leaves, 2, 2, lambda m: None)


def test_workers_die_with_a_killed_parent(tmp_path):
    if not processes.available():
        pytest.skip("no fork here")
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, sys, time\n"
        "from nb201.training import processes\n"
        "def task(i, send):\n"
        f"    open(os.path.join({str(tmp_path)!r}, f'worker{{os.getpid()}}'), 'w').close()\n"
        "    time.sleep(60)\n"
        "processes.run(task, 2, 2, print)\n")
    parent = subprocess.Popen([sys.executable, str(script)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("worker*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(p.name.removeprefix("worker")) for p in tmp_path.glob("worker*")]
    parent.kill()
    parent.wait()
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
