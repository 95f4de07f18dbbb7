"""Numba kernels for one small NB201 network on a CPU, batch innermost.

A feature map of C channels, H x W pixels and a batch of B images is a C-contiguous array
``(C, H, W*B)``: pixel (y, x) of image b is ``[c, y, x*B + b]``. With the batch innermost, every
kernel's inner loop runs over a whole row of ``W*B`` values (``B`` where the map is strided), so it
vectorises whatever the channel counts, and a convolution needs no im2col copy: a 3x3 tap at row
y is the row shifted by ``B`` values. Inputs of 3x3 convolutions are kept *padded*,
``(C, H+2, (W+2)*B)`` with a zero border written once, so no tap needs a bounds test.

These are the forward and backward passes of NB201's ops written for these shapes (measured in
docs/BENCHMARKS.md, "Engine v4"): convolution (3x3 stride 1 or 2, 1x1: forward, input gradient,
weight gradient), batch norm fused with what follows it (training: batch statistics, running
statistics updated as ``nn.BatchNorm2d`` does; evaluation: running statistics), ReLU, NB201's 3x3
average pool (``count_include_pad=False``), the reduction block's 2x2 average pool, and the head
(ReLU, global average pool; cross-entropy). Each computes the same sums as PyTorch's op, in
another order (tests/test_direct.py compares them with PyTorch in float64). Every kernel is generic
in the float type (compiled once per type, cached on disk) and releases the GIL.

Inner loops index 1-d slices from 0: an index into a row at a run-time offset (``row[j + B]``)
makes numba test for negative indices on every access, which stops vectorisation (4x slower).
``acc`` arguments: True adds the result into the output, False overwrites it.
"""
from __future__ import annotations

import numba as nb
import numpy as np

#: Reassociation and contraction (fused multiply-add) only: NaN and inf keep their meaning, so a
#: diverging network gives NaN as PyTorch would, not arbitrary values.
_FAST = {"reassoc", "contract", "nsz", "arcp"}
kernel = nb.njit(cache=True, nogil=True, fastmath=_FAST)
#: Floats of input and gradient rows that a kernel's block of rows may span (1 MB: half an L2).
CACHE_FLOATS = 2 ** 18


# ------------------------------------------------------------------ convolution

@kernel
def _taps(w, o, c, transposed):
    """The 9 taps joining input channel c to output channel o, row by row; transposed: of the
    flipped, transposed weight (a stride-1 convolution's input gradient)."""
    if transposed:
        return (w[c, o, 2, 2], w[c, o, 2, 1], w[c, o, 2, 0], w[c, o, 1, 2], w[c, o, 1, 1],
                w[c, o, 1, 0], w[c, o, 0, 2], w[c, o, 0, 1], w[c, o, 0, 0])
    return (w[o, c, 0, 0], w[o, c, 0, 1], w[o, c, 0, 2], w[o, c, 1, 0], w[o, c, 1, 1],
            w[o, c, 1, 2], w[o, c, 2, 0], w[o, c, 2, 1], w[o, c, 2, 2])


