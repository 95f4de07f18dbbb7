"""K NB201 networks as one module: the networks are stacked along the channel axis.

Network k owns channels ``k*C .. (k+1)*C - 1`` of every feature map (C its width at that stage).
Layers every network has (stem, reduction blocks, head) are grouped convolutions with ``groups=K``
and BatchNorms over the stacked channels (BN is per channel, so per network). A cell edge
permutes its source node so that the networks sharing an op on that edge hold one contiguous
block of channels, runs one grouped op per block (``none`` blocks give zeros) and permutes the
result back (:class:`FusedEdge`); no masks multiply one network's values into another's, so a
diverging network cannot touch the others. The head is K linear layers in one einsum. Every step
of the forward pass is the one :class:`nb201.network.Network` does (avg-pool as a ones
depthwise conv, :class:`BoxPool`), so with the same weights the outputs, gradients and
(elementwise) SGD updates are the same up to float rounding.

NB201 semantics are kept: every non-none edge runs even when its source node is zero (its
ReLU-Conv-BN then outputs the BN bias), and a node without non-none inputs is zero. Edges whose
output cannot reach the cell output are left out (:func:`live_ops`): they change nothing.
"""
from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nb201.devices import accelerated
from nb201.network import Cell, Network, ResidualReduction
from nb201.space import EDGES, OPS, Arch

from .kernels import Conv2d


class GroupedReLUConvBN(nn.Sequential):
    """ReLU, a grouped bias-free conv (``groups`` networks, c_in -> c_out each), BN.
    Same layout (and state-dict names) as :class:`nb201.network.ReLUConvBN`."""

    def __init__(self, groups: int, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReLU(inplace=False),
                         Conv2d(groups * c_in, groups * c_out, kernel, stride,
                                   padding=kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(groups * c_out))


class BoxPool(nn.Module):
    """``AvgPool2d(3, stride=1, padding=1, count_include_pad=False)``, by the kernel measured
    fastest for where ``x`` lies (``python perf/cpu_kernels.py``: forward + backward, batch 256,
    one thread). On an accelerated device (CUDA) :func:`box_conv`, a depthwise 3x3 conv with a
    ones kernel times 1 / (the number of in-image taps), far faster than avg_pool2d on many
    channels. On a CPU: on maps of up to 16 pixels in channels-last, PyTorch's avg_pool2d; on NCHW
    maps of up to 64 pixels, one matrix product of each channel's pixels with the (pixels x
    pixels) averaging matrix; elsewhere the conv, with the same conv as its backward
    (:class:`_Box`, cheaper than autograd's convolution_backward). The same values up to float
    rounding (tests/test_accelerated.py compares them with avg_pool2d in float64)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("ones", torch.ones(channels, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if accelerated(x.device):
            return box_conv(x, self.ones)
        h, w = x.shape[-2:]
        if x.is_contiguous() and h * w <= 64:                   # NCHW
            return (x.reshape(-1, h * w) @ _box_matrix(h, w, x.dtype)).view_as(x)
        if not x.is_contiguous() and h * w <= 16:               # channels-last
            return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return _Box.apply(x, self.ones.to(x.dtype), _taps(h, w, x.device, x.dtype))


def box_conv(x: torch.Tensor, ones: torch.Tensor) -> torch.Tensor:
    """The accelerated devices' box filter: a depthwise 3x3 conv of ``x`` with ``ones`` (C, 1, 3,
    3) times 1 / (the number of in-image taps), differentiated by autograd. Runs on any device
    (tests run it on a CPU against avg_pool2d)."""
    h, w = x.shape[-2:]
    taps = _taps(h, w, x.device, x.dtype)
    return F.conv2d(x, ones.to(x.dtype), padding=1, groups=x.shape[1]) * taps


class _Box(torch.autograd.Function):
    """The box filter ``conv(x, ones) * taps``; its gradient ``conv(grad * taps, ones)`` (the
    3x3 ones kernel is its own flip, so the transposed conv is the conv itself)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, ones: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(ones, taps)
        return F.conv2d(x, ones, padding=1, groups=x.shape[1]) * taps

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        ones, taps = ctx.saved_tensors
        return F.conv2d(grad * taps, ones, padding=1, groups=grad.shape[1]), None, None


