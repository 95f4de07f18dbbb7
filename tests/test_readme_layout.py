"""The README's layout table names every module of the suite's packages (it cannot drift)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nb201", "proxies", "analysis", "benchmark")


def layout_rows() -> dict[str, str]:
    """The layout table's module cells, joined per folder (a row with an empty folder cell
    continues the row above)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| folder | layer | modules |"):].split("\n\n")[0]
    rows: dict[str, str] = {}
    folder = None
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        folder = cells[0].strip("`/") or folder
        rows[folder] = rows.get(folder, "") + " " + cells[2]
    return rows


def test_the_layout_table_names_every_module():
    rows = layout_rows()
    missing = [f"{pkg}/{path.relative_to(ROOT / pkg).as_posix()}"
               for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py"))
               if path.name != "__init__.py"
               and f"`{path.relative_to(ROOT / pkg).as_posix()}`" not in rows.get(pkg, "")]
    assert not missing, f"the README's layout table does not name {missing}"


def test_the_layout_table_names_no_module_that_is_gone():
    rows = layout_rows()
    for pkg in PACKAGES:
        named = [word.strip("`") for word in rows[pkg].replace(",", " ").split()
                 if word.startswith("`") and word.rstrip(",;)").endswith(".py`")]
        for name in named:
            name = name.rstrip("`,;)")
            assert (ROOT / pkg / name).is_file(), f"README names {pkg}/{name}, which is not there"