@kernel
def conv3(xp, w, y, batch, stride, transposed, acc):
    """3x3 convolution of the padded map ``xp`` (Ci, H+2, (W+2)*B) into ``y`` (Co, Ho, Wo*B),
    stride 1 or 2, padding 1. ``transposed``: use ``w`` (Ci, Co, 3, 3) flipped and transposed,
    which gives a stride-1 convolution's input gradient from its padded output gradient. At
    stride 1 two output channels share each pass over the input."""
    co, ho, n = y.shape
    ci = xp.shape[0]
    b = batch
    wo = n // b
    if not acc:
        y[:] = 0
    for oy in range(ho):                   # the input rows of one output row stay in cache
        o = 0
        while o < co:
            pair = stride == 1 and o + 1 < co
            out0 = y[o, oy]
            out1 = y[o + 1, oy] if pair else out0
            for c in range(ci):
                a0, a1, a2, a3, a4, a5, a6, a7, a8 = _taps(w, o, c, transposed)
                p0, p1, p2 = xp[c, stride * oy], xp[c, stride * oy + 1], xp[c, stride * oy + 2]
                if stride == 1:
                    x0, x1, x2 = p0[0:n], p0[b:b + n], p0[2 * b:2 * b + n]
                    x3, x4, x5 = p1[0:n], p1[b:b + n], p1[2 * b:2 * b + n]
                    x6, x7, x8 = p2[0:n], p2[b:b + n], p2[2 * b:2 * b + n]
                    if pair:
                        b0, b1, b2, b3, b4, b5, b6, b7, b8 = _taps(w, o + 1, c, transposed)
                        for j in range(n):
                            v0, v1, v2, v3, v4 = x0[j], x1[j], x2[j], x3[j], x4[j]
                            v5, v6, v7, v8 = x5[j], x6[j], x7[j], x8[j]
                            out0[j] += (a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3 + a4 * v4
                                        + a5 * v5 + a6 * v6 + a7 * v7 + a8 * v8)
                            out1[j] += (b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3 + b4 * v4
                                        + b5 * v5 + b6 * v6 + b7 * v7 + b8 * v8)
                    else:
                        for j in range(n):
                            out0[j] += (a0 * x0[j] + a1 * x1[j] + a2 * x2[j] + a3 * x3[j]
                                        + a4 * x4[j] + a5 * x5[j] + a6 * x6[j] + a7 * x7[j]
                                        + a8 * x8[j])
                else:
                    for ox in range(wo):
                        s = stride * ox * b
                        x0, x1, x2 = p0[s:s + b], p0[s + b:s + 2 * b], p0[s + 2 * b:s + 3 * b]
                        x3, x4, x5 = p1[s:s + b], p1[s + b:s + 2 * b], p1[s + 2 * b:s + 3 * b]
                        x6, x7, x8 = p2[s:s + b], p2[s + b:s + 2 * b], p2[s + 2 * b:s + 3 * b]
                        out = out0[ox * b:ox * b + b]
                        for i in range(b):
                            out[i] += (a0 * x0[i] + a1 * x1[i] + a2 * x2[i] + a3 * x3[i]
                                       + a4 * x4[i] + a5 * x5[i] + a6 * x6[i] + a7 * x7[i]
                                       + a8 * x8[i])
            o += 2 if pair else 1


@kernel
def conv3_scatter(dy, w, xp, batch, stride, acc):
    """The input gradient of a 3x3 convolution of stride ``stride``, into the padded map ``xp``
    (Ci, H+2, (W+2)*B; border included), from its output gradient ``dy`` (Co, Ho, Wo*B) and
    weight ``w`` (Co, Ci, 3, 3): each output pixel's gradient spread back over its taps."""
    co, ho, n = dy.shape
    ci = xp.shape[0]
    b = batch
    wo = n // b
    if not acc:
        xp[:] = 0
    for c in range(ci):
        for o in range(co):
            for oy in range(ho):
                g = dy[o, oy]
                for ky in range(3):
                    row = xp[c, stride * oy + ky]
                    a0, a1, a2 = w[o, c, ky, 0], w[o, c, ky, 1], w[o, c, ky, 2]
                    for ox in range(wo):
                        s = stride * ox * b
                        gs = g[ox * b:ox * b + b]
                        r0, r1, r2 = row[s:s + b], row[s + b:s + 2 * b], row[s + 2 * b:s + 3 * b]
                        for i in range(b):
                            v = gs[i]
                            r0[i] += a0 * v
                            r1[i] += a1 * v
                            r2[i] += a2 * v


