#!/usr/bin/env python3
"""Copy the JavaScript the built book serves itself from node_modules/ into _vendor/.

`_config.yml` lists `_vendor` in `html_extra_path`, so its contents land at the root of
`_build/html`: `mathjax/` (MathJax 3, CHTML output, TeX extensions, menu and a11y) and
`widgets/` (RequireJS, the Jupyter widget manager and a MathJax 3 shim for it) and the widget
manager's fonts. No page then needs a CDN.
Run `npm ci` (or `npm install`) first; `make book` does both.
"""
from __future__ import annotations

import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
OUT = ROOT / "_vendor"

MATHJAX_KEEP = [  # relative to node_modules/mathjax/es5
    "tex-mml-chtml.js",
    "output/chtml",
    "input/tex/extensions",
    "input/mml",
    "ui",
    "a11y",
    "adaptors",
    "sre",
]
WIDGET_SUFFIXES = {".woff", ".woff2", ".ttf", ".eot", ".svg"}


def copy(src: pathlib.Path, dst: pathlib.Path) -> None:
    if not src.exists():
        sys.exit(f"missing {src.relative_to(ROOT)}: run `npm ci` first")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    mj = NODE / "mathjax" / "es5"
    for rel in MATHJAX_KEEP:
        copy(mj / rel, OUT / "mathjax" / rel)
    hm = NODE / "@jupyter-widgets" / "html-manager" / "dist"
    copy(hm / "embed-amd.js", OUT / "widgets" / "embed-amd.js")
    # The widget manager asks for its fonts relative to the page, at
    # @jupyter-widgets/html-manager/dist/<hash>.woff2; every page with widgets is a chapter
    # in notebooks/, so the fonts go there.
    for font in sorted(hm.iterdir()):
        if font.suffix in WIDGET_SUFFIXES:
            copy(font, OUT / "notebooks" / "@jupyter-widgets" / "html-manager" / "dist" / font.name)
    copy(ROOT / "tools" / "assets" / "mathjax-hub-shim.js", OUT / "widgets" / "mathjax-hub-shim.js")
    copy(NODE / "requirejs" / "require.js", OUT / "widgets" / "require.js")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"vendored assets: {size / 1e6:.1f} MB in {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
