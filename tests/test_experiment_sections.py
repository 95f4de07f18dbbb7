"""The registry of experiment sections: its order is the run's order, and a toy fifth section,
registered in this test, is parsed, planned, run and reported through its hooks alone."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.report import FigureSpec, ReportPart
from benchmark.cli import main
from benchmark.experiments import sections as sections_module
from benchmark.experiments.checker import Checker
from benchmark.experiments.section import Section
from benchmark.experiments.sections import sections
from nb201.errors import UserError


def test_sections_run_in_one_order_and_the_file_keys_come_from_it():
    from benchmark.experiments.spec import top_keys
    assert sections().names() == ["group", "search", "learn", "find"]
    assert top_keys()[-4:] == ("group", "search", "learn", "find")


def _parse_notes(tables, defaults, registry) -> tuple[dict, ...]:
    if not isinstance(tables, list):
        raise UserError(f"{defaults.file}: 'note' must be an array of tables [[note]]")
    out = []
    for n, table in enumerate(tables, start=1):
        c = Checker(f"{defaults.file}: [[note]] #{n}", table, ("text", "datasets"))
        out.append({"text": c.get("text", str, "", "a string"),
                    "datasets": c.datasets("datasets", defaults.datasets)})
    return tuple(out)


def _run_notes(entries, contexts, store, registry, progress, executor) -> list[dict]:
    return [{"text": e["text"], "dataset": d} for e in entries for d in e["datasets"]]


NOTE_FIGURE = FigureSpec("z", "note", "Notes", "The toy section's notes.", "notes",
                         lambda rs, frame, spec: None)


def _report_notes(exp, entries, done, store, registry) -> dict:
    rows = done if done is not None else _run_notes(entries, None, store, registry, False, None)

    def build(store, spec, out):
        table = pd.DataFrame(rows, columns=["text", "dataset"])
        return table, [], [f"{len(rows)} notes"], []
    return {"parts": (ReportPart("notes", "Every note of the toy section.", NOTE_FIGURE, build),)}


#: the toy section: one object with its hooks (a real one is a module plus a line in sections())
NOTES = Section("note", _parse_notes, keys=("text", "datasets"),
                plan=lambda entries, plan, duration: [f"  note: {e['text']}" for e in entries],
                run=_run_notes, done_key="notes", seconds_key="note_seconds",
                ran=lambda seconds, plan, duration: f"; notes in {duration(seconds)}",
                report=_report_notes)


@pytest.fixture
def with_notes(monkeypatch):
    registry = sections().copy()
    registry.register(NOTES)
    monkeypatch.setattr(sections_module, "SECTIONS", registry)
    return registry


def test_a_toy_fifth_section_is_parsed_planned_run_and_reported(tmp_path, capsys, with_notes):
    path = tmp_path / "noted.toml"
    path.write_text('[[group]]\nproxies = ["params"]\nsample = 5\n\n'
                    '[[note]]\ntext = "hello"\ndatasets = ["cifar10", "cifar100"]\n')
    db, out = str(tmp_path / "r.sqlite"), tmp_path / "out"
    assert main(["run", str(path), "--results", db, "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "  note: hello" in captured.err                                  # plan
    assert summary["notes"] == [{"text": "hello", "dataset": "cifar10"},    # run
                                {"text": "hello", "dataset": "cifar100"}]
    assert "note_seconds" in summary and "; notes in " in summary["message"]
    assert (out / "tables" / "notes.csv").is_file()                         # report
    assert "Every note of the toy section." in (out / "report.html").read_text()
    assert "2 notes" in json.loads((out / "report.json").read_text())["notes"]
    # a report of the stored results (no run): the hook reads without the run's rows
    assert main(["report", "--experiment", str(path), "--results", db, "--out",
                 str(tmp_path / "again"), "--json"]) == 0
    assert (tmp_path / "again" / "tables" / "notes.csv").is_file()


def test_a_toy_section_alone_is_an_experiment_and_its_mistakes_are_one_line(tmp_path,
                                                                            with_notes):
    from benchmark.experiments.spec import parse_experiment
    from proxies import REGISTRY
    exp = parse_experiment('[[note]]\ntext = "only"\n', tmp_path / "x.toml", REGISTRY)
    assert exp.section("note") == ({"text": "only", "datasets": ("cifar10",)},)
    with pytest.raises(UserError, match=r"\[\[note\]\] #1: unknown key 'txt'; did you mean 'text'"):
        parse_experiment('[[note]]\ntxt = "x"\n', tmp_path / "x.toml", REGISTRY)
    with pytest.raises(UserError, match=r"no \[\[group\]\] of proxies, .* and no \[\[note\]\]"):
        parse_experiment('seed = 1\n', tmp_path / "x.toml", REGISTRY)