@functools.lru_cache(maxsize=64)
def _box_matrix(h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    """(h*w, h*w): column p averages the in-image pixels of p's 3x3 window (cached, read only;
    made outside inference mode, as :func:`_taps`)."""
    with torch.inference_mode(False):
        y, x = torch.arange(h * w) // w, torch.arange(h * w) % w
        near = (((y[:, None] - y[None, :]).abs() <= 1) & ((x[:, None] - x[None, :]).abs() <= 1)).to(dtype)
        return near / near.sum(0, keepdim=True)


@functools.lru_cache(maxsize=64)
def _taps(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """1 / (number of in-image pixels in each 3x3 window) for an h x w map (cached, so read only;
    made outside inference mode, so that training may save it for backward after an evaluation)."""
    with torch.inference_mode(False):
        rows = torch.full((h,), 3.0, device=device)
        cols = torch.full((w,), 3.0, device=device)
        rows[0] -= 1
        rows[-1] -= 1
        cols[0] -= 1
        cols[-1] -= 1
        return (1.0 / (rows[:, None] * cols[None, :])).to(dtype)


#: The fused ops table: op -> factory(groups, channels), the fused twin of ``OP_FACTORIES``.
FUSED_OPS = {
    "skip_connect": lambda g, c: nn.Identity(),
    "nor_conv_1x1": lambda g, c: GroupedReLUConvBN(g, c, c, 1),
    "nor_conv_3x3": lambda g, c: GroupedReLUConvBN(g, c, c, 3),
    "avg_pool_3x3": lambda g, c: BoxPool(g * c),
}


def channel_index(members: Sequence[int], width: int) -> torch.Tensor:
    """The stacked channel indices of networks ``members`` at ``width`` channels per network."""
    return (torch.tensor(members, dtype=torch.int64)[:, None] * width
            + torch.arange(width)[None, :]).reshape(-1)


class _Permute(torch.autograd.Function):
    """``x.index_select(1, order)`` for a permutation ``order`` of the channels; its gradient is
    the inverse permutation (autograd's own backward would scatter into a zero-filled tensor)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, order: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(inverse)
        return x.index_select(1, order)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (inverse,) = ctx.saved_tensors
        return grad.index_select(1, inverse), None, None


class FusedEdge(nn.Module):
    """One cell edge for K networks. The networks are sorted by their op on this edge, so that the
    networks sharing an op hold one contiguous block of channels: the source node is permuted into
    that order, each block runs its grouped op (``none`` blocks give zeros), and the result is
    permuted back."""

    def __init__(self, ops: Sequence[str], width: int):
        super().__init__()
        order = sorted(range(len(ops)), key=lambda k: (OPS.index(ops[k]) == 0, OPS.index(ops[k]), k))
        self.blocks: list[tuple[str, tuple[int, ...]]] = []
        for k in order:
            if self.blocks and self.blocks[-1][0] == ops[k]:
                self.blocks[-1] = (ops[k], self.blocks[-1][1] + (k,))
            else:
                self.blocks.append((ops[k], (k,)))
        self.sizes = [len(members) * width for _, members in self.blocks]
        self.ops = nn.ModuleDict({op: FUSED_OPS[op](len(members), width)
                                  for op, members in self.blocks if op != "none"})
        self.identity = order == sorted(order)
        channels = channel_index(order, width)
        self.register_buffer("order", channels, persistent=False)
        self.register_buffer("inverse", torch.argsort(channels), persistent=False)

    @property
    def live(self) -> bool:
        return bool(self.ops)

    def slot(self, op: str, k: int) -> int:
        """Network k's position in the block of networks that use ``op`` here."""
        return dict(self.blocks)[op].index(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.identity:
            x = _Permute.apply(x, self.order, self.inverse)
        parts = x.split(self.sizes, dim=1) if len(self.blocks) > 1 else (x,)
        outs = [torch.zeros_like(part) if op == "none" else self.ops[op](part)
                for (op, _), part in zip(self.blocks, parts)]
        y = torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]
        return y if self.identity else _Permute.apply(y, self.inverse, self.order)


def live_ops(arch: Arch) -> tuple[str, ...]:
    """The arch's ops with ``none`` on every edge whose output cannot reach the cell output (its
    target node has no non-none path to node 3). Such an edge changes nothing: not the output, and
    not its own parameters either (they get no gradient, so SGD leaves them alone)."""
    reaches = {3}
    for j in (2, 1):
        if any(arch.op(t, j) != "none" and t in reaches for t in range(j + 1, 4)):
            reaches.add(j)
    return tuple(op if j in reaches else "none" for (j, _), op in zip(EDGES, arch.ops))


class FusedCell(nn.Module):
    def __init__(self, archs: Sequence[Arch], width: int):
        super().__init__()
        ops = [live_ops(a) for a in archs]
        self.edges = nn.ModuleDict({f"{j}{i}": FusedEdge([o[e] for o in ops], width)
                                    for e, (j, i) in enumerate(EDGES)})
        self.plan = [(j, i, f"{j}{i}") for j, i in EDGES if self.edges[f"{j}{i}"].live]

    def edge(self, to: int, frm: int) -> FusedEdge:
        return self.edges[f"{to}{frm}"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for j, i, key in self.plan:
            src = nodes[i] if nodes[i] is not None else torch.zeros_like(x)
            nodes[i] = src
            y = self.edges[key](src)
            nodes[j] = y if nodes[j] is None else nodes[j] + y
        return nodes[3] if nodes[3] is not None else torch.zeros_like(x)


class FusedReduction(nn.Module):
    """K of NB201's residual reduction blocks (same names as :class:`ResidualReduction`)."""

    def __init__(self, networks: int, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = GroupedReLUConvBN(networks, c_in, c_out, 3, stride=2)
        self.conv_b = GroupedReLUConvBN(networks, c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2),
                                      Conv2d(networks * c_in, networks * c_out, 1,
                                                groups=networks, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class GroupedLinear(nn.Module):
    """K linear layers: (N, K, c_in) -> (N, K, c_out). ``weight[k]`` is network k's weight."""

    def __init__(self, networks: int, c_in: int, c_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(networks, c_out, c_in))
        self.bias = nn.Parameter(torch.zeros(networks, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nki,koi->nko", x, self.weight) + self.bias


class FusedNetwork(nn.Module):
    """K NB201 networks in one module; ``forward`` gives logits (N, K, num_classes).

    Build it with :func:`fuse` from K real networks, so that its weights are theirs."""

    def __init__(self, archs: Sequence[Arch], channels: int = 16, cells: int = 5,
                 num_classes: int = 10):
        super().__init__()
        self.archs = tuple(archs)
        k, c = len(archs), channels
        self.stem = nn.Sequential(Conv2d(3, k * c, 3, padding=1, bias=False), nn.BatchNorm2d(k * c))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage:
                layers.append(FusedReduction(k, c, 2 * c))
                c *= 2
            layers.extend(FusedCell(archs, c) for _ in range(cells))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(k * c), nn.ReLU(inplace=False),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = GroupedLinear(k, c, num_classes)
        self.width = c
        #: the memory format inputs are given in (:func:`nb201.training.torch_trainer.apply_layout`)
        self.input_format = torch.contiguous_format

    def stages(self) -> list[list[nn.Module]]:
        """The modules of each stage: the stem and the first cells; then each reduction block with
        the cells after it. The head and classifier follow the last stage."""
        stages: list[list[nn.Module]] = [[self.stem]]
        for layer in self.cells:
            if isinstance(layer, FusedReduction):
                stages.append([])
            stages[-1].append(layer)
        stages[-1] += [self.head, self.classifier]
        return stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.cells(self.stem(x)))
        return self.classifier(features.view(len(x), len(self.archs), self.width))


def _pairs(fused: FusedNetwork, k: int, net: Network) -> Iterator[tuple[nn.Module, nn.Module, int]]:
    """(network submodule, fused submodule, slot of network k in it) for every part with state."""
    yield net.stem, fused.stem, k
    for layer, fused_layer in zip(net.cells, fused.cells):
        if isinstance(layer, ResidualReduction):
            yield layer, fused_layer, k
            continue
        assert isinstance(layer, Cell)
        live = live_ops(layer.arch)
        for (j, i), op in zip(layer.edges, layer.ops):
            name = live[EDGES.index((j, i))]
            if name != "none":                  # dead edges are not in the fused module
                edge = fused_layer.edge(j, i)
                yield op, edge.ops[name], edge.slot(name, k)
    yield net.head, fused.head, k
    yield net.classifier, fused.classifier, k


def _entries(fused: FusedNetwork, k: int, net: Network
             ) -> Iterator[tuple[str, torch.Tensor, torch.Tensor, int]]:
    """(name in ``net``'s state dict, network tensor, fused tensor, slot of network k) for every
    parameter and buffer of the parts the fused module holds (dead edges are not among them)."""
    names = {id(m): n for n, m in net.named_modules()}
    for part, fused_part, slot in _pairs(fused, k, net):
        fused_state = fused_part.state_dict(keep_vars=True)
        prefix = names[id(part)] + "."
        for name, tensor in part.state_dict(keep_vars=True).items():
            yield prefix + name, tensor, fused_state[name], slot


def _view(target: torch.Tensor, like: torch.Tensor, slot: int) -> torch.Tensor:
    """Network ``slot``'s slice of a (contiguous) fused tensor, shaped like the network's tensor;
    0-d tensors (num_batches_tracked: one counter shared by all) are the whole tensor."""
    return target if like.dim() == 0 else target.view(-1, *like.shape)[slot]


@torch.no_grad()
def fuse(networks: Sequence[Network]) -> FusedNetwork:
    """One fused module holding copies of the K networks' weights and BN statistics (in their
    dtype)."""
    first = networks[0]
    width = first.stem[0].out_channels
    fused = FusedNetwork([n.arch for n in networks], width, _cells_per_stage(first),
                         first.classifier.out_features).to(first.stem[0].weight.dtype)
    for k, net in enumerate(networks):
        for _, tensor, target, slot in _entries(fused, k, net):
            _view(target, tensor, slot).copy_(tensor)
    return fused


class HostCopies:
    """Each fused tensor copied to the host (CPU, contiguous) once, however many networks are read
    out of it: :func:`unfuse` and :func:`momentum_of` of K networks then make one device-to-host
    copy per fused tensor instead of one per network and tensor. ``copies`` counts them."""

    def __init__(self):
        self._held: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.copies = 0

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        held = self._held.get(id(tensor))
        if held is None:
            self.copies += 1
            held = self._held[id(tensor)] = (tensor, tensor.detach().cpu().contiguous())
        return held[1]


@torch.no_grad()
def unfuse(fused: FusedNetwork, k: int, net: Network, host: HostCopies | None = None) -> Network:
    """Copy network k's weights and BN statistics out of ``fused`` (on any device, in any memory
    format) into ``net`` (same arch), read through ``host`` (:class:`HostCopies`) if given."""
    if net.arch != fused.archs[k]:
        raise ValueError(f"network {k} of the fused module is {fused.archs[k]}, not {net.arch}")
    for _, tensor, target, slot in _entries(fused, k, net):
        source = host(target) if host is not None else target.contiguous()
        tensor.copy_(_view(source, tensor, slot))
    return net


@torch.no_grad()
def momentum_of(fused: FusedNetwork, optimizer: torch.optim.Optimizer, k: int, net: Network,
                host: HostCopies | None = None) -> dict[str, torch.Tensor]:
    """Network k's optimizer state, on the CPU: per parameter, each state tensor shaped like the
    parameter (SGD's momentum buffer under the parameter's name as in ``net``'s state dict, any
    other, e.g. Adam's ``exp_avg``, as ``NAME|KEY``); scalar state shared by all networks (Adam's
    ``step``) as ``|KEY``. Empty before the first step. Read through ``host`` if given."""
    host = host or HostCopies()
    out = {}
    for name, tensor, target, slot in _entries(fused, k, net):
        for key, value in optimizer.state.get(target, {}).items():
            if not torch.is_tensor(value):
                continue
            if value.dim() == 0:
                out[f"|{key}"] = host(value).clone()
            else:
                out[_state_name(name, key)] = _view(host(value), tensor, slot).clone()
    return out


def _state_name(name: str, key: str) -> str:
    return name if key == "momentum_buffer" else f"{name}|{key}"


@torch.no_grad()
def load_momentum(fused: FusedNetwork, optimizer: torch.optim.Optimizer, nets: Sequence[Network],
                  momenta: Sequence[dict[str, torch.Tensor]]) -> None:
    """Set the optimizer state of ``fused`` (built from ``nets``) from each network's
    :func:`momentum_of`; state tensors keep their parameter's device and memory format."""
    keys = {name.partition("|")[2] or "momentum_buffer" for m in momenta for name in m
            if not name.startswith("|")}
    shared = {name[1:]: value for m in momenta for name, value in m.items() if name.startswith("|")}
    full: dict[tuple[torch.Tensor, str], torch.Tensor] = {}
    for k, (net, momentum) in enumerate(zip(nets, momenta)):
        for name, tensor, target, slot in _entries(fused, k, net):
            for key in keys:
                if _state_name(name, key) in momentum:
                    buffer = full.setdefault((target, key),
                                             torch.zeros(target.shape, dtype=target.dtype))
                    _view(buffer, tensor, slot).copy_(momentum[_state_name(name, key)])
    for (param, key), buffer in full.items():
        state = optimizer.state[param]
        state[key] = torch.empty_like(param).copy_(buffer)
        for shared_key, value in shared.items():
            state[shared_key] = value.clone()


def _cells_per_stage(net: Network) -> int:
    return sum(isinstance(layer, Cell) for layer in net.cells) // 3


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` in which every BatchNorm that directly follows a conv (in
    one ``nn.Sequential``) is folded into that conv: weight * gamma / sqrt(var + eps) and bias
    beta - mean * gamma / sqrt(var + eps). The same function as the model in eval mode (BN on
    its running statistics), up to float rounding, without the BN passes."""
    folded = copy.deepcopy(model).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and conv.bias is None:
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv.weight.mul_(scale.view(-1, 1, 1, 1))
                conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale)
                seq[i + 1] = nn.Identity()
    return folded
