"""The built book as a reader sees it: every page of `_build/html` in headless Chromium, offline.

The site is served from 127.0.0.1 and the browser may fetch nothing else (Chrome DevTools blocks
every other address), so maths or scripts that need the network fail here as they would at a
workshop without Wi-Fi. Each page is opened once; the checks below read what was recorded and
each failure names the page and what is wrong. A full-page screenshot of every page goes to
`_build/screenshots/` (CI keeps it).

Run with `make test-site` after `make book`. `PENGUIN_SITE=/some/html` checks another copy of the
site (how the failure cases were shown), `PENGUIN_SCREENSHOTS` moves the screenshots.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.site

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("PENGUIN_SITE", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = Path(os.environ.get("PENGUIN_SCREENSHOTS", ROOT / "_build" / "screenshots")).resolve()
# Debian's Chromium; GitHub's runners have Google Chrome with a matching chromedriver instead.
CHROMIUM = shutil.which("chromium") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")

if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "needs Chromium and its driver on the PATH: `sudo apt-get install chromium chromium-driver` (Debian)",
        allow_module_level=True,
    )
if not (SITE / "index.html").is_file():
    pytest.skip(f"no built book in {SITE}: run `make book` first", allow_module_level=True)

from selenium import webdriver  # noqa: E402  (only once we know there is a browser to drive)
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# A laptop screen; the book theme shows both sidebars at this width, so the text column is narrow.
WINDOW = (1280, 900)
PAGE_TIMEOUT = 30  # seconds for a page, its maths and its images
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
]

# Sphinx's own folders hold assets, not pages; a redirect (index.html) is checked on its own.
REDIRECT = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)"', flags=re.IGNORECASE)
HTML = sorted(
    path.relative_to(SITE).as_posix()
    for path in SITE.rglob("*.html")
    if not any(part.startswith("_") for part in path.relative_to(SITE).parts)
)
REDIRECTS = {page: match[1] for page in HTML if (match := REDIRECT.search((SITE / page).read_text()))}
PAGES = [page for page in HTML if page not in REDIRECTS]
SOLUTION_PAGES = [page for page in PAGES if re.search(r'class="[^"]*\bsolution\b', (SITE / page).read_text())]
MATH_PAGES = [page for page in PAGES if re.search(r'class="math\b', (SITE / page).read_text())]

# `{name}`, `{P['scan_tune']}`, `{x:.2f}`, `{glue:text}`: a format string or a MyST role never filled in.
PLACEHOLDER = re.compile(r"\{[A-Za-z_]\w*(?:\[[^\]\n]{1,40}\]|\.\w+)*(?:![rsa])?(?::[^{}\n]{0,20})?\}")
PYTHON_NOISE = re.compile(r"\b\w*Warning:|<Axes:|<Figure size|<matplotlib\.|\bnp\.(?:int|float|bool_?)\d*\(")
RAW_MATH = re.compile(r"\\[()\[\]]|\$\$|\\(?:hat|frac|mathbf|sigma|mu|sum|log|begin)(?![A-Za-z])")

# Runs in the page once it has loaded: waits for MathJax, fonts and every image, then measures.
# Text checks read the article's text nodes (hidden solutions included) outside code, so a code
# cell's f-string or a `\hat` in a plotting label is not mistaken for an unrendered placeholder.
MEASURE = r"""
const done = arguments[arguments.length - 1];
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  await Promise.all(images.map(img => img.decode().catch(() => null)));

  const article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const column = article.getBoundingClientRect();
  const describe = el => {
    const cls = [...el.classList].slice(0, 3).join(".");
    const text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 70);
    const section = el.closest("section");
    const h = section && section.querySelector("h1, h2, h3, h4");
    const heading = h ? h.textContent.replace(/[#¶]/g, "").trim() : "";
    return `<${el.tagName.toLowerCase()}${cls ? "." + cls : ""}> in "${heading}": "${text}"`;
  };
  const textOf = (root, skip) => {
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode: node => node.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
    });
    while (walker.nextNode()) out.push(walker.currentNode.nodeValue);
    return out.join("");
  };
  const overflowX = el => getComputedStyle(el).overflowX;
  const shown = el => el.checkVisibility({opacityProperty: true, visibilityProperty: true});

  // Everything in the article must end inside the text column, unless it sits in a box that
  // scrolls (and that box fits); a box that hides its overflow cuts off what runs past its edge.
  const hides = el => ["hidden", "clip"].includes(overflowX(el));
  const outside = [], clipped = [];
  const reported = new Set();  // report the outermost element only, not each cell of a table
  const report = (list, el) => { reported.add(el); if (!reported.has(el.parentElement)) list.push(describe(el)); };
  for (const el of article.querySelectorAll("*")) {
    const maths = el.closest("mjx-container");
    if ((maths && maths !== el) || el.closest("script, style, .visually-hidden, .sr-only") || !shown(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0) {
      let holder = el.parentElement;
      while (holder !== article && overflowX(holder) === "visible") holder = holder.parentElement;
      if (holder === article) {
        if (box.right > column.right + 1) report(outside, el);
      } else if (hides(holder) && box.right > holder.getBoundingClientRect().right + 1) {
        report(clipped, el);
      }
      // otherwise it scrolls in `holder`, which is measured in its turn
    }
    if (hides(el)) {
      const right = box.right + 1;
      const range = document.createRange();
      for (const node of el.childNodes) {
        if (node.nodeType !== Node.TEXT_NODE || !node.nodeValue.trim()) continue;
        range.selectNodeContents(node);
        if (range.getBoundingClientRect().right > right) { report(clipped, el); break; }
      }
    }
  }
  // Error messages wrap: a reader should not have to scroll to read what went wrong.
  const unwrapped = [...article.querySelectorAll(".output.stderr pre, .output.traceback pre, .output.error pre")]
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1).map(describe);

  const maths = [...article.querySelectorAll(".math")];
  done({
    scroll_width: document.documentElement.scrollWidth,
    viewport_width: document.documentElement.clientWidth,
    outside: outside.slice(0, 10),
    clipped: clipped.slice(0, 10),
    unwrapped: unwrapped.slice(0, 10),
    broken_images: images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.getAttribute("src")),
    n_maths: maths.length,
    untypeset: maths.filter(m => !m.querySelector("mjx-container")).map(describe).slice(0, 10),
    // TeX that MathJax did not typeset is reported as such (untypeset), not again as text.
    prose: textOf(article, "script, style, pre, code, kbd, .math, .cell_input, .cell_output, .highlight"),
    outputs: [...article.querySelectorAll(".cell_output")].map(o => textOf(o, "script, style")).join("\n"),
  });
})().catch(error => done({script_error: String(error)}));
"""

# A solution is shown when some part of it other than its title can be seen.
SOLUTION_SHOWN = r"""
const solutionShown = sol => [...sol.children].some(child => !child.classList.contains("admonition-title")
  && child.checkVisibility({opacityProperty: true, visibilityProperty: true})
  && child.getBoundingClientRect().height > 0);
