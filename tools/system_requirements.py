"""Which requirements a Python that brings its own packages lacks (a GPU machine's CUDA torch, no
network): what tools/setup_venv.sh does with ``NB201_SYSTEM_TORCH=1``. Standard library only (it
runs before the suite is installed).

    python tools/system_requirements.py requirements.txt [--wheels DIR] [--install]

A requirement counts as present in any installed version (the machine's own torch, not the pinned
one; the versions that differ are listed). With ``--install`` the missing ones are installed
offline from the wheels in DIR (``pip install --no-index --find-links DIR``; tools/gpu_wheels.sh
makes them). Then one line says what is still missing, and which of those are optional (a
requirement line ending in ``# optional: WHAT``). Exit status 1 when a required one is missing.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

LINE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)[^#]*(?:#\s*optional:\s*(.*))?$")


def requirements(path: str | Path) -> list[tuple[str, str, str | None]]:
    """(name, pinned version, what it is optional for or None) per pinned requirement line."""
    out = []
    for line in Path(path).read_text().splitlines():
        found = LINE.match(line)
        if found:
            name, version, optional = found.groups()
            out.append((name, version, optional.strip() if optional else None))
    return out


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def status(path) -> tuple[list, list]:
    """(missing requirements, (name, installed, pinned) of those present in another version)."""
    missing, other = [], []
    for name, version, optional in requirements(path):
        have = installed(name)
        if have is None:
            missing.append((name, version, optional))
        elif have.split("+")[0] != version:
            other.append((name, have, version))
    return missing, other


def missing_line(missing) -> str:
    """One line: what is missing, the optional ones with what needs them."""
    if not missing:
        return "every requirement is installed"
    names = [name if optional is None else f"{name} (optional: {optional})"
             for name, _, optional in missing]
    return "missing: " + ", ".join(names)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements")
    parser.add_argument("--wheels", default=None, help="a folder of wheels to install from")
    parser.add_argument("--install", action="store_true")
    args = parser.parse_args(argv)
    missing, other = status(args.requirements)
    if other:
        print("using this Python's own " + ", ".join(f"{n} {h} (pinned {v})" for n, h, v in other),
              file=sys.stderr)
    wheels = Path(args.wheels) if args.wheels else None
    if args.install and missing and wheels is not None and wheels.is_dir():
        found = {p.name.split("-")[0].lower().replace("_", "-") for p in wheels.glob("*.whl")}
        wanted = [f"{n}=={v}" for n, v, _ in missing if n.lower().replace("_", "-") in found]
        if wanted:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index",
                            "--disable-pip-version-check", "--find-links", str(wheels), *wanted],
                           check=False)
            missing, _ = status(args.requirements)
    line = missing_line(missing)
    if missing and args.install:
        line += f" (no wheel of them in {wheels}: make them with tools/gpu_wheels.sh)"
    print(line, file=sys.stderr)
    return 1 if any(optional is None for _, _, optional in missing) else 0


if __name__ == "__main__":
    sys.exit(main())
