"""``[[search]]`` tables of experiment files: checked when the file is loaded (one line naming the
file and the table), run by ``python -m benchmark run`` and reported."""
import json
import re

import pytest

from nb201.errors import UserError


SEARCH_EXPERIMENT = """
title = "searches"
[[search]]
name = "baselines"
strategy = ["rea", "random"]
fitness = "nb201-12ep-valid"
budget = [1500, 3000]
runs = 3
[[search]]
name = "ladder"
strategy = "econas"
fitness = "nb201-12ep:8,nb201-200ep-valid:2"
queries = 20
runs = 2
datasets = ["cifar100"]
"""


def test_experiment_search_tables_are_checked(tmp_path):
    from benchmark.experiments.spec import parse_experiment
    from proxies import REGISTRY
    exp = parse_experiment(SEARCH_EXPERIMENT, tmp_path / "s.toml", REGISTRY)
    assert not exp.groups and len(exp.searches) == 5
    assert {(e.spec.strategy, e.spec.limits.budget_s) for e in exp.searches[:4]} == {
        ("rea", 1500.0), ("rea", 3000.0), ("random", 1500.0), ("random", 3000.0)}
    assert exp.searches[4].spec.dataset == "cifar100" and "--queries 20" in exp.searches[4].command()
    for text, message in (
            ('[[search]]\nstrategy="rea"\nfitness="nb201-12ep-valid"\nbudget=1\nbudgt=2', "unknown key 'budgt'"),
            ('[[search]]\nstrategy="rea"\nbudget=1', "'fitness' is missing"),
            ('[[search]]\nstrategy="rea"\nfitness="nb201-12ep-valid"\nbudget=1\nqueries=3', "exactly one"),
            ('[[search]]\nstrategy="econas"\nfitness="a:0"\nbudget=1', "bad ladder"),
            ('[[search]]\nstrategy="rea"\nfitness="nb201-12ep-valid"\nbudget=0', "--budget must be > 0"),
            ('[[search]]\nstrategy="rea"\nfitness="nb201-12ep-valid"\nbudget=1\npool="x"', "'pool' must be"),
            ("seed = 0", "no [[group]] of proxies, no [[search]], no [[learn]] "
             "and no [[find]]")):
        with pytest.raises(UserError, match=re.escape(message)) as err:
            parse_experiment(text, tmp_path / "bad.toml", REGISTRY)
        assert "\n" not in str(err.value) and "bad.toml" in str(err.value)


def test_experiment_runs_searches_and_reports_them(tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.experiments.run import run_experiment
    from proxies import REGISTRY
    path = tmp_path / "s.toml"
    path.write_text(SEARCH_EXPERIMENT)
    out, results = tmp_path / "out", tmp_path / "r.sqlite"
    assert main(["run", str(path), "--results", str(results), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s["computed_runs"] for s in summary["searches"]] == [3, 3, 3, 3, 2]
    assert summary["search_seconds"] > 0 and "; searches in " in summary["message"]
    html = (out / "report.html").read_text()
    assert 'id="figure-g-cifar10"' in html and 'id="figure-g-cifar100"' in html
    assert 'id="table-search"' in html and "python -m benchmark search --strategy econas" in html
    table = (out / "tables" / "search.csv").read_text()
    assert table.count("\n") == 6 and "econas" in table
    again = run_experiment(path, REGISTRY, results, out=out, progress=False).summary
    assert all(s["computed_runs"] == 0 for s in again["searches"])


@pytest.mark.parametrize("extra, message", [
    ("budgt = 2", "unknown key 'budgt'; did you mean 'budget'?"),
    ('zc_proxi = "params"', "unknown key 'zc_proxi'; did you mean 'zc_proxy'?"),
    ("runs = [1, 2]", "'runs' must be an integer, got [1, 2]"),
    ("population = []", "'population' must be a int or a non-empty list of them, got []"),
    ('budget = [1, "x"]', "'budget' must be a number or a non-empty list of them"),
])
def test_search_tables_are_read_by_the_shared_checker(tmp_path, extra, message):
    """[[search]] reads its keys like every other section (benchmark.experiments.checker): typo
    hints, and a value or a non-empty list of values of the key's type."""
    from benchmark.experiments.spec import parse_experiment
    from proxies import REGISTRY
    text = f'[[search]]\nname = "s"\nstrategy = "rea"\nfitness = "nb201-12ep-valid"\n{extra}\n'
    text += "" if "budget" in extra else "budget = 1\n"
    with pytest.raises(UserError, match=re.escape(f"bad.toml: [[search]] 's': {message}")):
        parse_experiment(text, tmp_path / "bad.toml", REGISTRY)
