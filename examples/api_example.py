"""The Python API in a few lines (the README's "Use it from Python"; CI runs this file):
look archs up, score a proxy on a sample and compare it with the truth, add a proxy of your own,
and run a search. Runs in about a minute on a 2-core CPU; results go to a store in a temporary
folder (pass a path as the first argument to keep them)."""
import sys
import tempfile
from pathlib import Path

from benchmark.api import Benchmark, register
from nb201.api import Proxy
from proxies.table import TableProxy


class Convs3x3(TableProxy):
    """A proxy of one's own: how many 3x3 convolutions the cell has."""

    def value(self, arch, index, ctx):
        return float(sum(op == "nor_conv_3x3" for op in arch.ops))


def main(folder: Path) -> None:
    register(Convs3x3("n-conv3x3", "table", source="network", description="3x3 convs in the cell"))
    with Benchmark("cifar10", results=folder / "results.sqlite", device="cpu") as bench:
        info = bench.info("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
                          "nor_conv_3x3~1|nor_conv_3x3~2|")
        print(f"arch {info['index']}: {info['params_m']:.3f} M params, "
              f"test_200 {info['truth']['test_200']}")
        archs = bench.sample(200, seed=0)
        for name in ("params", "n-conv3x3", "synflow"):
            result = bench.compare(name, archs[:50] if name == "synflow" else archs)
            lo, hi = result["ci"]["kendall_tau"]
            print(f"{name:<10} n={result['n']:<4} Kendall tau {result['kendall_tau']:.3f} "
                  f"[{lo:.3f}, {hi:.3f}], top-10% retrieval {result['retrieval_top10']:.2f}")
        found = bench.search("rea", "nb201-12ep-valid", budget=12000, runs=5, seed=0,
                             lookup=("cifar100",))
        print(f"REA, 12,000 s of NB201 training: final test_200 {found['final_truth_mean']:.2f} "
              f"over {found['runs']} runs; looked up on CIFAR-100: "
              f"{found['lookup']['cifar100']['final_truth_mean']:.2f}")
        assert isinstance(bench.proxy("n-conv3x3"), Proxy)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