@kernel
def conv3_weight_grad(xp, dy, dpad, dw, batch, stride):
    """The weight gradient ``dw`` (Co, Ci, 3, 3) of a 3x3 convolution of the padded map ``xp``
    with output gradient ``dy`` (Co, Ho, Wo*B), itself padded by ``dpad`` (its interior read)."""
    b = batch
    co = dy.shape[0]
    ho = dy.shape[1] - 2 * dpad
    n = dy.shape[2] - 2 * dpad * b
    off = dpad * b
    ci = xp.shape[0]
    wo = n // b
    dt = dy.dtype.type
    dw[:] = 0
    # blocks of output rows whose input and gradient rows fit in cache; within a block, the sums
    # of a (o, c) pair run over all its rows (fewer reductions of vector registers)
    rows = max(1, CACHE_FLOATS // ((ci + co) * (n + 2 * b)))
    for first in range(0, ho, rows):
        last = min(ho, first + rows)
        for o in range(co):
            for c in range(ci):
                s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = dt(0)
                for oy in range(first, last):
                    grow = dy[o, oy + dpad]
                    p0 = xp[c, stride * oy]
                    p1 = xp[c, stride * oy + 1]
                    p2 = xp[c, stride * oy + 2]
                    if stride == 1:
                        g = grow[off:off + n]
                        x0, x1, x2 = p0[0:n], p0[b:b + n], p0[2 * b:2 * b + n]
                        x3, x4, x5 = p1[0:n], p1[b:b + n], p1[2 * b:2 * b + n]
                        x6, x7, x8 = p2[0:n], p2[b:b + n], p2[2 * b:2 * b + n]
                        for j in range(n):
                            v = g[j]
                            s0 += v * x0[j]
                            s1 += v * x1[j]
                            s2 += v * x2[j]
                            s3 += v * x3[j]
                            s4 += v * x4[j]
                            s5 += v * x5[j]
                            s6 += v * x6[j]
                            s7 += v * x7[j]
                            s8 += v * x8[j]
                    else:
                        for ox in range(wo):
                            s = stride * ox * b
                            g = grow[off + ox * b:off + ox * b + b]
                            x0, x1, x2 = p0[s:s + b], p0[s + b:s + 2 * b], p0[s + 2 * b:s + 3 * b]
                            x3, x4, x5 = p1[s:s + b], p1[s + b:s + 2 * b], p1[s + 2 * b:s + 3 * b]
                            x6, x7, x8 = p2[s:s + b], p2[s + b:s + 2 * b], p2[s + 2 * b:s + 3 * b]
                            for i in range(b):
                                v = g[i]
                                s0 += v * x0[i]
                                s1 += v * x1[i]
                                s2 += v * x2[i]
                                s3 += v * x3[i]
                                s4 += v * x4[i]
                                s5 += v * x5[i]
                                s6 += v * x6[i]
                                s7 += v * x7[i]
                                s8 += v * x8[i]
                dw[o, c, 0, 0] += s0
                dw[o, c, 0, 1] += s1
                dw[o, c, 0, 2] += s2
                dw[o, c, 1, 0] += s3
                dw[o, c, 1, 1] += s4
                dw[o, c, 1, 2] += s5
                dw[o, c, 2, 0] += s6
                dw[o, c, 2, 1] += s7
                dw[o, c, 2, 2] += s8


@kernel
def conv1(x, w, y, batch, pad, transposed, acc):
    """1x1 convolution of ``x`` (Ci, H+2*pad, (W+2*pad)*B: the interior is read) into ``y``
    (Co, H, W*B) with ``w`` (Co, Ci), or ``w.T`` when ``transposed`` (an input gradient). Four
    input channels per pass over the output."""
    co, h, n = y.shape
    ci = x.shape[0]
    off = pad * batch
    if not acc:
        y[:] = 0
    for oy in range(h):
        for o in range(co):
            out = y[o, oy]
            c = 0
            while c < ci:
                r0 = x[c, oy + pad][off:off + n]
                w0 = w[c, o] if transposed else w[o, c]
                if c + 3 < ci:
                    r1 = x[c + 1, oy + pad][off:off + n]
                    r2 = x[c + 2, oy + pad][off:off + n]
                    r3 = x[c + 3, oy + pad][off:off + n]
                    if transposed:
                        w1, w2, w3 = w[c + 1, o], w[c + 2, o], w[c + 3, o]
                    else:
                        w1, w2, w3 = w[o, c + 1], w[o, c + 2], w[o, c + 3]
                    for j in range(n):
                        out[j] += w0 * r0[j] + w1 * r1[j] + w2 * r2[j] + w3 * r3[j]
                    c += 4
                else:
                    for j in range(n):
                        out[j] += w0 * r0[j]
                    c += 1


@kernel
def conv1_weight_grad(x, dy, dw, batch, pad):
    """The weight gradient ``dw`` (Co, Ci) of a 1x1 convolution of ``x`` (interior of a map
    padded by ``pad``) with output gradient ``dy`` (Co, H, W*B)."""
    co, h, n = dy.shape
    ci = x.shape[0]
    off = pad * batch
    dt = dy.dtype.type
    dw[:] = 0
    for oy in range(h):
        for o in range(co):
            g = dy[o, oy]
            for c in range(ci):
                r = x[c, oy + pad][off:off + n]
                s = dt(0)
                for j in range(n):
                    s += g[j] * r[j]
                dw[o, c] += s


# ------------------------------------------------------------------ ReLU, pools, adds

@kernel
def relu_pad(x, xp, pad, batch):
    """The interior of ``xp`` (a map padded by ``pad``) = max(x, 0); its zero border is left
    alone."""
    c_, h, n = x.shape
    zero = x.dtype.type(0)
    off = pad * batch
    for c in range(c_):
        for y in range(h):
            src, dst = x[c, y], xp[c, y + pad][off:off + n]
            for j in range(n):
                v = src[j]
                dst[j] = v if v > zero else zero


@kernel
def relu_grad(dr, dpad, xp, pad, dx, batch, acc):
    """``dx`` (C, H, W*B) (+)= the interior of ``dr`` (a map padded by ``dpad``) where the ReLU's
    output, the interior of ``xp`` (padded by ``pad``), is positive."""
    c_, h, n = dx.shape
    zero = dx.dtype.type(0)
    off = dpad * batch
    for c in range(c_):
        for y in range(h):
            g = dr[c, y + dpad][off:off + n]
            r = xp[c, y + pad][pad * batch:pad * batch + n]
            out = dx[c, y]
            if acc:
                for j in range(n):
                    out[j] += g[j] if r[j] > zero else zero
            else:
                for j in range(n):
                    out[j] = g[j] if r[j] > zero else zero


@kernel
def add(x, out, acc):
    """``out`` (+)= ``x`` (same shape, contiguous)."""
    a = x.reshape(-1)
    o = out.reshape(-1)
    if acc:
        for j in range(a.size):
            o[j] += a[j]
    else:
        for j in range(a.size):
            o[j] = a[j]


@kernel
def box3(x, out, batch, acc):
    """NB201's 3x3 average pool, stride 1, padding 1, ``count_include_pad=False``: ``out``
    (+)= each pixel's mean over its in-image 3x3 window."""
    c_, h, n = x.shape
    b = batch
    wd = n // b
    dt = x.dtype.type
    if not acc:
        out[:] = 0
    for c in range(c_):
        for y in range(h):
            dst = out[c, y]
            y0, y1 = max(0, y - 1), min(h, y + 2)
            for xx in range(wd):
                x0, x1 = max(0, xx - 1), min(wd, xx + 2)
                inv = dt(1.0 / ((y1 - y0) * (x1 - x0)))
                d = dst[xx * b:xx * b + b]
                for yy in range(y0, y1):
                    row = x[c, yy]
                    for xs in range(x0, x1):
                        s = row[xs * b:xs * b + b]
                        for i in range(b):
                            d[i] += s[i] * inv


@kernel
def box3_grad(g, dx, batch, acc):
    """``dx`` (+)= the input gradient of :func:`box3` for output gradient ``g``: pixel q
    receives g[p] / count(p) from every p of its own window (the window is symmetric)."""
    c_, h, n = g.shape
    b = batch
    wd = n // b
    dt = g.dtype.type
    if not acc:
        dx[:] = 0
    for c in range(c_):
        for y in range(h):
            dst = dx[c, y]
            y0, y1 = max(0, y - 1), min(h, y + 2)
            for xx in range(wd):
                x0, x1 = max(0, xx - 1), min(wd, xx + 2)
                d = dst[xx * b:xx * b + b]
                for yy in range(y0, y1):
                    ya, yb = max(0, yy - 1), min(h, yy + 2)
                    src = g[c, yy]
                    for xs in range(x0, x1):
                        xa, xb = max(0, xs - 1), min(wd, xs + 2)
                        inv = dt(1.0 / ((yb - ya) * (xb - xa)))
                        s = src[xs * b:xs * b + b]
                        for i in range(b):
                            d[i] += s[i] * inv


@kernel
def pool2(x, out, batch):
    """2x2 average pool, stride 2: ``out`` (C, H/2, W/2*B) from ``x`` (C, H, W*B)."""
    c_, h, n = out.shape
    b = batch
    wo = n // b
    quarter = x.dtype.type(0.25)
    for c in range(c_):
        for y in range(h):
            ra, rb, dst = x[c, 2 * y], x[c, 2 * y + 1], out[c, y]
            for xx in range(wo):
                s = 2 * xx * b
                a0, a1 = ra[s:s + b], ra[s + b:s + 2 * b]
                b0, b1 = rb[s:s + b], rb[s + b:s + 2 * b]
                d = dst[xx * b:xx * b + b]
                for i in range(b):
                    d[i] = quarter * (a0[i] + a1[i] + b0[i] + b1[i])


@kernel
def pool2_grad(g, dx, batch, acc):
    """``dx`` (+)= the input gradient of :func:`pool2` for output gradient ``g``."""
    c_, h, n = g.shape
    b = batch
    wo = n // b
    quarter = g.dtype.type(0.25)
    if not acc:
        dx[:] = 0
    for c in range(c_):
        for y in range(h):
            src, ra, rb = g[c, y], dx[c, 2 * y], dx[c, 2 * y + 1]
            for xx in range(wo):
                s = 2 * xx * b
                a0, a1 = ra[s:s + b], ra[s + b:s + 2 * b]
                b0, b1 = rb[s:s + b], rb[s + b:s + 2 * b]
                gs = src[xx * b:xx * b + b]
                for i in range(b):
                    v = quarter * gs[i]
                    a0[i] += v
                    a1[i] += v
                    b0[i] += v
                    b1[i] += v


# ------------------------------------------------------------------ batch norm

@kernel
def bn_train(y, gamma, beta, running_mean, running_var, momentum, eps, invstd, out, acc):
    """Training-mode batch norm of ``y`` (C, H, W*B) on its batch statistics. ``y`` becomes the
    normalised values (kept for the backward pass), ``invstd`` 1/sqrt(var + eps), ``out`` (+)=
    gamma * y + beta; the running statistics move by ``momentum`` (unbiased variance), as in
    ``nn.BatchNorm2d``."""
    c_, h, n = y.shape
    count = h * n
    dt = y.dtype.type
    for c in range(c_):
        shift = y[c, 0, 0]            # sums of (y - shift): no cancellation when |mean| >> std
        s = dt(0)
        s2 = dt(0)
        for r in range(h):
            row = y[c, r]
            for j in range(n):
                d = row[j] - shift
                s += d
                s2 += d * d
        mean = dt(shift + s / count)
        q = dt(max(s2 - s * s / count, 0.0))
        inv = dt(1.0 / np.sqrt(q / count + eps))
        invstd[c] = inv
        running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean
        running_var[c] = (1 - momentum) * running_var[c] + momentum * q / max(count - 1, 1)
        gm, bt = gamma[c], beta[c]
        for r in range(h):
            row, dst = y[c, r], out[c, r]
            if acc:
                for j in range(n):
                    v = (row[j] - mean) * inv
                    row[j] = v
                    dst[j] += gm * v + bt
            else:
                for j in range(n):
                    v = (row[j] - mean) * inv
                    row[j] = v
                    dst[j] = gm * v + bt


@kernel
def bn_eval(y, gamma, beta, running_mean, running_var, eps, out, acc):
    """Evaluation-mode batch norm of ``y`` on the running statistics: ``out`` (+)= the result."""
    c_, h, n = y.shape
    dt = y.dtype.type
    for c in range(c_):
        scale = dt(gamma[c] / np.sqrt(running_var[c] + eps))
        shift = dt(beta[c] - running_mean[c] * scale)
        for r in range(h):
            row, dst = y[c, r], out[c, r]
            if acc:
                for j in range(n):
                    dst[j] += row[j] * scale + shift
            else:
                for j in range(n):
                    dst[j] = row[j] * scale + shift


@kernel
def bn_of_zeros(gamma, beta, running_mean, running_var, momentum, eps, training, out, acc):
    """Batch norm of an all-zero input (a ReLU-Conv-BN edge whose source node is zero, as NB201
    runs it): ``out`` (+)= beta in training (the batch has mean 0 and variance 0, which the
    running statistics move towards), or the running statistics' affine map of 0 in evaluation."""
    c_, h, n = out.shape
    dt = out.dtype.type
    for c in range(c_):
        if training:
            value = beta[c]
            running_mean[c] = (1 - momentum) * running_mean[c]
            running_var[c] = (1 - momentum) * running_var[c]
        else:
            value = dt(beta[c] - running_mean[c] * gamma[c] / np.sqrt(running_var[c] + eps))
        for r in range(h):
            dst = out[c, r]
            if acc:
                for j in range(n):
                    dst[j] += value
            else:
                for j in range(n):
                    dst[j] = value


@kernel
def bn_grad(g, xhat, gamma, invstd, dgamma, dbeta, dy, pad, batch):
    """Training-mode batch norm's backward pass: from the output gradient ``g`` and the normalised
    values ``xhat`` (C, H, W*B), the parameter gradients and the input gradient ``dy``, written
    into the interior of a map padded by ``pad`` (its border is left alone)."""
    c_, h, n = g.shape
    count = h * n
    off = pad * batch
    dt = g.dtype.type
    for c in range(c_):
        sg = dt(0)
        sgx = dt(0)
        for r in range(h):
            gr, xr = g[c, r], xhat[c, r]
            for j in range(n):
                sg += gr[j]
                sgx += gr[j] * xr[j]
        dgamma[c] = sgx
        dbeta[c] = sg
        k = gamma[c] * invstd[c]
        mg, mgx = dt(sg / count), dt(sgx / count)
        for r in range(h):
            gr, xr, dst = g[c, r], xhat[c, r], dy[c, r + pad][off:off + n]
            for j in range(n):
                dst[j] = k * (gr[j] - mg - xr[j] * mgx)


@kernel
def channel_sums(g, out):
    """``out[c]`` = the sum of ``g[c]`` (the gradient of a BN's beta when its input is zero)."""
    c_, h, n = g.shape
    dt = g.dtype.type
    for c in range(c_):
        s = dt(0)
        for r in range(h):
            row = g[c, r]
            for j in range(n):
                s += row[j]
        out[c] = s


# ------------------------------------------------------------------ head and loss

@kernel
def pool_features(x, mask, features, batch):
    """ReLU then global average pool: ``features`` (C, B) = the mean over pixels of max(x, 0);
    ``mask`` (same shape as x) = 1 where x > 0, else 0, for the backward pass."""
    c_, h, n = x.shape
    b = batch
    wd = n // b
    dt = x.dtype.type
    zero, one = dt(0), dt(1)
    scale = dt(1.0 / (h * wd))
    for c in range(c_):
        f = features[c]
        f[:] = 0
        for r in range(h):
            row, m = x[c, r], mask[c, r]
            for xx in range(wd):
                v, mv = row[xx * b:xx * b + b], m[xx * b:xx * b + b]
                for i in range(b):
                    positive = v[i] > zero
                    mv[i] = one if positive else zero
                    f[i] += v[i] if positive else zero
        for i in range(b):
            f[i] *= scale


@kernel
def pool_features_grad(df, mask, dx, batch):
    """The backward pass of :func:`pool_features`: ``dx`` = df / pixels where x > 0."""
    c_, h, n = dx.shape
    b = batch
    wd = n // b
    scale = dx.dtype.type(1.0 / (h * wd))
    for c in range(c_):
        g = df[c]
        for r in range(h):
            m, dst = mask[c, r], dx[c, r]
            for xx in range(wd):
                mv, d = m[xx * b:xx * b + b], dst[xx * b:xx * b + b]
                for i in range(b):
                    d[i] = g[i] * scale * mv[i]


@kernel
def linear(features, w, bias, logits):
    """``logits`` (K, B) = w (K, C) @ features (C, B) + bias."""
    for o in range(w.shape[0]):
        out = logits[o]
        out[:] = bias[o]
        for c in range(w.shape[1]):
            wv, f = w[o, c], features[c]
            for i in range(out.size):
                out[i] += wv * f[i]


@kernel
def linear_grad(dlogits, features, w, dw, dbias, df):
    """The backward pass of :func:`linear`: ``dw``, ``dbias`` and the features' gradient ``df``."""
    dt = dlogits.dtype.type
    df[:] = 0
    for o in range(w.shape[0]):
        g = dlogits[o]
        s = dt(0)
        for i in range(g.size):
            s += g[i]
        dbias[o] = s
        for c in range(w.shape[1]):
            f, d = features[c], df[c]
            wv = w[o, c]
            s = dt(0)
            for i in range(g.size):
                s += g[i] * f[i]
                d[i] += wv * g[i]
            dw[o, c] = s


@kernel
def cross_entropy(logits, labels, smoothing, dlogits):
    """Mean cross-entropy (with label smoothing, as ``F.cross_entropy``) of ``logits``
    (classes, B) against ``labels`` (B,), in float64; ``dlogits`` = its gradient. Returns the
    loss."""
    k, b = logits.shape
    total = 0.0
    for i in range(b):
        m = -np.inf
        for c in range(k):
            m = max(m, float(logits[c, i]))
        z = 0.0
        for c in range(k):
            z += np.exp(float(logits[c, i]) - m)
        log_z = np.log(z) + m
        target = labels[i]
        for c in range(k):
            q = smoothing / k + (1.0 - smoothing if c == target else 0.0)
            total += q * (log_z - logits[c, i])
            dlogits[c, i] = (np.exp(float(logits[c, i]) - log_z) - q) / b
    return total / b


@kernel
def count_correct(logits, labels):
    """How many columns of ``logits`` (classes, B) have their first maximum at the label (a NaN
    counts as the maximum, as in ``torch.argmax``)."""
    k, b = logits.shape
    hits = 0
    for i in range(b):
        best = 0
        if not np.isnan(logits[0, i]):
            for c in range(1, k):
                v = logits[c, i]
                if np.isnan(v):
                    best = c
                    break
                if v > logits[best, i]:
                    best = c
        if best == labels[i]:
            hits += 1
    return hits


@kernel
def images_to_padded(x, xp, batch):
    """A normalised batch (B, 3, H, W) -> the interior of the padded first map (3, H+2, (W+2)*B)."""
    b_, c_, h, wd = x.shape
    for c in range(c_):
        for y in range(h):
            dst = xp[c, y + 1]
            for xx in range(wd):
                d = dst[(xx + 1) * batch:(xx + 1) * batch + b_]
                for i in range(b_):
                    d[i] = x[i, c, y, xx]


@nb.njit(cache=True, nogil=True)
def gather_batch(images, idx, dy, dx, flips, padding, mean, std, xp):
    """A training batch straight into the padded first map ``xp`` (3, H+2, (W+2)*B): images
    ``idx`` of the uint8 ``images`` (N, 3, H, W), randomly cropped from their zero-padded version
    at offsets (dy, dx), flipped where ``flips``, normalised ((x / 255 - mean) / std in the map's
    float type: the same values as :func:`nb201.training.augment.crop_flip` and ``normalize``).
    With padding 0, zero offsets and no flips: the images as they are (evaluation)."""
    b = idx.shape[0]
    h, w = images.shape[2], images.shape[3]
    dt = xp.dtype.type
    scale = dt(255)
    for c in range(images.shape[1]):
        m, s = dt(mean[c]), dt(std[c])
        black = (dt(0) / scale - m) / s
        for i in range(b):
            img = images[idx[i], c]
            oy, ox = dy[i] - padding, dx[i] - padding
            for y in range(h):
                sy = y + oy
                row = xp[c, y + 1]
                inside = 0 <= sy < h
                for x in range(w):
                    sx = (w - 1 - x if flips[i] else x) + ox
                    if inside and 0 <= sx < w:
                        row[(x + 1) * b + i] = (dt(img[sy, sx]) / scale - m) / s
                    else:
                        row[(x + 1) * b + i] = black


@nb.njit(cache=True, nogil=True)
def sgd(p, g, buf, lr, momentum, weight_decay, nesterov, first):
    """``torch.optim.SGD``'s step (dampening 0) on flat arrays: the gradient plus weight decay;
    momentum buffer = that (first step) or momentum * buffer + that; Nesterov adds momentum *
    buffer to the gradient, else the buffer is the step; p -= lr * step."""
    dt = p.dtype.type
    lr, momentum, weight_decay = dt(lr), dt(momentum), dt(weight_decay)
    for i in range(p.size):
        d = g[i] + weight_decay * p[i]
        if momentum != 0:
            b = d if first else momentum * buf[i] + d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] -= lr * d


