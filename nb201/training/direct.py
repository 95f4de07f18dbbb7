"""One NB201 network trained on a CPU by the kernels of :mod:`nb201.training.direct_kernels`,
with the forward and backward passes written out (no autograd): the engine's CPU trainer.

:class:`DirectNetwork` wraps a :class:`nb201.network.Network` and trains *its* parameters: they
become views of one flat tensor, and their gradients views of another, so that one optimizer step
updates them all (:class:`FlatSGD`, or ``torch.optim`` on the flat tensor: the same elementwise
update as on each parameter; :mod:`nb201.training.direct_trainer`) and the network's state dict is always the current one. Feature maps
are batch-innermost arrays (the kernels' layout), one set per batch size. Everything a pass does
is fixed by the arch and the batch size, so each pass is recorded once per batch size as a list of
kernel calls on fixed arrays (a *program*) and then replayed: a step costs its kernels and about a
microsecond of Python per call.

What runs is what the network computes in PyTorch, up to float rounding (tests/test_direct.py,
float64): edges whose output cannot reach the cell output are left out (as in
:mod:`nb201.training.fused`: they change nothing); a ReLU-Conv-BN edge whose source node is zero
runs as the batch norm of zeros (NB201 runs it: it outputs the BN bias, which trains); and when a
cell does not read its input (:func:`reads_input`) the network's output depends on its last cell
and the head only, so only they run (in PyTorch nothing before them gets a gradient).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from nb201.network import Cell, Network, ResidualReduction
from nb201.space import EDGES, Arch

from . import direct_kernels as k
from .fused import live_ops

#: A pass: kernel calls on fixed arrays, replayed in order.
Program = list[tuple[Callable, tuple]]


class _Params:
    """The network's trained parameters as views of one flat tensor (and their gradients as views
    of another), with numpy views of both for the kernels."""

    def __init__(self, modules: list[tuple[str, nn.Module]], dtype: torch.dtype):
        self.names: list[str] = []
        self.shapes: list[torch.Size] = []
        params: list[nn.Parameter] = []
        for prefix, module in modules:
            for name, p in module.named_parameters(recurse=False):
                self.names.append(f"{prefix}.{name}")
                self.shapes.append(p.shape)
                params.append(p)
        sizes = [p.numel() for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.flat = nn.Parameter(torch.empty(int(self.offsets[-1]), dtype=dtype))
        self.flat.grad = torch.zeros_like(self.flat.detach())
        with torch.no_grad():
            for p, a, b in zip(params, self.offsets[:-1], self.offsets[1:]):
                self.flat[a:b].copy_(p.reshape(-1))
                p.data = self.flat.data[a:b].view(p.shape)
        self.value = self.flat.detach().numpy()
        self.grad = self.flat.grad.numpy()
        self._index = {id(p): i for i, p in enumerate(params)}

    def views(self, p: nn.Parameter, shape: tuple[int, ...] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(value, gradient) of parameter ``p`` as numpy views, reshaped to ``shape``."""
        i = self._index[id(p)]
        a, b = self.offsets[i], self.offsets[i + 1]
        shape = shape or tuple(p.shape)
        return self.value[a:b].reshape(shape), self.grad[a:b].reshape(shape)

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """A flat tensor (optimizer state) cut into one tensor per parameter name."""
        return {name: flat[a:b].view(shape).clone() for name, shape, a, b in
                zip(self.names, self.shapes, self.offsets[:-1], self.offsets[1:])}

    def join(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The inverse of :meth:`split` (parameters missing from ``parts`` get zeros)."""
        flat = torch.zeros_like(self.flat.detach())
        for name, a, b in zip(self.names, self.offsets[:-1], self.offsets[1:]):
            if name in parts:
                flat[a:b] = parts[name].reshape(-1).to(flat.dtype)
        return flat


class _Maps:
    """Feature maps (C, H, W*B), padded ones (C, H+2, (W+2)*B), of one layer, by name and batch
    size: allocated zeroed on first use (the zero borders of padded maps are never written)."""

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self.arrays: dict[tuple, np.ndarray] = {}

    def get(self, key, channels: int, size: int, batch: int, pad: int = 0) -> np.ndarray:
        found = self.arrays.get((key, batch))
        if found is None:
            found = np.zeros((channels, size + 2 * pad, (size + 2 * pad) * batch), self.dtype)
            self.arrays[(key, batch)] = found
        return found


class _BN:
    """A BatchNorm2d's parameters, gradients and running statistics as numpy views."""

    def __init__(self, bn: nn.BatchNorm2d, params: _Params):
        self.gamma, self.dgamma = params.views(bn.weight)
        self.beta, self.dbeta = params.views(bn.bias)
        self.mean = bn.running_mean.numpy()
        self.var = bn.running_var.numpy()
        self.momentum, self.eps = bn.momentum, bn.eps

    def forward(self, emit, y, invstd, out, acc, training) -> None:
        """``out`` (+)= BN(y); in training ``y`` becomes the normalised values."""
        if training:
            emit(k.bn_train, y, self.gamma, self.beta, self.mean, self.var, self.momentum, self.eps,
                 invstd, out, acc)
        else:
            emit(k.bn_eval, y, self.gamma, self.beta, self.mean, self.var, self.eps, out, acc)


#: A 3x3 convolution whose output map has at most this many pixels runs as one matrix product
#: (:func:`~.direct_kernels.dense_weights`), by PyTorch's BLAS: on a 2x2 map that does 16 of the
#: taps' 36 multiply-adds per channel pair, at a BLAS rate (docs/BENCHMARKS.md, "Engine v4").
DENSE_MAX_PIXELS = 4


class _ConvBN:
    """A (ReLU-)Conv-BN: kernel 1 or 3, stride 1 or 2, on ``size`` x ``size`` input maps.
    :attr:`pad` is the padding it reads its input map with (1 for 3x3 taps, 0 for a matrix
    product; a 1x1 conv reads whatever its caller gives)."""

    def __init__(self, seq: nn.Sequential, params: _Params, dtype: np.dtype, size: int):
        conv = next(m for m in seq if isinstance(m, nn.Conv2d))
        self.kernel, self.stride, self.size = conv.kernel_size[0], conv.stride[0], size
        shape = None if self.kernel == 3 else (conv.out_channels, conv.in_channels)
        self.w, self.dw = params.views(conv.weight, shape)
        self.bn = _BN(next(m for m in seq if isinstance(m, nn.BatchNorm2d)), params)
        self.invstd = np.zeros(conv.out_channels, dtype)
        out = (size - 1) // self.stride + 1
        self.dense = self.kernel == 3 and out * out <= DENSE_MAX_PIXELS
        self.pad = 0 if self.dense else 1
        if self.dense:
            shape = (conv.out_channels * out * out, conv.in_channels * size * size)
            self.mt, self.dmt = np.zeros(shape, dtype), np.zeros(shape, dtype)
        #: the padding of the conv output's gradient (taps of stride 1 read it padded)
        self.dy_pad = 1 if self.kernel == 3 and self.stride == 1 and not self.dense else 0

    def forward(self, emit, xp, pad, y, out, acc, batch, training) -> None:
        """``out`` (+)= BN(conv(xp)), ``xp`` the input map padded by ``pad`` (ReLU'd by the
        caller); ``y`` keeps the normalised conv output for the backward pass."""
        if self.dense:
            emit(k.dense_weights, self.w, self.mt, self.size, self.size, self.stride)
            emit(_mm, _matrix(self.mt), _matrix(xp, batch), _matrix(y, batch), False)
        elif self.kernel == 3:
            emit(k.conv3, xp, self.w, y, batch, self.stride, False, False)
        else:
            emit(k.conv1, xp, self.w, y, batch, pad, False, False)
        self.bn.forward(emit, y, self.invstd, out, acc, training)

    def of_zeros(self, emit, out, acc, training) -> None:
        bn = self.bn
        emit(k.bn_of_zeros, bn.gamma, bn.beta, bn.mean, bn.var, bn.momentum, bn.eps, training, out,
             acc)

    def backward(self, emit, g, xp, pad, y, dy, dx, acc, batch) -> None:
        """Parameter gradients, and ``dx`` (+)= the gradient of the conv's input (None: not
        wanted), padded like the input for a 3x3 conv. ``dy``: scratch for the conv output's
        gradient, padded by :attr:`dy_pad`."""
        bn = self.bn
        emit(k.bn_grad, g, y, bn.gamma, self.invstd, bn.dgamma, bn.dbeta, dy, self.dy_pad, batch)
        if self.dense:
            emit(_mm, _matrix(dy, batch), _matrix(xp, batch).T, _matrix(self.dmt), False)
            emit(k.dense_weights_grad, self.dmt, self.dw, self.size, self.size, self.stride)
            if dx is not None:
                emit(_mm, _matrix(self.mt).T, _matrix(dy, batch), _matrix(dx, batch), acc)
        elif self.kernel == 3:
            emit(k.conv3_weight_grad, xp, dy, self.dy_pad, self.dw, batch, self.stride)
            if dx is not None and self.stride == 1:
                emit(k.conv3, dy, self.w, dx, batch, 1, True, acc)
            elif dx is not None:
                emit(k.conv3_scatter, dy, self.w, dx, batch, self.stride, acc)
        else:
            emit(k.conv1_weight_grad, xp, dy, self.dw, batch, pad)
            if dx is not None:
                emit(k.conv1, dy, self.w, dx, batch, 0, True, acc)


def _matrix(array: np.ndarray, batch: int | None = None) -> torch.Tensor:
    """A torch view of a matrix, or of an unpadded map (C, H, W*B) as (C*H*W, B)."""
    t = torch.from_numpy(array)
    return t if batch is None else t.view(-1, batch)


def _mm(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, acc: bool) -> None:
    """``out`` (+)= a @ b."""
    if acc:
        out.addmm_(a, b)
    else:
        torch.mm(a, b, out=out)


class _Stem:
    """Conv3x3 (3 -> C) and BN of the padded input map."""

    def __init__(self, stem: nn.Sequential, params: _Params, maps: _Maps, channels: int,
                 size: int):
        self.op = _ConvBN(stem, params, maps.dtype, size)
        self.maps, self.c, self.size = maps, channels, size

    def forward(self, emit, xp, batch, training) -> np.ndarray:
        out = self.maps.get("out", self.c, self.size, batch)
        self.op.forward(emit, xp, 1, self.maps.get("y", self.c, self.size, batch), out, False, batch,
                        training)
        return out

    def backward(self, emit, g, xp, batch) -> None:
        m = self.maps
        self.op.backward(emit, g, xp, 1, m.get("y", self.c, self.size, batch),
                         m.get("dy", self.c, self.size, batch, pad=self.op.dy_pad), None, False,
                         batch)


class _Cell:
    """One cell: its live edges in NB201 order; which nodes are zero follows from the structure."""

    def __init__(self, cell: Cell, params: _Params, maps: _Maps, channels: int, size: int,
                 input_zero: bool):
        self.maps, self.c, self.size = maps, channels, size
        modules = dict(zip(cell.edges, cell.ops))
        zero = [input_zero, True, True, True]
        self.edges: list[tuple[int, int, str, _ConvBN | None]] = []
        for (j, i), op in zip(EDGES, live_ops(cell.arch)):
            conv = op.startswith("nor_conv")
            if op == "none" or (not conv and zero[i]):
                continue                      # nothing, or a pool or skip of zeros
            zero[j] = False
            self.edges.append((j, i, op, _ConvBN(modules[(j, i)], params, maps.dtype, size)
                               if conv else None))
        self.zero = zero
        #: the padding of the ReLU'd node maps that the convs read (none for matrix products)
        self.pad = 0 if size * size <= DENSE_MAX_PIXELS else 1

    def _map(self, key, batch, pad=0):
        return self.maps.get(key, self.c, self.size, batch, pad)

    def forward(self, emit, x, batch, training) -> np.ndarray | None:
        """The cell output for input ``x`` (None: zero)."""
        nodes: list[np.ndarray | None] = [x, None, None, None]
        relu_done = set()
        for e, (j, i, op, conv) in enumerate(self.edges):
            acc = nodes[j] is not None
            if not acc:
                nodes[j] = self._map(("node", j), batch)
            if conv is not None and self.zero[i]:
                conv.of_zeros(emit, nodes[j], acc, training)
            elif conv is not None:
                xp = self._map(("relu", i), batch, pad=self.pad)
                if i not in relu_done:
                    emit(k.relu_pad, nodes[i], xp, self.pad, batch)
                    relu_done.add(i)
                conv.forward(emit, xp, self.pad, self._map(("y", e), batch), nodes[j], acc, batch,
                             training)
            elif op == "avg_pool_3x3":
                emit(k.box3, nodes[i], nodes[j], batch, acc)
            else:
                emit(k.add, nodes[i], nodes[j], acc)
        return nodes[3]

    def backward(self, emit, g, batch) -> np.ndarray | None:
        """The input's gradient (None: zero) for the output's gradient ``g``. Edges run in
        reverse; a node's gradient is complete once every edge leaving it has run, and then its
        ReLU's gradient (summed over its conv edges) joins it."""
        grads: list[np.ndarray | None] = [None, None, None, g]
        relu_grads: dict[int, np.ndarray] = {}
        done = {3}

        def finish(node: int) -> None:
            if node in done:
                return
            done.add(node)
            if node in relu_grads:
                acc = grads[node] is not None
                grads[node] = grads[node] if acc else self._map(("grad", node), batch)
                emit(k.relu_grad, relu_grads[node], 0, self._map(("relu", node), batch, pad=self.pad),
                     self.pad, grads[node], batch, acc)

        def into(node: int) -> tuple[np.ndarray, bool]:
            acc = grads[node] is not None
            grads[node] = grads[node] if acc else self._map(("grad", node), batch)
            return grads[node], acc

        for e in range(len(self.edges) - 1, -1, -1):
            j, i, op, conv = self.edges[e]
            for node in range(j, 4):
                finish(node)
            gj = grads[j]
            if gj is None:
                continue                             # nothing flows back through node j
            if conv is not None and self.zero[i]:
                emit(k.channel_sums, gj, conv.bn.dbeta)          # only the BN bias learns
            elif conv is not None:
                acc = i in relu_grads
                dr = relu_grads.setdefault(i, self._map(("relu_grad", i), batch))
                dy = self._map(("dy", conv.kernel), batch, pad=conv.dy_pad)
                conv.backward(emit, gj, self._map(("relu", i), batch, pad=self.pad), self.pad,
                              self._map(("y", e), batch), dy, dr, acc, batch)
            elif op == "avg_pool_3x3":
                target, acc = into(i)
                emit(k.box3_grad, gj, target, batch, acc)
            else:
                target, acc = into(i)
                emit(k.add, gj, target, acc)
        for node in range(4):
            finish(node)
        return grads[0]


class _Reduction:
    """NB201's residual reduction block: ReLU-Conv3x3(s2)-BN, ReLU-Conv3x3-BN, and the shortcut
    AvgPool2x2 + Conv1x1."""

    def __init__(self, block: ResidualReduction, params: _Params, maps: _Maps, c_in: int,
                 size: int):
        self.maps, self.c_in, self.c_out, self.size = maps, c_in, 2 * c_in, size
        self.a = _ConvBN(block.conv_a, params, maps.dtype, size)
        self.b = _ConvBN(block.conv_b, params, maps.dtype, size // 2)
        self.w, self.dw = params.views(block.shortcut[1].weight, (2 * c_in, c_in))

    def _maps(self, batch):
        m, half, c_in, c_out = self.maps, self.size // 2, self.c_in, self.c_out
        return dict(relu_a=m.get("relu_a", c_in, self.size, batch, pad=self.a.pad),
                    y_a=m.get("y_a", c_out, half, batch), mid=m.get("mid", c_out, half, batch),
                    relu_b=m.get("relu_b", c_out, half, batch, pad=self.b.pad),
                    y_b=m.get("y_b", c_out, half, batch), out=m.get("out", c_out, half, batch),
                    pooled=m.get("pooled", c_in, half, batch))

    def forward(self, emit, x, batch, training) -> np.ndarray:
        m, a, b = self._maps(batch), self.a, self.b
        if x is None:
            x = self.maps.get("zeros", self.c_in, self.size, batch)
        emit(k.relu_pad, x, m["relu_a"], a.pad, batch)
        a.forward(emit, m["relu_a"], a.pad, m["y_a"], m["mid"], False, batch, training)
        emit(k.relu_pad, m["mid"], m["relu_b"], b.pad, batch)
        b.forward(emit, m["relu_b"], b.pad, m["y_b"], m["out"], False, batch, training)
        emit(k.pool2, x, m["pooled"], batch)
        emit(k.conv1, m["pooled"], self.w, m["out"], batch, 0, False, True)
        return m["out"]

    def backward(self, emit, g, batch) -> np.ndarray:
        m, mm, half, a, b = self._maps(batch), self.maps, self.size // 2, self.a, self.b
        dpool = mm.get("dpool", self.c_in, half, batch)
        dx = mm.get("dx", self.c_in, self.size, batch)
        dmid_r = mm.get("dmid_r", self.c_out, half, batch)
        dmid = mm.get("dmid", self.c_out, half, batch)
        dxp = mm.get("dx_relu", self.c_in, self.size, batch, pad=a.pad)
        emit(k.conv1_weight_grad, m["pooled"], g, self.dw, batch, 0)
        emit(k.conv1, g, self.w, dpool, batch, 0, True, False)
        emit(k.pool2_grad, dpool, dx, batch, False)
        b.backward(emit, g, m["relu_b"], b.pad, m["y_b"],
                   mm.get("dy_b", self.c_out, half, batch, pad=b.dy_pad), dmid_r, False, batch)
        emit(k.relu_grad, dmid_r, 0, m["relu_b"], b.pad, dmid, batch, False)
        a.backward(emit, dmid, m["relu_a"], a.pad, m["y_a"],
                   mm.get("dy_a", self.c_out, half, batch, pad=a.dy_pad), dxp, False, batch)
        emit(k.relu_grad, dxp, a.pad, m["relu_a"], a.pad, dx, batch, True)
        return dx


class _Head:
    """BN, ReLU, global average pool and the classifier, and the loss's gradient's way back."""

    def __init__(self, net: Network, params: _Params, maps: _Maps, channels: int, size: int):
        self.maps, self.c, self.size = maps, channels, size
        self.bn = _BN(net.head[0], params)
        self.w, self.dw = params.views(net.classifier.weight)
        self.bias, self.dbias = params.views(net.classifier.bias)
        self.invstd = np.zeros(channels, maps.dtype)
        self.classes = net.classifier.out_features

    def _maps(self, batch):
        m = self.maps
        return dict(h=m.get("h", self.c, self.size, batch), mask=m.get("mask", self.c, self.size, batch),
                    zeros=m.get("zeros", self.c, self.size, batch),
                    features=m.get("features", self.c, 1, batch)[:, 0],
                    df=m.get("df", self.c, 1, batch)[:, 0],
                    logits=m.get("logits", self.classes, 1, batch)[:, 0],
                    dlogits=m.get("dlogits", self.classes, 1, batch)[:, 0])

    def forward(self, emit, x, batch, training) -> np.ndarray:
        """The logits (classes, B)."""
        m = self._maps(batch)
        self.bn.forward(emit, m["zeros"] if x is None else x, self.invstd, m["h"], False, training)
        emit(k.pool_features, m["h"], m["mask"], m["features"], batch)
        emit(k.linear, m["features"], self.w, self.bias, m["logits"])
        return m["logits"]

    def backward(self, emit, x, batch) -> np.ndarray:
        """The input's gradient from the logits' gradient (``dlogits`` of the batch's maps)."""
        m, mm = self._maps(batch), self.maps
        emit(k.linear_grad, m["dlogits"], m["features"], self.w, self.dw, self.dbias, m["df"])
        dh = mm.get("dh", self.c, self.size, batch)
        emit(k.pool_features_grad, m["df"], m["mask"], dh, batch)
        dx = mm.get("dx", self.c, self.size, batch)
        bn = self.bn
        emit(k.bn_grad, dh, m["zeros"] if x is None else x, bn.gamma, self.invstd, bn.dgamma,
             bn.dbeta, dx, 0, batch)
        return dx


class DirectNetwork:
    """``net`` (a :class:`~nb201.network.Network` for ``resolution``-pixel images) trained and
    evaluated by the direct kernels. Its live parameters become views of :attr:`flat` (give the
    optimizer ``[flat]``; the kernels write ``flat.grad``); its BN running statistics are updated
    in place. A batch is written into :meth:`inputs` (the first map and the labels) before
    :meth:`step` or :meth:`correct`; ``inputs`` may be shared by several networks."""

    def __init__(self, net: Network, resolution: int, inputs: _Maps | None = None):
        self.net, self.resolution = net, resolution
        dtype = net.stem[0].weight.dtype
        self.np_dtype = np.dtype(str(dtype).removeprefix("torch."))
        modules = _live_modules(net)
        self.params = _Params(modules, dtype)
        self.flat = self.params.flat
        self.batch_norms = [m for _, m in modules if isinstance(m, nn.BatchNorm2d)]
        self.shared = inputs or _Maps(self.np_dtype)
        maps = lambda: _Maps(self.np_dtype)   # noqa: E731
        c, size = net.stem[0].out_channels, resolution
        self.stem = None
        self.layers: list = []
        if reads_input(net.arch):
            self.stem = _Stem(net.stem, self.params, maps(), c, size)
            for layer in net.cells:
                if isinstance(layer, ResidualReduction):
                    self.layers.append(_Reduction(layer, self.params, maps(), c, size))
                    c, size = 2 * c, size // 2
                else:
                    self.layers.append(_Cell(layer, self.params, maps(), c, size, False))
        else:
            c, size = 4 * c, size // 4
            self.layers = [_Cell(net.cells[-1], self.params, maps(), c, size, True)]
        self.head = _Head(net, self.params, maps(), c, size)
        self.programs: dict[tuple[int, str], Program] = {}
        self.steps = 0

    def inputs(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """(the padded first map (3, H+2, (W+2)*B), the labels (B,)) to write a batch into."""
        xp = self.shared.get("x", 3, self.resolution, batch, pad=1)
        labels = self.shared.arrays.setdefault(("labels", batch), np.zeros(batch, np.int64))
        return xp, labels

    def _program(self, batch: int, kind: str) -> Program:
        """The recorded pass ``kind``: ``train`` (forward, BN on batch statistics), ``eval`` or
        ``backward``."""
        found = self.programs.get((batch, kind))
        if found is not None:
            return found
        program: Program = []
        emit = lambda fn, *args: program.append((fn, args))   # noqa: E731
        xp, _ = self.inputs(batch)
        if kind == "backward":
            outputs = self._outputs(lambda fn, *args: None, xp, batch)
            g = self.head.backward(emit, outputs[-1], batch)
            for layer in reversed(self.layers):
                if g is None:                         # nothing flows further back
                    break
                g = layer.backward(emit, g, batch)
            if self.stem is not None and g is not None:
                self.stem.backward(emit, g, xp, batch)
        else:
            training = kind == "train"
            h = self.stem.forward(emit, xp, batch, training) if self.stem is not None else None
            for layer in self.layers:
                h = layer.forward(emit, h, batch, training)
            self.head.forward(emit, h, batch, training)
        self.programs[(batch, kind)] = program
        return program

    def _outputs(self, emit, xp, batch) -> list:
        """Each layer's output map (None: zero), the last one the head's input."""
        h = self.stem.forward(emit, xp, batch, True) if self.stem is not None else None
        out = []
        for layer in self.layers:
            h = layer.forward(emit, h, batch, True)
            out.append(h)
        return out

    def step(self, batch: int, label_smoothing: float = 0.0) -> float:
        """Forward and backward pass on the batch of size ``batch`` in :meth:`inputs`: the
        gradients are in ``flat.grad``. Returns the batch's mean loss."""
        _run(self._program(batch, "train"))
        m = self.head._maps(batch)
        loss = k.cross_entropy(m["logits"], self.inputs(batch)[1], label_smoothing, m["dlogits"])
        _run(self._program(batch, "backward"))
        self.steps += 1
        return loss

    def correct(self, batch: int) -> int:
        """How many images of the batch in :meth:`inputs` the network, BN in evaluation mode,
        classifies as their labels."""
        _run(self._program(batch, "eval"))
        return int(k.count_correct(self.head._maps(batch)["logits"], self.inputs(batch)[1]))

    def sync(self) -> None:
        """Count the steps taken into each live BN's ``num_batches_tracked``."""
        for bn in self.batch_norms:
            bn.num_batches_tracked += self.steps
        self.steps = 0


def _run(program: Program) -> None:
    for fn, args in program:
        fn(*args)


def reads_input(arch: Arch) -> bool:
    """Whether a cell's output depends on its input: some live edge leaves node 0. If not, the
    network's output depends on its last cell and head only, and nothing before them gets a
    gradient (in PyTorch their gradients are None, so the optimizer leaves them alone)."""
    return any(op != "none" and i == 0 for (_, i), op in zip(EDGES, live_ops(arch)))


def _live_modules(net: Network) -> list[tuple[str, nn.Module]]:
    """(state-dict prefix, module) of every module with parameters that the output depends on:
    all but the edges whose output cannot reach their cell's output, and (:func:`reads_input`)
    all before the last cell when a cell ignores its input."""
    dead = {id(m) for layer in net.cells if isinstance(layer, Cell)
            for (j, i), op in zip(layer.edges, layer.ops)
            if live_ops(layer.arch)[EDGES.index((j, i))] == "none" for m in op.modules()}
    if not reads_input(net.arch):
        kept = {id(m) for m in [*net.cells[-1].modules(), *net.head.modules(), net.classifier]}
        dead |= {id(m) for m in net.modules() if id(m) not in kept}
    return [(name, m) for name, m in net.named_modules()
            if id(m) not in dead and any(True for _ in m.parameters(recurse=False))]
