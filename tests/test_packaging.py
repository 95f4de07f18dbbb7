"""Packaging: where the shipped data is (one place, in a checkout and installed), what
pyproject.toml ships, and where the dataset cache goes. Fast, no network, no wheel build (the
wheel itself is checked end to end by .ci/wheel_check.sh)."""
import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from benchmark.experiments.spec import EXPERIMENTS_DIR
from nb201 import datasets as D
from nb201 import groundtruth as gt
from nb201 import provenance
from nb201.catalog import SPECS
from nb201.errors import UserError
from nb201.provenance import DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
#: the suite's code: what `pip install .` ships (tools/, perf/, tests/ are scripts of the checkout)
CODE = ("nb201", "benchmark", "proxies", "analysis")
SHIPPED_EXPERIMENTS = {"quick", "paper", "econas-factors", "econas-nb201", "search", "finder"}


# ------------------------------------------------------------------ the shipped data

def test_checkout_reads_the_repos_data_folder():
    assert provenance.in_checkout()
    assert DATA_DIR == provenance.data_dir() == ROOT / "data"


def test_installed_copy_reads_its_package_data(monkeypatch):
    monkeypatch.setattr(provenance, "in_checkout", lambda: False)
    assert provenance.data_dir() == ROOT / "nb201" / "data"   # site-packages/nb201/data installed
    assert provenance.git_hash.__wrapped__() == "unknown"


def test_every_reader_uses_data_dir():
    assert gt.TABLE.parent == DATA_DIR
    assert all(path.parent == DATA_DIR for path in D.EMBEDDED.values())
    assert D.SPLITS_DIR == DATA_DIR / "splits"
    assert EXPERIMENTS_DIR == DATA_DIR / "experiments"


def test_no_other_module_builds_a_data_path():
    """Only nb201/provenance.py names the data folder; everything else goes through DATA_DIR."""
    pattern = re.compile(r"""/\s*["']data["']|["']data["']\s*/|["']data/""")
    found = [f"{p.relative_to(ROOT)}:{n}" for pkg in CODE for p in sorted((ROOT / pkg).rglob("*.py"))
             if p != ROOT / "nb201" / "provenance.py"
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if pattern.search(line.split("#")[0])]
    assert not found, found


def test_data_dir_holds_what_the_suite_reads():
    assert gt.TABLE.is_file() and (DATA_DIR / "nb201_params_errata.csv").is_file()
    for name, spec in SPECS.items():
        assert (spec.embedded is None) == (name not in D.EMBEDDED)
        assert spec.embedded is None or (DATA_DIR / spec.embedded.file).is_file(), name
    for spec in SPECS.values():
        assert (D.SPLITS_DIR / spec.split_file).is_file(), spec.split_file
    assert SHIPPED_EXPERIMENTS <= {p.stem for p in EXPERIMENTS_DIR.glob("*.toml")}


def test_a_missing_data_file_is_a_one_line_user_error(monkeypatch, tmp_path):
    missing = tmp_path / "nb201_groundtruth.csv.gz"
    monkeypatch.setattr(gt, "TABLE", missing)
    gt.table.cache_clear()
    try:
        with pytest.raises(UserError) as e:
            gt.table()
    finally:
        gt.table.cache_clear()
    assert str(missing) in str(e.value) and "\n" not in str(e.value)
    monkeypatch.setattr(D, "SPLITS_DIR", tmp_path)
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "no-split.txt.gz"))):
        D.nb201_split("no-split.txt.gz")


# ------------------------------------------------------------------ pyproject.toml

def test_packages_are_the_code_folders_and_the_data():
    """The packages list is every folder with an __init__.py under the code folders, plus
    nb201.data: a new subpackage cannot be left out of the wheel again."""
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for pkg in CODE for p in (ROOT / pkg).rglob("__init__.py")}
    assert set(PYPROJECT["packages"]) == on_disk | {"nb201.data"}
    assert len(PYPROJECT["packages"]) == len(set(PYPROJECT["packages"]))
    assert not {"tools", "perf", "tests"} & {p.split(".")[0] for p in PYPROJECT["packages"]}


