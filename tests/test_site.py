"""Checks of the built book (`_build/html`), as readers meet it.

Run after `jupyter-book build . -W -n --keep-going` (`make test` does). The browser tests load
every page in headless Chromium (Debian's `chromium`, driven by Playwright) from a local
server, with every request to another host blocked and recorded.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import pathlib
import re
import shutil
import threading
from urllib.parse import urlparse

import pytest
import yaml

pytestmark = pytest.mark.site

ROOT = pathlib.Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def pages() -> list[str]:
    """Every page of the table of contents, as a path relative to _build/html."""
    from test_book import toc_files  # same folder; pytest puts it on sys.path

    return [f"{entry}.html" for entry in toc_files()]


def chapters() -> list[str]:
    return [p for p in pages() if p.startswith("notebooks/")]


@pytest.fixture(scope="module", autouse=True)
def built():
    if not (HTML / "index.html").is_file():
        pytest.fail("_build/html is missing: run `jupyter-book build . -W -n --keep-going` first")


# --- static checks of the HTML -------------------------------------------------------------

@pytest.mark.parametrize("page", pages())
def test_every_toc_page_is_built(page):
    assert (HTML / page).is_file(), f"{page} was not built"


EXTERNAL_ASSET = re.compile(
    r"<(?:script|img|iframe|source|audio|video)\b[^>]*\bsrc=[\"'](?:https?:)?//"
    r"|<link\b[^>]*\bhref=[\"'](?:https?:)?//", re.I)


def test_no_page_loads_an_asset_from_another_host():
    offenders = []
    for path in HTML.rglob("*.html"):
        for match in EXTERNAL_ASSET.finditer(path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(f"{path.relative_to(HTML)}: {match.group(0)[:120]}")
    assert not offenders, "\n".join(offenders[:20])


def test_mathjax_and_widget_manager_are_served_by_the_book():
    for rel in ("mathjax/tex-mml-chtml.js", "widgets/require.js", "widgets/embed-amd.js"):
        assert (HTML / rel).is_file(), f"{rel} is not in the built site"
    intro = (HTML / "book" / "intro.html").read_text(encoding="utf-8")
    assert re.search(r'<script[^>]*src="\.\./_static/\.\./mathjax/tex-mml-chtml\.js', intro), (
        "pages do not load the book's own MathJax")


@pytest.mark.parametrize("page", chapters())
def test_colab_launch_link_points_at_the_chapter(page):
    repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    branch = CONFIG["repository"]["branch"]
    expected = (f"https://colab.research.google.com/github/{repo}/blob/{branch}/"
                f"{page.removesuffix('.html')}.ipynb")
    links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"',
                       (HTML / page).read_text(encoding="utf-8"))
    assert expected in links, f"{page}: Colab links {links}, expected {expected}"


# --- the browser ---------------------------------------------------------------------------

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (tools/apt_install.sh installs it as root)")
        pytest.skip("chromium is not installed: `apt-get install chromium` to run the page tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def load_page(browser, server: str, page: str) -> dict:
    """Open one page; return what the reader would see and what went wrong."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    external: list[str] = []
    local_host = urlparse(server).netloc

    def route(r):
        host = urlparse(r.request.url).netloc
        if r.request.url.startswith(("data:", "blob:")) or host == local_host:
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    tab.route("**/*", route)
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: None if urlparse(r.url).netloc != local_host
           else problems.append(f"request failed: {r.url}"))
    tab.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    tab.goto(f"{server}/{page}", wait_until="load")
    tab.wait_for_function("() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)")
    tab.evaluate("() => window.MathJax ? window.MathJax.startup.promise : null")
    tab.wait_for_timeout(300)
    info = tab.evaluate("""() => {
        const main = document.querySelector('main') || document.body;
        const clone = main.cloneNode(true);
        clone.querySelectorAll('pre, code, .highlight, script, style, mjx-container, .cell_input')
             .forEach(e => e.remove());
        const imgs = [...main.querySelectorAll('img')].map(i => ({src: i.currentSrc || i.src,
                       ok: i.complete && i.naturalWidth > 0}));
        return {
          text: clone.innerText,
          math: document.querySelectorAll('mjx-container').length,
          mathErrors: document.querySelectorAll('mjx-merror').length,
          images: imgs,
          errorOutputs: document.querySelectorAll('.output.error, .output .traceback, div.cell_output .ansi-red-fg').length,
          widgetStates: document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').length,
          widgetViews: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
          widgetsRendered: document.querySelectorAll('.jupyter-widgets, .widget-box, .widget-slider, .lm-Widget').length,
          colab: [...document.querySelectorAll('a[href*="colab.research.google.com"]')].map(a => a.href),
        };
    }""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png")), full_page=True)
    context.close()
    info.update(problems=problems, external=external)
    return info


@pytest.fixture(scope="module")
def rendered(browser, server):
    return {page: load_page(browser, server, page) for page in pages()}


@pytest.mark.parametrize("page", pages())
def test_page_renders_cleanly(rendered, page):
    info = rendered[page]
    assert not info["external"], f"{page} asked another host for: {info['external'][:5]}"
    assert not info["problems"], f"{page}: " + "; ".join(info["problems"][:5])
    assert info["errorOutputs"] == 0, f"{page} shows an error output"


@pytest.mark.parametrize("page", pages())
def test_math_is_typeset(rendered, page):
    info = rendered[page]
    raw = re.findall(r"\$\$|\\\(|\\\[|(?<![\w$])\$[^$\s][^$\n]{0,80}\$", info["text"])
    assert not raw, f"{page}: raw TeX left on the page: {raw[:5]}"
    assert info["mathErrors"] == 0, f"{page}: MathJax reported {info['mathErrors']} errors"


@pytest.mark.parametrize("page", pages())
def test_images_load(rendered, page):
    broken = [i["src"] for i in rendered[page]["images"] if not i["ok"]]
    assert not broken, f"{page}: images that did not load: {broken}"


@pytest.mark.parametrize("page", chapters())
def test_chapter_shows_math_figures_and_colab(rendered, page):
    info = rendered[page]
    assert info["math"] > 0, f"{page}: no typeset formula"
    assert any(i["ok"] for i in info["images"]), f"{page}: no figure"
    assert info["colab"], f"{page}: no Colab link"


@pytest.mark.parametrize("page", chapters())
def test_saved_widgets_render(rendered, page):
    info = rendered[page]
    if info["widgetViews"] == 0:
        pytest.skip(f"{page} has no saved widget")
    assert info["widgetsRendered"] > 0, f"{page}: {info['widgetViews']} saved widgets, none rendered"
