import json
import subprocess
import sys

import pytest

import proxies
from benchmark.cli import main
from nb201 import context, datasets
from nb201.catalog import EMBEDDED_DATASETS


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_index_zero(capsys):
    code, out, _ = run(["info", "0", "--dataset", "cifar10", "--json"], capsys)
    info = json.loads(out)
    assert code == 0
    assert {"index", "arch", "unique", "params_m", "flops_m", "truth"} <= set(info)   # the contract
    assert info["params_m"] == 0.129306 and info["index"] == 0
    assert info["truth"] == {"test_200": 85.8633, "valid_200": 81.9827, "test_12": 69.55}


def test_info_shows_every_dataset_as_json_and_as_text(capsys):
    from benchmark.command_results import INFO_METRICS
    from nb201 import groundtruth as gt
    from nb201.catalog import DATASETS
    _, out, _ = run(["info", "0", "--json"], capsys)
    every = json.loads(out)["datasets"]
    assert list(every) == list(DATASETS)
    for dataset, values in every.items():
        assert set(values) == {"params_m", "flops_m", *INFO_METRICS}
        for metric in INFO_METRICS:
            assert values[metric] == pytest.approx(gt.vector(dataset, metric)[0])
    assert every["cifar10"]["params_m"] == json.loads(out)["params_m"]
    _, text, _ = run(["info", "0"], capsys)
    assert "{'" not in text and not text.lstrip().startswith("{")     # no Python dict
    header = next(line for line in text.splitlines() if "cifar10" in line and "cifar100" in line)
    assert all(d in header for d in DATASETS)
    for label in ("latency", "training time", "test accuracy, 200 epochs"):
        assert label in text
    assert f"{every['cifar100']['test_200']:.2f}" in text


def test_info_by_string_and_imagenet_resolution(capsys):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    _, out32, _ = run(["info", arch, "--dataset", "cifar100", "--json"], capsys)
    _, out16, _ = run(["info", "1", "--dataset", "imagenet16-120", "--json"], capsys)
    a, b = json.loads(out32), json.loads(out16)
    assert a["index"] == b["index"] == 1
    assert b["flops_m"] < a["flops_m"] / 3  # 16x16 input: about a quarter of the conv work


def test_proxies_json(capsys):
    code, out, _ = run(["proxies", "--json"], capsys)
    rows = json.loads(out)["proxies"]
    assert code == 0 and {"params", "random"} <= {r["name"] for r in rows}
    assert all(set(r) == {"name", "kind", "higher_is_better", "version"} for r in rows)


def test_score_is_cached_and_deterministic(tmp_path, capsys):
    args = ["score", "--proxy", "params", "--dataset", "cifar10", "--sample", "40", "--seed", "5",
            "--results", str(tmp_path / "r.sqlite"), "--json", "--quiet"]
    _, first, err_first = run(args, capsys)
    _, second, err_second = run(args, capsys)
    a, b = json.loads(first), json.loads(second)
    assert a["store"] == {"served": 0, "computed": 40, "from_store": 0, "from_packs": 0,
                          "packs": {}}
    assert b["store"] == {"served": 40, "computed": 0, "from_store": 40, "from_packs": 0,
                          "packs": {}}
    assert "store: 0 rows served from the store, 40 computed now" in err_first
    assert "store: 40 rows served from the store, 0 computed now" in err_second
    for d in (a, b):
        d.pop("wall_seconds")
        d.pop("store")
    assert a == b
    assert a["n"] == 40 and len(a["scores"]) == 40 and -1 <= a["kendall_tau"] <= 1
    assert set(a["ci"]) == {"kendall_tau", "spearman", "pearson", "retrieval_top10"}
    assert set(a["scores"][0]) == {"index", "arch", "score", "truth", "seconds"}
    assert "parameters" in a["scored"].lower()     # what the proxy scores, from its description


def test_a_small_sample_gets_the_reports_warning_and_versus_gives_both_taus(tmp_path, capsys):
    base = ["score", "--proxy", "params", "--results", str(tmp_path / "r.sqlite"), "--quiet"]
    _, out, err = run(base + ["--sample", "6", "--versus", "flops", "--json"], capsys)
    result = json.loads(out)
    assert result["caveat"] == "wide"
    assert "warning: n=6: too few archs to rank this proxy" in err
    versus = result["versus"]
    assert versus["n"] == 6 and versus["a_tau"] == result["kendall_tau"]
    assert versus["b_tau"] is not None and versus["a"] == "params" and versus["b"] == "flops"
    _, text, _ = run(base + ["--sample", "6", "--versus", "flops"], capsys)
    assert f"versus flops on the same 6 archs: Kendall tau {versus['a_tau']:.3f} (params) " \
           f"against {versus['b_tau']:.3f} (flops)" in text
    _, out, err = run(base + ["--sample", "400", "--json"], capsys)
    assert json.loads(out)["caveat"] == "" and "warning" not in err