"""
SOLUTIONS = (
    SOLUTION_SHOWN
    + r"""
return [...document.querySelectorAll("article .solution")].map(sol => ({
  title: (sol.querySelector(".admonition-title") || sol).textContent.trim(),
  shown: solutionShown(sol),
  button: sol.querySelector("button.toggle-button"),
}));
"""
)


@dataclass
class Page:
    """What the browser recorded on one page."""

    name: str
    console_errors: list[str] = field(default_factory=list)
    failed_local: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)
    measured: dict = field(default_factory=dict)
    solutions: list[dict] = field(default_factory=list)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=SITE))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(origin, tmp_path_factory) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
    # Screenshots of this run only: a page that is gone should not leave its picture behind.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(PAGE_TIMEOUT)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.execute_cdp_cmd("Network.enable", {})
    # The first matching pattern decides: the local site loads, every other address is refused.
    blocked = [{"urlPattern": f"{origin}/*", "block": False}, {"urlPattern": "*://*/*", "block": True}]
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urlPatterns": blocked})
    yield driver
    driver.quit()


def _requests(driver: webdriver.Chrome, origin: str) -> tuple[list[str], list[str]]:
    """Local requests that failed, and requests that went (or tried to go) off the site."""
    urls, failed, outside = {}, [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if url.startswith(("http:", "https:", "ws:", "wss:")) and not url.startswith(origin):
                outside.append(url)
        elif message["method"] == "Network.responseReceived":
            response = params["response"]
            if response["url"].startswith(origin) and response["status"] >= 400:
                failed.append(f"{response['url']}: HTTP {response['status']}")
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            url = urls.get(params["requestId"], "")
            if url.startswith(origin):
                failed.append(f"{url}: {params['errorText']}")
    # The browser asks every site for a favicon of its own accord; the book does not link one.
    failed = [f for f in failed if "/favicon.ico" not in f]
    return sorted(set(failed)), sorted(set(outside))


def _screenshot(driver: webdriver.Chrome, name: str) -> None:
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path = SCREENSHOTS / (name.removesuffix(".html").replace("/", "__") + ".png")
    path.write_bytes(base64.b64decode(shot["data"]))


def _visit(driver: webdriver.Chrome, origin: str, name: str) -> Page:
    page = Page(name)
    for log in ("browser", "performance"):
        driver.get_log(log)  # what an earlier navigation left behind belongs to no page here
    driver.get(f"{origin}/{name}")
    page.measured = driver.execute_async_script(MEASURE)
    _screenshot(driver, name)
    for solution in driver.execute_script(SOLUTIONS):
        record = {"title": solution["title"], "hidden_at_first": not solution["shown"], "shows_on_click": False}
        if solution["button"] is not None:
            solution["button"].click()
            try:
                WebDriverWait(driver, 3).until(
                    lambda d, el=solution["button"]: d.execute_script(
                        SOLUTION_SHOWN + "return solutionShown(arguments[0].closest('.solution'));", el
                    )
                )
                record["shows_on_click"] = True
            except TimeoutException:
                pass
        page.solutions.append(record)
    # Console messages about a failed request name the same request the network log reports.
    page.console_errors = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and entry.get("source") != "network"
    ]
    page.failed_local, page.network = _requests(driver, origin)
    return page


@pytest.fixture(scope="module")
def visit(browser, origin):
    """Opens a page once and returns what was recorded there."""
    seen: dict[str, Page] = {}

    def _get(name: str) -> Page:
        if name not in seen:
            seen[name] = _visit(browser, origin, name)
        measured = seen[name].measured
        assert "script_error" not in measured, f"{name}: the measuring script failed: {measured.get('script_error')}"
        return seen[name]

    return _get


def test_the_site_has_pages():
    assert "search.html" in PAGES, PAGES
    assert any(page.startswith("book/") for page in PAGES), f"no chapters in {SITE}"


def test_the_front_page_leads_to_the_book(browser, origin):
    assert "index.html" in HTML, f"no index.html in {SITE}"
    browser.get(f"{origin}/index.html")
    target = f"{origin}/{REDIRECTS.get('index.html', 'index.html')}"
    WebDriverWait(browser, PAGE_TIMEOUT).until(lambda d: d.current_url == target)
    assert REDIRECTS.get("index.html") in PAGES, f"index.html leads to {REDIRECTS.get('index.html')}, not a page"


@pytest.mark.parametrize("name", PAGES)
def test_no_javascript_errors(visit, name):
    page = visit(name)
    assert not page.console_errors, f"{name}: JavaScript errors in the console:\n" + "\n".join(page.console_errors)


@pytest.mark.parametrize("name", PAGES)
def test_every_local_file_loads_and_nothing_needs_the_network(visit, name):
    page = visit(name)
    assert not page.failed_local, f"{name}: requests for the site's own files failed:\n" + "\n".join(page.failed_local)
    assert not page.network, f"{name}: the page needs the network (blocked here):\n" + "\n".join(page.network)


@pytest.mark.parametrize("name", PAGES)
def test_every_image_loads(visit, name):
    measured = visit(name).measured
    assert not measured["broken_images"], f"{name}: images that did not load: {measured['broken_images']}"


def test_the_book_has_maths():
    assert MATH_PAGES, f"no maths found in {SITE}: did Sphinx's `math` class change?"


@pytest.mark.parametrize("name", PAGES)
def test_maths_is_typeset(visit, name):
    measured = visit(name).measured
    if name in MATH_PAGES:
        assert measured["n_maths"] > 0, f"{name}: the HTML has maths, the browser found none"
    assert not measured["untypeset"], (
        f"{name}: {len(measured['untypeset'])} maths element(s) not typeset by MathJax (is _static/mathjax "
        f"there?), first: {measured['untypeset'][:3]}"
    )
    raw = sorted({match.group() for match in RAW_MATH.finditer(measured["prose"])})
    assert not raw, f"{name}: raw TeX in the text: {raw}; context: {_context(RAW_MATH, measured['prose'])}"


@pytest.mark.parametrize("name", PAGES)
def test_no_unrendered_placeholders(visit, name):
    measured = visit(name).measured
    text = measured["prose"] + "\n" + measured["outputs"]
    found = _context(PLACEHOLDER, text)
    assert not found, f"{name}: unrendered placeholder text on the page: {found}"


@pytest.mark.parametrize("name", PAGES)
def test_no_python_warnings_or_reprs(visit, name):
    measured = visit(name).measured
    found = _context(PYTHON_NOISE, measured["prose"] + "\n" + measured["outputs"])
    assert not found, f"{name}: Python warnings or object reprs on the page: {found}"


@pytest.mark.parametrize("name", PAGES)
def test_nothing_wider_than_the_text_column(visit, name):
    measured = visit(name).measured
    assert measured["scroll_width"] <= measured["viewport_width"], (
        f"{name}: the page scrolls sideways ({measured['scroll_width']} px of content in a "
        f"{measured['viewport_width']} px window); wider than the text column: {measured['outside']}"
    )
    assert not measured["outside"], f"{name}: wider than the text column, with no box to scroll in: " + "\n".join(
        measured["outside"]
    )
    assert not measured["clipped"], f"{name}: content cut off, out of reach: " + "\n".join(measured["clipped"])
    assert not measured["unwrapped"], f"{name}: error messages that do not wrap: " + "\n".join(measured["unwrapped"])


def test_the_book_has_exercise_solutions():
    assert SOLUTION_PAGES, f"no sphinx-exercise solutions found in {SITE}: did the class names change?"


@pytest.mark.parametrize("name", SOLUTION_PAGES)
def test_solutions_hidden_until_their_button_is_clicked(visit, name):
    solutions = visit(name).solutions
    assert solutions, f"{name}: the HTML has solutions but the browser found none"
    shown_at_first = [s["title"] for s in solutions if not s["hidden_at_first"]]
    assert not shown_at_first, f"{name}: solutions visible before their button is clicked: {shown_at_first}"
    stuck = [s["title"] for s in solutions if not s["shows_on_click"]]
    assert not stuck, f"{name}: solutions that do not show when their button is clicked: {stuck}"


def test_search_finds_mixture(browser, origin):
    browser.get(f"{origin}/search.html?q=Mixture")
    try:
        WebDriverWait(browser, PAGE_TIMEOUT).until(
            lambda d: d.execute_script("return document.querySelectorAll('#search-results li').length") > 0
        )
    except TimeoutException:
        status = browser.execute_script("return document.querySelector('#search-results')?.innerText ?? ''")
        pytest.fail(f"search.html?q=Mixture found nothing within {PAGE_TIMEOUT} s: {status[:200]!r}")
    hits = browser.execute_script("return [...document.querySelectorAll('#search-results li a')].map(a => a.href)")
    assert any("/book/" in hit for hit in hits), f"the search found no chapter: {hits}"


def _context(pattern: re.Pattern, text: str, limit: int = 5) -> list[str]:
    """Each match with a little of the text around it, so the report says where it is."""
    return [" ".join(text[max(0, m.start() - 40) : m.end() + 40].split()) for m in list(pattern.finditer(text))[:limit]]