def test_the_data_folder_ships_as_nb201_data():
    assert PYPROJECT["package-dir"] == {"nb201.data": "data"}
    globs = PYPROJECT["package-data"]["nb201.data"]

    def shipped(rel: str) -> bool:    # setuptools' package-data globs: `*` stays in one folder
        parts = rel.split("/")
        return any(len(g.split("/")) == len(parts) and all(map(fnmatch.fnmatchcase, parts, g.split("/")))
                   for g in globs)

    files = [p.relative_to(ROOT / "data").as_posix() for p in (ROOT / "data").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert {"nb201_groundtruth.csv.gz", "experiments/quick.toml", "splits/cifar-split.txt.gz",
            *(spec.embedded.file for spec in SPECS.values() if spec.embedded)} <= set(files)
    assert [f for f in files if not shipped(f)] == []


# ------------------------------------------------------------------ the cache

def test_cache_env_var_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "c"))
    assert D.cache_dir() == tmp_path / "c" / "datasets"
    monkeypatch.setattr(provenance, "in_checkout", lambda: False)
    assert D.cache_root() == tmp_path / "c"


def test_cache_in_a_checkout_is_the_repos(monkeypatch):
    monkeypatch.delenv("NB201_CACHE_DIR", raising=False)
    assert D.cache_root() == ROOT / ".cache"
    assert D.cache_dir() == ROOT / ".cache" / "datasets"


def test_cache_outside_a_checkout_is_the_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("NB201_CACHE_DIR", raising=False)
    monkeypatch.setattr(provenance, "in_checkout", lambda: False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.cache_root() == tmp_path / "xdg" / "nb201"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for xdg in ("", "relative/ignored"):       # unset, empty or relative: ~/.cache
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert D.cache_root() == tmp_path / "home" / ".cache" / "nb201"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert D.cache_dir() == tmp_path / "home" / ".cache" / "nb201" / "datasets"


# ------------------------------------------------------------------ declared dependencies

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: the optional parts: packages the base install must not pull in
OPTIONAL_PACKAGES = {"ray", "lightgbm", "scikit-learn", "nas-bench-201", "nats-bench", "pytest"}


def _name(requirement) -> str:
    return requirement.name.lower().replace("_", "-")


def _declared():
    from packaging.requirements import Requirement
    base = [Requirement(r) for r in PROJECT["dependencies"]]
    extras = {extra: [Requirement(r) for r in reqs]
              for extra, reqs in PROJECT["optional-dependencies"].items()}
    return base, extras


def _pins() -> dict[str, str]:
    """requirements.txt: package -> the pinned version (what CI tests)."""
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[name.strip().lower().replace("_", "-")] = version.strip()
    return out


def test_every_pin_is_declared_once_within_its_range():
    base, extras = _declared()
    own = [r for reqs in extras.values() for r in reqs if _name(r) != PROJECT["name"]]
    declared = [*base, *own]
    names = [_name(r) for r in declared]
    assert len(names) == len(set(names)), names
    pins = _pins()
    assert set(names) == set(pins), set(names) ^ set(pins)
    for r in declared:
        assert r.specifier.contains(pins[_name(r)]), (r, pins[_name(r)])


def test_the_base_install_pulls_in_no_optional_part_and_all_is_every_extra():
    from packaging.requirements import Requirement
    base, extras = _declared()
    assert not {_name(r) for r in base} & OPTIONAL_PACKAGES
    assert {_name(r) for r in base} >= {"torch", "numpy", "numba", "pandas", "matplotlib"}
    (everything,) = [Requirement(r) for r in PROJECT["optional-dependencies"]["all"]]
    assert _name(everything) == PROJECT["name"] == provenance.DISTRIBUTION
    assert everything.extras == set(extras) - {"all"}
    assert PROJECT["version"] == provenance.SUITE_VERSION


def test_each_optional_module_names_an_extra_that_installs_its_package():
    from nb201 import extras as E
    _, extras = _declared()
    for module, (package, extra) in E.OPTIONAL.items():
        assert package.replace("_", "-") in {_name(r) for r in extras[extra]}, (module, extra)


def test_a_missing_optional_part_is_one_line_naming_its_extra(monkeypatch):
    from nb201 import extras as E
    for module, (_, extra) in E.OPTIONAL.items():
        monkeypatch.setitem(__import__("sys").modules, module, None)   # the import fails
        with pytest.raises(UserError) as e:
            E.require(module, "this command")
        text = str(e.value)
        assert "\n" not in text and f'{provenance.DISTRIBUTION}[{extra}]' in text, text
