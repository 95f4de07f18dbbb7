"""The NAS-Bench-201 cell search space: the Arch type and everything derived from a cell alone.

A cell is a DAG on 4 nodes; node 0 is the cell input, node 3 its output, and every edge j <- i
(i < j) carries one of five ops. The string form is NB201's own:
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` where ``~i`` names the edge's input node.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from .errors import UserError

#: Op names in NB201's order (other codebases use other orders: convert at the boundary only).
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4
#: Edges (to, from) in the order of the arch string.
EDGES = tuple((j, i) for j in range(1, NUM_NODES) for i in range(j))


@dataclass(frozen=True)
class Arch:
    """One NB201 cell: ``ops[e]`` is the op on edge ``EDGES[e]``."""

    ops: tuple[str, ...]

    def __post_init__(self):
        if len(self.ops) != len(EDGES):
            raise UserError(f"an NB201 cell has {len(EDGES)} edges, got {len(self.ops)}")
        for op in self.ops:
            if op not in OPS:
                raise UserError(f"unknown op {op!r}; NB201 ops are {', '.join(OPS)}")

    @classmethod
    def parse(cls, text: str) -> Arch:
        """Parse an NB201 arch string, reading each edge's ``~i`` input index."""
        text = text.strip()
        nodes = text.split("+")
        if len(nodes) != NUM_NODES - 1:
            raise UserError(f"bad arch {text!r}: expected {NUM_NODES - 1} nodes separated by '+', "
                            f"got {len(nodes)}")
        ops = {}
        for j, node in enumerate(nodes, start=1):
            if not (node.startswith("|") and node.endswith("|")) or len(node) < 3:
                raise UserError(f"bad arch {text!r}: node {j} must look like |op~i|...|")
            for token in node[1:-1].split("|"):
                op, sep, src = token.partition("~")
                if not sep or not src.isdigit():
                    raise UserError(f"bad arch {text!r}: edge {token!r} must be op~i")
                i = int(src)
                if i >= j:
                    raise UserError(f"bad arch {text!r}: node {j} cannot take input ~{i}")
                if (j, i) in ops:
                    raise UserError(f"bad arch {text!r}: node {j} has two edges from ~{i}")
                ops[(j, i)] = op
            if len([e for e in ops if e[0] == j]) != j:
                raise UserError(f"bad arch {text!r}: node {j} needs {j} edges")
        return cls(tuple(ops[e] for e in EDGES))

    def __str__(self) -> str:
        nodes = []
        for j in range(1, NUM_NODES):
            nodes.append("|" + "|".join(f"{self.op(j, i)}~{i}" for i in range(j)) + "|")
        return "+".join(nodes)

    def op(self, to: int, frm: int) -> str:
        return self.ops[EDGES.index((to, frm))]

    @property
    def edges(self) -> list[tuple[int, int, str]]:
        """(to, from, op) for every edge, in string order."""
        return [(j, i, op) for (j, i), op in zip(EDGES, self.ops)]

    def canonical(self) -> str:
        """NB201's isomorphism-canonical form (its ``to_unique_str(consider_zero=True)`` rule).

        Each node is the sorted ``+``-join of its incoming edges' strings, with the input ``0``;
        an edge is ``#`` (zero) when its op is none or its source is ``#``, the source's string
        itself for skip_connect, and ``(src)@op`` otherwise. Sorting makes the form independent of
        edge order. It is NB201's rule, not a full functional normal form (it keeps ``#`` terms and
        does not flatten nested sums), and it is the one that gives NB201's 6,466 unique structures
        over the 15,625 cells; its strings equal NATS-Bench's ``UniqueString``.
        """
        nodes = ["0"]
        for j in range(1, NUM_NODES):
            parts = []
            for i in range(j):
                op, src = self.op(j, i), nodes[i]
                if op == "none" or src == "#":
                    parts.append("#")
                elif op == "skip_connect":
                    parts.append(src)
                else:
                    parts.append(f"({src})@{op}")
            nodes.append("+".join(sorted(parts)))
        return nodes[-1]

    def is_connected(self) -> bool:
        """Whether the cell output depends on its input (some input-to-output path without none)."""
        reached = {0}
        for j, i, op in self.edges:
            if op != "none" and i in reached:
                reached.add(j)
        return NUM_NODES - 1 in reached

    def neighbours(self) -> list[Arch]:
        """Every arch that differs from this one in exactly one edge's op (24 of them)."""
        return [Arch(self.ops[:e] + (op,) + self.ops[e + 1:])
                for e in range(len(EDGES)) for op in OPS if op != self.ops[e]]


def all_archs() -> list[Arch]:
    """All 15,625 cells in a fixed (lexicographic over OPS indices) order; not the NB201 index order."""
    return [Arch(ops) for ops in itertools.product(OPS, repeat=len(EDGES))]
