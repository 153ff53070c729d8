"""The documentation site, as CI builds it and as a reader meets it.

`mkdocs build --strict` (a broken cross-reference, link or snippet fails
it), every internal link and image of the built pages resolves, every
public name has an entry in the API reference, every page loads in a real
headless Chromium with its images and search finds a class, and every
Python block on the site runs.
"""

import functools
import html.parser
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PUBLIC = ("schedules", "strengths", "regularizers", "layers", "callbacks",
          "training", "lab")

pytestmark = pytest.mark.skipif(
    shutil.which("mkdocs") is None and not os.environ.get("CI"),
    reason='needs the docs extra (pip install -e ".[docs]")')


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once for the module, as CI builds it."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name) and tag in ("a", "img", "link", "script"):
                self.links.append(attrs[name])


def _parsed(page):
    parser = _Links()
    parser.feed(page.read_text())
    return parser


def _target(site, page, link):
    """The file a relative link of `page` names, or None for an external
    link."""
    parts = urllib.parse.urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith(("#", "mailto:")):
        return None, parts.fragment
    path = (page.parent / urllib.parse.unquote(parts.path)).resolve()
    if path.is_dir():
        path = path / "index.html"
    return path, parts.fragment


def _pages(site):
    return sorted(p for p in site.rglob("*.html") if p.name != "404.html")


def test_every_internal_link_and_image_resolves(site):
    pages = _pages(site)
    assert len(pages) >= 20
    ids = {page: _parsed(page).ids for page in pages}
    broken = []
    for page in pages:
        for link in _parsed(page).links:
            path, fragment = _target(site, page, link)
            if path is None:
                continue
            if not path.exists():
                broken.append(f"{page.relative_to(site)}: {link}")
            elif fragment and path in ids and fragment not in ids[path]:
                broken.append(f"{page.relative_to(site)}: {link} (anchor)")
        if "][scheduled]" in page.read_text():  # tools/mkdocs_hooks.py
            broken.append(f"{page.relative_to(site)}: [...][scheduled]")
    assert not broken, "\n".join(broken)


def test_every_public_name_has_an_entry_in_the_api_reference(site):
    import importlib

    missing = []
    for name in PUBLIC:
        module = importlib.import_module(f"keras_regkit.{name}")
        page = site / "api" / name / "index.html"
        ids = _parsed(page).ids
        exported = getattr(module, "__all__", None)
        assert exported, f"keras_regkit.{name} has no __all__"
        for member in exported:
            # An entry is a heading whose id ends with the name (functions
            # are documented where they are defined); an alias (`l2`) is
            # documented with the class it names.
            names = {member, getattr(getattr(module, member), "__name__",
                                     member)}
            if not any(i.rsplit(".", 1)[-1] in names for i in ids
                       if i.startswith("keras_regkit.")):
                missing.append(f"keras_regkit.{name}.{member}")
    assert not missing, ("public names without an API entry (add a "
                         "docstring and export them):\n" + "\n".join(missing))


