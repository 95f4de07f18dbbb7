import pandas as pd
import pytest

from nb201 import groundtruth as gt
from nb201.errors import UserError
from nb201.space import EDGES, OPS, Arch, all_archs

FIXTURES = "tests/fixtures"


def test_every_table_string_round_trips():
    strings = gt.table()["arch"]
    assert len(set(strings)) == gt.NUM_ARCHS
    assert all(str(Arch.parse(s)) == s for s in strings)


def test_table_is_the_whole_space():
    assert {str(a) for a in all_archs()} == set(gt.table()["arch"])


def test_parse_reads_the_input_index_not_the_position():
    a = Arch.parse("|nor_conv_3x3~0|+|skip_connect~1|none~0|+|avg_pool_3x3~2|none~0|nor_conv_1x1~1|")
    assert a.op(2, 1) == "skip_connect" and a.op(2, 0) == "none"
    assert a.op(3, 2) == "avg_pool_3x3" and a.op(3, 1) == "nor_conv_1x1"
    assert str(a) == "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|"


@pytest.mark.parametrize("bad", [
    "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",      # unknown op
    "|none~0|+|none~0|none~1|",                                  # two nodes
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|",  # four nodes
    "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",           # input from itself
    "|none~0|+|none~0|none~x|+|none~0|none~1|none~2|",           # bad ~i
    "|none~0|+|none~0|none~0|+|none~0|none~1|none~2|",           # same input twice
    "|none~0|+|none~0|+|none~0|none~1|none~2|",                  # missing edge
    "none~0+none~0|none~1+none~0|none~1|none~2",                 # no bars
])
def test_malformed_strings_give_one_line_errors(bad):
    with pytest.raises(UserError) as err:
        Arch.parse(bad)
    assert "\n" not in str(err.value)


def test_canonical_form_gives_nb201s_6466_structures():
    assert len({a.canonical() for a in all_archs()}) == 6466


def test_canonical_form_equals_nats_bench_unique_strings():
    ref = pd.read_csv(f"{FIXTURES}/nats_unique_strings.csv")
    for arch, unique in zip(ref.ArchitectureString, ref.UniqueString):
        assert Arch.parse(arch).canonical() == unique


def test_isomorphic_cells_share_a_form_and_different_ones_do_not():
    # swapping the order of two parallel edges into node 3 is an isomorphism
    a = Arch.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|avg_pool_3x3~1|none~2|")
    b = Arch.parse("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    c = Arch.parse("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    assert a.canonical() != b.canonical()  # conv-then-pool is not pool-then-conv
    x = Arch.parse("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_1x1~2|")
    y = Arch.parse("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_1x1~2|")
    assert x.canonical() == y.canonical()  # skip makes node 1 equal the input
    assert c.canonical() != b.canonical()


def test_connectivity():
    assert sum(a.is_connected() for a in all_archs()) == 15284
    assert not Arch(("none",) * 6).is_connected()
    dead_end = Arch.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|")
    assert not dead_end.is_connected()
    assert Arch.parse("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|").is_connected()


def test_neighbours_change_exactly_one_edge():
    a = gt.arch_of(123)
    ns = a.neighbours()
    assert len(ns) == len(EDGES) * (len(OPS) - 1) == len(set(ns))
    assert all(sum(x != y for x, y in zip(a.ops, n.ops)) == 1 for n in ns)
    assert a not in ns
