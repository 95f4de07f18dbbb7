"""Convolutions on a CPU for the tiny feature maps of reduced networks.

At 4 channels and 8x8 inputs an NB201 network's later stages work on 4x4 and 2x2 maps, where a
convolution call costs mkldnn's fixed overhead many times over its arithmetic (docs/BENCHMARKS.md,
"Where the time goes"). There a convolution is cheaper as what it is, a linear map of the whole
small map: one matrix product with a dense matrix gathered from the kernel (:func:`dense_conv`),
and a 1x1 convolution in channels-last is a matrix product over the channels (:func:`Conv2d`).
Both compute the same sums as the convolution, in another order (the same values up to float
rounding; tests/test_kernels.py compares them in float64).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from nb201.devices import accelerated

#: A convolution runs as one dense matrix product when its input map has at most 9 pixels (the
#: dense matrix then has no more entries than the kernel has taps over the map) or when the dense
#: matrix has at most this many entries. Measured (``python perf/cpu_kernels.py``, forward and
#: backward, batch 256, one thread): 4.1x faster than mkldnn for a 3x3 conv at 16 channels on
#: 2x2, 2.8x for the stride-2 reduction 8 -> 16 channels at 4x4, 2.3x for 4 -> 8 at 8x8, 1.1x at
#: 8 channels on 4x4; slower (a development measurement) from 16 channels on 4x4 and at 4
#: channels on 8x8 (matrices of 2**16 entries and more, mostly zeros).
DENSE_MAX_ENTRIES = 2 ** 15
#: A 1x1 convolution in channels-last runs as a matrix product over the channels on maps of at
#: most this many pixels (1.1-1.8x faster than mkldnn there, 8 to 32 channels, perf/cpu_kernels.py;
#: up to 2x slower on 8x8 and larger maps, a development measurement).
LINEAR_MAX_PIXELS = 16


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, state-dict names and results up to float rounding) whose
    forward on a CPU, for one network (``groups=1``), takes the cheapest of: a 1x1 convolution of
    a small channels-last map as a matrix product over the channels; a small map as
    :func:`dense_conv`; else mkldnn's convolution."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        if (accelerated(x.device) or self.groups != 1 or self.padding_mode != "zeros"
                or self.dilation != (1, 1) or not isinstance(self.padding, tuple)):
            return super()._conv_forward(x, weight, bias)
        h, w = x.shape[-2:]
        if (self.kernel_size == (1, 1) and self.stride == (1, 1) and _channels_last(x)
                and h * w <= LINEAR_MAX_PIXELS):
            return F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias).permute(0, 3, 1, 2)
        ho, wo = _output_size(h, w, self.kernel_size, self.stride, self.padding)
        if h * w <= 9 or ho * wo * h * w * weight.shape[0] * weight.shape[1] <= DENSE_MAX_ENTRIES:
            return dense_conv(x, weight, bias, self.stride, self.padding)
        return super()._conv_forward(x, weight, bias)


def dense_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
               stride: tuple[int, int], padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding)`` (zero padding, no groups) as one matrix
    product: the map's pixels times a dense (input pixels x channels, output pixels x channels)
    matrix whose entries are the kernel taps that join each input pixel to each output pixel
    (zero where none does), built from ``weight`` by a product with a fixed 0/1 selection matrix,
    so gradients reach the kernel through matrix products only. The result has ``x``'s memory
    format (channels-last in, channels-last out)."""
    n, c, h, w = x.shape
    o = weight.shape[0]
    ho, wo, selection = _selection(h, w, tuple(weight.shape[-2:]), stride, padding, x.dtype)
    p, q = ho * wo, h * w
    taps = (weight.reshape(o * c, -1) @ selection).view(o, c, p, q)
    if _channels_last(x):
        matrix = taps.permute(3, 1, 2, 0).reshape(q * c, p * o)       # rows (pixel, channel)
        flat = x.permute(0, 2, 3, 1).reshape(n, q * c)
        y = flat @ matrix if bias is None else torch.addmm(bias.repeat(p), flat, matrix)
        return y.view(n, ho, wo, o).permute(0, 3, 1, 2)
    matrix = taps.permute(1, 3, 0, 2).reshape(c * q, o * p)           # rows (channel, pixel)
    flat = x.reshape(n, c * q)
    y = flat @ matrix if bias is None else torch.addmm(bias.repeat_interleave(p), flat, matrix)
    return y.view(n, o, ho, wo)


def _channels_last(x: torch.Tensor) -> bool:
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _output_size(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]) -> tuple[int, int]:
    return ((h + 2 * padding[0] - kernel[0]) // stride[0] + 1,
            (w + 2 * padding[1] - kernel[1]) // stride[1] + 1)


@functools.lru_cache(maxsize=256)
def _selection(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int], dtype: torch.dtype) -> tuple[int, int, torch.Tensor]:
    """(output height, width, the (kernel taps, output pixels * input pixels) 0/1 matrix: tap t
    joins output pixel p to input pixel q). Cached, so read only; made outside inference mode, so
    that training may use it after an evaluation."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = _output_size(h, w, kernel, stride, padding)
    with torch.inference_mode(False):
        out_y, out_x, tap_y, tap_x = torch.meshgrid(torch.arange(ho), torch.arange(wo),
                                                    torch.arange(kh), torch.arange(kw), indexing="ij")
        in_y, in_x = out_y * sh - ph + tap_y, out_x * sw - pw + tap_x
        inside = (in_y >= 0) & (in_y < h) & (in_x >= 0) & (in_x < w)
        selection = torch.zeros(kh * kw, ho * wo, h * w, dtype=dtype)
        tap, out = (tap_y * kw + tap_x)[inside], (out_y * wo + out_x)[inside]
        selection[tap, out, (in_y * w + in_x)[inside]] = 1
        return ho, wo, selection.view(kh * kw, -1)
