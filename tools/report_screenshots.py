"""Screenshots of a report as a reader sees it: headless Chromium at 100% zoom (device scale 1, a
``--width`` px window), one PNG per part: the main table (with its heading, caption and
footnotes), "Where the rows come from", and every figure (its images and caption).

    .venv/bin/python tools/report_screenshots.py results/report.html --out docs/figures

Writes ``report-main-table.png``, ``report-origins.png`` and ``report-figure-<key>.png`` (one per
figure the report has); prints each file with the part's size. Uses the browser driver of the
report's browser test (tests/devtools.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from devtools import DevTools, find_browser  # noqa: E402  (the tests' browser driver)

#: (file stem, JavaScript giving the part's box in page pixels)
PARTS_JS = """(() => {
  const box = (els) => {
    const rs = els.filter(Boolean).map(e => e.getBoundingClientRect());
    if (!rs.length) return null;
    const x = Math.min(...rs.map(r => r.left)), y = Math.min(...rs.map(r => r.top));
    const r = Math.max(...rs.map(r => r.right)), b = Math.max(...rs.map(r => r.bottom));
    return {x: x - 8 + scrollX, y: y - 8 + scrollY, width: r - x + 16, height: b - y + 16};
  };
  const after = (el, n) => { const out = [el]; let e = el;
    for (let i = 0; i < n && e; i++) { e = e.nextElementSibling; out.push(e); } return out; };
  const parts = {};
  const main = document.getElementById("h-main");
  if (main) {   // heading, caption, the table, its footnotes (up to the files line)
    const els = [main]; let e = main.nextElementSibling;
    while (e && !(e.tagName === "P" && e.textContent.startsWith("Files:"))) {
      els.push(e); e = e.nextElementSibling; }
    parts["report-main-table"] = box(els);
  }
  const origins = document.getElementById("origins");
  if (origins) parts["report-origins"] = box([origins]);
  for (const fig of document.querySelectorAll("figure[data-figure]"))
    parts["report-figure-" + fig.dataset.figure] = box([fig]);
  return parts;
})()"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("report", type=Path, help="a report.html")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    p.add_argument("--width", type=int, default=1400, help="window width (px)")
    args = p.parse_args(argv)
    browser = find_browser()
    if browser is None:
        raise SystemExit("no chromium found (Debian: apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile, \
            DevTools(browser, profile, width=args.width, height=1000) as page:
        page.open(args.report.resolve().as_uri())
        parts = page.evaluate(PARTS_JS)
        for stem, clip in parts.items():
            if clip is None:
                continue
            path = args.out / f"{stem}.png"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(page.screenshot(clip))
            tmp.replace(path)
            print(json.dumps({"file": str(path), "width": round(clip["width"]),
                              "height": round(clip["height"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
