"""Why a CPU training step of a reduced NB201 network costs what it does, and whether other
kernels would do better: three measurements on one thread, side by side in one run.

    python perf/cpu_kernels.py [--proxy c4r4s0e2] [--archs 11759,10533,8177,7648]

1. steps: ms per engine training step (batch 256) of each arch, with mkldnn on (the default) and
   off (PyTorch's own kernels), each in the engine's per-stage layout;
2. calls: over the same archs, the convolution calls (forward and backward) that take longest
   in total, with their input and weight shapes, from torch.profiler;
3. alternatives: ms for forward + backward of one op on a batch of 256 at the shapes the reduced
   networks have: the engine's own kernels (nb201/training/kernels.py: small maps as one
   dense matrix product, 1x1 in channels-last as a product over the channels; BoxPool), mkldnn's
   convolution and avg_pool2d, and the obvious replacements: a 1x1 conv as a batched matmul, a
   3x3 conv as im2col + matmul, the pooling's box filter as a depthwise conv (engine version 2)
   and as shifted adds.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from nb201 import groundtruth as gt
from nb201.training import torch_trainer
from nb201.training.fused import BoxPool
from nb201.training.kernels import Conv2d
from perf.profile_training import one_network
from proxies.training import recipe_for

SHAPES = ((4, 8), (8, 4), (16, 2), (8, 16), (16, 8), (32, 4))  # (channels, side)


def _model(index: int, recipe, resolution: int):
    model, optimizer = one_network(index, recipe, 10, 0)
    x = torch.randn(256, 3, resolution, resolution).contiguous(memory_format=model.input_format)
    return model, optimizer, x, torch.randint(0, 10, (256,))


def step_ms(index: int, recipe, resolution: int, steps: int = 8) -> float:
    model, optimizer, x, y = _model(index, recipe, resolution)
    for _ in range(2):
        torch_trainer.train_step(model, optimizer, x, y)
    began = time.perf_counter()
    for _ in range(steps):
        torch_trainer.train_step(model, optimizer, x, y)
    return (time.perf_counter() - began) / steps * 1e3


def conv_calls(indices: list[int], recipe, resolution: int, top: int = 10) -> list[dict]:
    """The convolution calls of 5 training steps of each arch, by (op, input and weight shape),
    slowest in total first."""
    models = [_model(i, recipe, resolution) for i in indices]
    for model, optimizer, x, y in models:
        torch_trainer.train_step(model, optimizer, x, y)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for model, optimizer, x, y in models:
            for _ in range(5):
                torch_trainer.train_step(model, optimizer, x, y)
    rows = [e for e in prof.key_averages(group_by_input_shape=True)
            if e.key in ("aten::mkldnn_convolution", "aten::convolution_backward")]
    rows.sort(key=lambda e: -e.self_cpu_time_total)
    return [{"op": e.key.removeprefix("aten::"), "calls": e.count,
             "ms_per_call": round(e.self_cpu_time_total / e.count / 1e3, 3),
             "input": e.input_shapes[0], "weight": e.input_shapes[1 if "mkldnn" in e.key else 2]}
            for e in rows[:top]]


def _box_shifted(x: torch.Tensor) -> torch.Tensor:
    p = F.pad(x, (1, 1, 1, 1))
    rows = p[..., :-2] + p[..., 1:-1] + p[..., 2:]
    return rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]


def op_ms(fn, x: torch.Tensor, seconds: float = 0.3, least: int = 10) -> float:
    """ms per forward + backward of ``fn`` on ``x``, with a gradient laid out as the output (as in
    training; a ``.sum().backward()`` gradient is an expanded scalar, which some kernels take a
    slow path for): 5 warm-up calls, then as many as fill ``seconds`` (at least ``least``)."""
    y = fn(x)
    grad = torch.randn_like(y)
    for _ in range(5):
        fn(x).backward(grad)
    calls, began = 0, time.perf_counter()
    while calls < least or time.perf_counter() - began < seconds:
        fn(x).backward(grad)
        calls += 1
    return (time.perf_counter() - began) / calls * 1e3


def alternatives(channels: int, side: int, channels_last: bool) -> dict:
    """ms (forward + backward) of each way to run the ops of one shape, the engine's own first."""
    x = torch.randn(256, channels, side, side)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    c = channels
    w1 = torch.randn(c, c, 1, 1, requires_grad=True)
    w3 = torch.randn(c, c, 3, 3, requires_grad=True)
    w3s2 = torch.randn(2 * c, c, 3, 3, requires_grad=True)
    ones = torch.ones(c, 1, 3, 3)
    counts = F.avg_pool2d(torch.ones(1, 1, side, side), 3, 1, 1, count_include_pad=True) * 9
    ours1, ours3 = Conv2d(c, c, 1, bias=False), Conv2d(c, c, 3, padding=1, bias=False)
    ours3s2 = Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False)
    return {"conv1x1 engine": op_ms(ours1, x),
            "conv1x1 mkldnn": op_ms(lambda t: F.conv2d(t, w1), x),
            "conv1x1 matmul": op_ms(lambda t: torch.matmul(w1.view(c, c), t.flatten(2)).view_as(t), x),
            "conv3x3 engine": op_ms(ours3, x),
            "conv3x3 mkldnn": op_ms(lambda t: F.conv2d(t, w3, padding=1), x),
            "conv3x3 im2col+matmul": op_ms(lambda t: torch.matmul(w3.view(c, -1), F.unfold(t, 3, padding=1))
                                           .view(t.shape[0], c, side, side), x),
            "conv3x3 stride 2, c -> 2c, engine": op_ms(ours3s2, x),
            "conv3x3 stride 2, c -> 2c, mkldnn": op_ms(lambda t: F.conv2d(t, w3s2, stride=2, padding=1), x),
            "avg pool engine (BoxPool)": op_ms(BoxPool(c), x),
            "avg pool as depthwise conv (engine v2)": op_ms(
                lambda t: F.conv2d(t, ones, padding=1, groups=c) / counts, x),
            "avg pool avg_pool2d": op_ms(lambda t: F.avg_pool2d(t, 3, 1, 1, count_include_pad=False), x),
            "avg pool shifted adds": op_ms(_box_shifted, x)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", default="c4r4s0e2")
    parser.add_argument("--archs", default="11759,10533,8177,7648", help="NB201 indices")
    args = parser.parse_args(argv)
    recipe, _ = recipe_for(args.proxy)
    resolution = recipe.resolution(32)
    indices = [int(i) for i in args.archs.split(",")]
    torch.set_num_threads(1)
    out: dict = {"proxy": args.proxy, "load_average_before": os.getloadavg()[0], "steps_ms": {}}
    for enabled in (True, False):
        torch.backends.mkldnn.enabled = enabled
        out["steps_ms"][f"mkldnn {'on' if enabled else 'off'}"] = {
            str(gt.arch_of(i)): round(step_ms(i, recipe, resolution), 2) for i in indices}
    torch.backends.mkldnn.enabled = True
    out["conv_calls"] = conv_calls(indices, recipe, resolution)
    out["alternatives_ms"] = {f"{c}ch {s}x{s} {fmt}": {k: round(v, 3) for k, v in
                                                       alternatives(c, s, fmt == "channels-last").items()}
                              for c, s in SHAPES for fmt in ("NCHW", "channels-last")}
    out["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