def test_proxies_text_columns_fit_the_longest_name(capsys):
    from proxies import REGISTRY
    _, text, _ = run(["proxies"], capsys)
    rows = [line for line in text.splitlines()[1:] if line and not line.startswith(("families", " "))]
    assert len(rows) == len(REGISTRY.names())
    starts = {line.index(" " + kind) for line, kind in
              ((line, line.split()[1]) for line in rows)}
    assert len(starts) == 1             # the kind column starts at one place, after every name
    assert all(len(line.split()[0]) < min(starts) + 1 for line in rows)


def test_score_archs_and_truth(tmp_path, capsys):
    code, out, _ = run(["score", "--proxy", "nb201-12ep", "--dataset", "cifar100", "--archs",
                        "0,1,2,3,4", "--truth", "valid_200", "--results", str(tmp_path / "r"),
                        "--json", "--quiet"], capsys)
    res = json.loads(out)
    assert code == 0 and [s["index"] for s in res["scores"]] == [0, 1, 2, 3, 4]
    assert res["scores"][0]["truth"] == 52.7 and res["scores"][0]["score"] == 31.26


@pytest.mark.parametrize("dataset", EMBEDDED_DATASETS)
def test_proxies_that_read_no_images_never_load_them(tmp_path, capsys, monkeypatch, dataset):
    """A dataset whose images ship is still free to score with the proxies that read none (table
    proxies, and zero-cost ones fed noise or nothing): nothing opens or decodes the images, neither
    to key their rows nor, for the table proxies, through the whole score command."""
    def refuse(*args):
        raise AssertionError(f"images loaded: {args}")
    monkeypatch.setattr(context, "_load", refuse)
    monkeypatch.setattr(datasets, "load_dataset", refuse)
    imageless = [p for p in proxies.REGISTRY if not p.needs_images]
    assert {"params", "nb201-12ep", "synflow"} <= {p.name for p in imageless}
    ctx = context.Context(dataset)
    for proxy in imageless:
        assert "images" not in proxy.fingerprint(ctx), proxy.name
    for proxy in (p for p in imageless if p.kind == "table"):
        code, out, _ = run(["score", "--proxy", proxy.name, "--dataset", dataset, "--archs", "1,2,3",
                            "--results", str(tmp_path / "r"), "--json", "--quiet"], capsys)
        assert code == 0 and json.loads(out)["n"] == 3, proxy.name


def test_random_proxy_is_seeded(tmp_path, capsys):
    base = ["score", "--proxy", "random", "--dataset", "cifar10", "--archs", "5,6,7",
            "--results", str(tmp_path / "r"), "--json", "--quiet", "--seed"]
    s0 = [s["score"] for s in json.loads(run(base + ["0"], capsys)[1])["scores"]]
    s0b = [s["score"] for s in json.loads(run(base + ["0"], capsys)[1])["scores"]]
    s1 = [s["score"] for s in json.loads(run(base + ["1"], capsys)[1])["scores"]]
    assert s0 == s0b != s1


@pytest.mark.parametrize("args", [
    ["score", "--proxy", "nope", "--dataset", "cifar10", "--sample", "3"],
    ["score", "--proxy", "params", "--dataset", "mnist", "--sample", "3"],
    ["score", "--proxy", "params", "--dataset", "cifar10", "--sample", "0"],
    ["score", "--proxy", "params", "--dataset", "cifar10"],
    ["score", "--proxy", "params", "--dataset", "cifar10", "--archs", "0,99999"],
    ["score", "--proxy", "params", "--dataset", "cifar10", "--sample", "3", "--seeds", "a,b"],
    ["score", "--proxy", "params", "--dataset", "cifar10", "--sample", "3", "--device", "tpu"],
    ["info", "|bad|"],
    ["info", "0", "--dataset", "svhn"],
    ["frobnicate"],
])
def test_bad_input_exits_2_with_one_line(args, capsys, tmp_path):
    code, out, err = run(args + ["--results", str(tmp_path / "r")] if args[0] == "score" else args,
                         capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1


def test_module_entry_point_prints_one_json_object():
    proc = subprocess.run([sys.executable, "-m", "benchmark", "info", "6111", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["truth"]["test_200"] == pytest.approx(94.373, abs=1e-3)