# A page that opens every page of the site in a frame of its own (scripts
# off: the pages are static HTML, and each page's search worker would index
# the whole site again) and records what loaded; then types into the search
# box of the home page, scripts on.
# The busy loop between polls gives the search worker real time, which the
# headless browser's virtual clock would otherwise skip.
HARNESS = """<!doctype html><html><body>
<script>
const pages = PAGES;
const report = {pages: {}, search: null};
function wait() { let x = 0; for (let i = 0; i < 3e7; i++) { x += i; } }
function frame(src, sandbox, onload) {
  const f = document.createElement("iframe");
  f.width = 1200; f.height = 900;
  if (sandbox) { f.setAttribute("sandbox", "allow-same-origin"); }
  f.onload = () => onload(f.contentDocument);
  f.src = src;
  document.body.appendChild(f);
}
let left = pages.length;
for (const page of pages) {
  frame(page, true, d => {
    const article = d.querySelector("article");
    report.pages[page] = {
      title: d.title,
      text: article ? article.innerText.length : 0,
      images: [...d.images].filter(
        img => !(img.complete && img.naturalWidth > 0)).map(img => img.src),
    };
    if (--left === 0) { search(); }
  });
}
function search() {
  frame("index.html", false, d => {
    const input = d.querySelector(".md-search__input");
    input.focus();
    input.value = "DropBlock";
    input.dispatchEvent(new Event("input", {bubbles: true}));
    input.dispatchEvent(new KeyboardEvent("keyup", {bubbles: true}));
    let tries = 0;
    const poll = () => {
      const items = [...d.querySelectorAll(".md-search-result__item")];
      if (items.length || tries++ > 200) {
        report.search = items.map(item => item.innerText.slice(0, 300));
        document.body.setAttribute("data-report", JSON.stringify(report));
      } else { wait(); setTimeout(poll, 100); }
    };
    poll();
  });
}
</script></body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _chromium(*args, width=1200, height=900):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--hide-scrollbars", f"--window-size={width},{height}",
            "--virtual-time-budget=60000", *args]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="needs chromium (apt-get install chromium)")
def test_every_page_loads_in_chromium_and_search_finds_a_class(site, served):
    assert CHROMIUM, "CI installs chromium (see .ci/run)"
    pages = [p.relative_to(site).as_posix() for p in _pages(site)]
    (site / "_harness.html").write_text(
        HARNESS.replace("PAGES", json.dumps(pages)))
    dom = subprocess.run(
        _chromium("--dump-dom", f"{served}/_harness.html"),
        capture_output=True, text=True, timeout=300, check=True).stdout
    match = re.search(r'data-report="([^"]*)"', dom)
    assert match, dom[-500:]
    report = json.loads(match.group(1).replace("&quot;", '"')
                        .replace("&amp;", "&").replace("&lt;", "<")
                        .replace("&gt;", ">"))
    assert set(report["pages"]) == set(pages)
    for page, seen in report["pages"].items():
        assert "keras_regkit" in seen["title"], (page, seen)
        assert seen["text"] > 200, (page, seen)
        assert not seen["images"], (page, seen)
    # The first hit is the API entry of the class searched for.
    assert report["search"], "search found nothing"
    assert "keras_regkit.layers" in report["search"][0], report["search"]
    assert "DropBlock2D" in report["search"][0], report["search"]
    keep = os.environ.get("REGKIT_KEEP_SCREENSHOTS")
    if keep:  # for a person to look at: home, a guide, an API page, numbers
        for name, path in [("home", ""), ("guide", "guides/augmentation/"),
                           ("api", "api/layers/"),
                           ("benchmarks", "benchmarks/")]:
            subprocess.run(
                _chromium(f"--screenshot={keep}/{name}.png",
                          f"{served}/{path}", height=1400),
                capture_output=True, timeout=120, check=True)


def _python_blocks(page):
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


PAGES_WITH_CODE = sorted(
    page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md")
    if _python_blocks(page))


@pytest.mark.slow
@pytest.mark.parametrize("name", PAGES_WITH_CODE)
def test_python_blocks_of_each_page_run(name, tmp_path):
    """The site's examples are what users copy: each page's blocks, in
    order, in a fresh TensorFlow process (a few seconds per page)."""
    code = "\n".join(_python_blocks(DOCS / name))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                            env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_notebook_links_to_guide_pages_that_exist():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import sync_notebooks
    finally:
        sys.path.pop(0)
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(sync_notebooks.GUIDES) == notebooks
    for name, guides in sync_notebooks.GUIDES.items():
        cell = json.loads((ROOT / "notebooks" / name).read_text())["cells"][0]
        assert sync_notebooks.GUIDE_MARK in "".join(cell["source"]), name
        for _, target in guides:
            page, _, anchor = target.partition("#")
            assert (DOCS / "guides" / page).exists(), target
            text = (DOCS / "guides" / page).read_text()
            headings = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                        for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}
            assert not anchor or anchor in headings, (target, headings)


def test_recipe_blocks_on_the_site_are_recipes_the_lab_accepts(tmp_path):
    from keras_regkit.lab import load_recipes

    blocks = [block for page in DOCS.rglob("*.md")
              for block in re.findall(r"```yaml\n(.*?)```",
                                      page.read_text(), flags=re.S)]
    assert blocks
    for index, block in enumerate(blocks):
        path = tmp_path / f"recipes{index}.yaml"
        path.write_text(block)
        assert load_recipes(str(path))  # each one validated, none refused