# ------------------------------------------------------------------ convolutions of tiny maps as matrices

@kernel
def dense_weights(w, mt, height, width, stride):
    """The convolution of an ``height`` x ``width`` map (3x3, padding 1, ``stride``) as one
    matrix ``mt`` (Co*Po, Ci*Pi): row (o, output pixel), column (c, input pixel), the tap of ``w``
    that joins them or 0. With maps of a few pixels this product is cheaper than the taps (on a
    2x2 map 5 of a 3x3 kernel's 9 taps read padding)."""
    co, ci = w.shape[0], w.shape[1]
    ho, wo = (height - 1) // stride + 1, (width - 1) // stride + 1
    pi, po = height * width, ho * wo
    mt[:] = 0
    for o in range(co):
        for oy in range(ho):
            for ox in range(wo):
                row = o * po + oy * wo + ox
                for ky in range(3):
                    iy = oy * stride - 1 + ky
                    if iy < 0 or iy >= height:
                        continue
                    for kx in range(3):
                        ix = ox * stride - 1 + kx
                        if ix < 0 or ix >= width:
                            continue
                        for c in range(ci):
                            mt[row, c * pi + iy * width + ix] = w[o, c, ky, kx]


@kernel
def dense_weights_grad(dmt, dw, height, width, stride):
    """The weight gradient ``dw`` (Co, Ci, 3, 3) from the gradient ``dmt`` of the matrix of
    :func:`dense_weights`: each tap's gradient is the sum over the entries it fills."""
    co, ci = dw.shape[0], dw.shape[1]
    ho, wo = (height - 1) // stride + 1, (width - 1) // stride + 1
    pi, po = height * width, ho * wo
    dw[:] = 0
    for o in range(co):
        for oy in range(ho):
            for ox in range(wo):
                row = o * po + oy * wo + ox
                for ky in range(3):
                    iy = oy * stride - 1 + ky
                    if iy < 0 or iy >= height:
                        continue
                    for kx in range(3):
                        ix = ox * stride - 1 + kx
                        if ix < 0 or ix >= width:
                            continue
                        for c in range(ci):
                            dw[o, c, ky, kx] += dmt[row, c * pi + iy * width + ix]
