"""Results packs (nb201/packs.py, the export and import commands): a pack round-trips, a damaged
one is refused whole and writes nothing, a conflicting row is reported and kept as stored, and
stores serve shipped packs' rows as if stored, for exactly the computation that made them."""
from __future__ import annotations

import gzip
import json

import pytest

from benchmark.cli import main
from nb201 import packs
from nb201.store import Store


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def stored(tmp_path, capsys):
    """A store with params on 30 archs and flops on 10."""
    results = tmp_path / "a.sqlite"
    for proxy, n in (("params", 30), ("flops", 10)):
        assert _cli(capsys, "score", "--proxy", proxy, "--sample", str(n), "--seed", "0",
                    "--results", str(results), "--json")[0] == 0
    return results


def _lines(path):
    with gzip.open(path, "rt") as f:
        return f.read().splitlines()


def test_a_pack_round_trips(stored, tmp_path, capsys):
    first, second = tmp_path / "p.jsonl.gz", tmp_path / "q.jsonl.gz"
    code, out, _ = _cli(capsys, "export", "--results", str(stored), "--out", str(first), "--json")
    header = json.loads(out)["header"]
    assert code == 0 and header["rows"] == 40 and header["format"] == packs.FORMAT
    assert {(h["proxy"], h["rows"]) for h in header["holds"]} == {("params", 30), ("flops", 10)}
    assert header["machine"]["cores"] and header["git"]
    code, out, _ = _cli(capsys, "import", str(first), "--results", str(tmp_path / "b.sqlite"), "--json")
    assert code == 0 and json.loads(out)["added"] == 40
    assert _cli(capsys, "export", "--results", str(tmp_path / "b.sqlite"), "--out", str(second))[0] == 0
    assert _lines(first)[1:] == _lines(second)[1:]            # identical rows
    code, out, _ = _cli(capsys, "import", str(first), "--results", str(tmp_path / "b.sqlite"), "--json")
    assert json.loads(out)["already_stored"] == 40 and json.loads(out)["added"] == 0


def test_export_selects_proxies_and_datasets(stored, tmp_path, capsys):
    out = tmp_path / "p.jsonl.gz"
    assert _cli(capsys, "export", "--results", str(stored), "--proxy", "flops", "--out", str(out))[0] == 0
    assert packs.read_pack(out).header["rows"] == 10
    code, _, err = _cli(capsys, "export", "--results", str(stored), "--dataset", "cifar100",
                        "--out", str(tmp_path / "none.jsonl.gz"))
    assert code == 2 and "holds no rows" in err and not (tmp_path / "none.jsonl.gz").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda lines: lines[:-3], "truncated"),                      # lines lost at the end
    (lambda lines: lines[:1] + lines[2:], "truncated or edited"),  # a row lost inside
    (lambda lines: [lines[0], lines[1].replace('"seed": 0', '"seed": 7')] + lines[2:], "checksum"),
    (lambda lines: [lines[0].replace(packs.FORMAT, "other")] + lines[1:], "not a results pack")])
def test_a_damaged_pack_is_refused_whole(stored, tmp_path, capsys, damage, message):
    good = tmp_path / "p.jsonl.gz"
    _cli(capsys, "export", "--results", str(stored), "--out", str(good))
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as f:
        f.write("\n".join(damage(_lines(good))) + "\n")
    target = tmp_path / "b.sqlite"
    code, out, err = _cli(capsys, "import", str(bad), "--results", str(target))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""
    assert not target.exists()                                      # nothing written


def test_a_cut_compressed_pack_is_refused(stored, tmp_path, capsys):
    good = tmp_path / "p.jsonl.gz"
    _cli(capsys, "export", "--results", str(stored), "--out", str(good))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    code, _, err = _cli(capsys, "import", str(cut), "--results", str(tmp_path / "b.sqlite"))
    assert code == 2 and "truncated" in err and not (tmp_path / "b.sqlite").exists()


def test_a_conflicting_row_is_reported_and_kept(stored, tmp_path, capsys):
    good = tmp_path / "p.jsonl.gz"
    _cli(capsys, "export", "--results", str(stored), "--out", str(good))
    pack = packs.read_pack(good)
    rows = [dict(r) for r in pack.rows]
    rows[0]["score"] = rows[0]["score"] + 1.0
    edited = tmp_path / "e.jsonl.gz"
    packs.write_pack(rows, edited)
    code, out, _ = _cli(capsys, "import", str(edited), "--results", str(stored), "--json")
    result = json.loads(out)
    assert code == 0 and result["already_stored"] == 39 and len(result["conflicts"]) == 1
    conflict = result["conflicts"][0]
    assert conflict["pack"] == rows[0]["score"] and conflict["stored"] == pack.rows[0]["score"]
    again = Store(stored).rows()
    assert {r["score"] for r in again if r["arch_index"] == rows[0]["arch_index"]
            and r["proxy"] == rows[0]["proxy"]} == {pack.rows[0]["score"]}


def test_shipped_rows_are_served_for_their_computation_only(stored, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "shipped"
    _cli(capsys, "export", "--results", str(stored), "--proxy", "params", "--out",
         str(folder / "mine.jsonl.gz"))
    monkeypatch.setenv(packs.ENVIRONMENT, str(folder))
    fresh = tmp_path / "fresh.sqlite"
    code, out, _ = _cli(capsys, "score", "--proxy", "params", "--sample", "30", "--seed", "0",
                        "--results", str(fresh), "--json")
    assert code == 0 and json.loads(out)["n"] == 30
    store = Store(fresh)
    assert store.rows() == []                                       # served, not computed
    frame = store.frame()
    assert set(frame["pack"]) == {"mine.jsonl.gz"} and len(frame) == 30
    assert store.frame(own=True).empty
    # another seed is another computation: computed, not served
    assert _cli(capsys, "score", "--proxy", "params", "--sample", "5", "--seed", "1",
                "--results", str(fresh))[0] == 0
    assert len(Store(fresh).rows()) == 5


def test_packs_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv(packs.ENVIRONMENT, "none")
    assert packs.pack_paths() == []
    monkeypatch.delenv(packs.ENVIRONMENT)
    assert all(p.parent == packs.SHIPPED_DIR for p in packs.pack_paths())


def test_write_pack_refuses_other_names(tmp_path):
    with pytest.raises(packs.UserError, match="ends in .jsonl.gz"):
        packs.write_pack([], tmp_path / "p.json")


@pytest.mark.parametrize("path", sorted(packs.SHIPPED_DIR.glob("*" + packs.SUFFIX)), ids=lambda p: p.name)
def test_every_shipped_pack_is_served_by_this_code(path):
    """Each pack in data/results/ reads whole, and every proxy it holds is keyed today exactly as
    when its rows were computed (on the device class they were computed on, the suite's default
    options): a change to a fingerprint that would silently orphan the shipped rows fails here."""
    from nb201.api import REGISTRY
    from nb201.context import Context
    from nb201.store import Key
    import proxies  # noqa: F401  (registers the proxies)

    pack = packs.read_pack(path)
    settings = {row["setting"] for row in pack.rows}
    assert pack.rows and len(pack.rows) == pack.header["rows"]
    for held in pack.header["holds"]:
        seeds = {row["seed"] for row in pack.rows if row["proxy"] == held["proxy"]}
        for seed in seeds:
            ctx = Context(held["dataset"], seed, device=held["device"])
            assert Key.of(REGISTRY.get(held["proxy"]), ctx).setting in settings, held
