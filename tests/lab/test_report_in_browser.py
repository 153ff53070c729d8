"""The HTML report as a person sees it: laid out by a real headless
Chromium (Debian's package; `.ci/run` installs it), measured by a script
in the page, and screenshotted."""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from keras_regkit.lab.report import write_report
from tests.lab.fake_results import fake_results

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1000  # narrower than the 1,300-px figure: it must shrink to fit

MEASURE = """
<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const cell = document.querySelector("td");
  const style = getComputedStyle(cell);
  const images = [...document.images].map(img => ({
    src: img.getAttribute("src"), loaded: img.complete && img.naturalWidth > 0,
    right: img.getBoundingClientRect().right, natural: img.naturalWidth}));
  document.body.setAttribute("data-layout", JSON.stringify({
    width, scrollWidth: document.documentElement.scrollWidth,
    border: style.borderTopStyle + " " + style.borderTopWidth,
    tables: document.querySelectorAll("table").length,
    captions: [...document.querySelectorAll("caption")].map(c => c.innerText),
    images}));
});
</script>
"""


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="needs chromium (apt-get install chromium)")
def test_html_report_layout_in_headless_chromium(tmp_path):
    assert CHROMIUM, "CI installs chromium (see .ci/run)"
    folder = tmp_path / "report"
    folder.mkdir()
    meta = {"data": "digits: tiny", "epochs": 12, "batch_size": 32,
            "seeds": [0, 1], "jit": False, "backend": "tensorflow"}
    write_report(str(folder), fake_results(), [], meta)
    page = (folder / "report.html").read_text()
    # The page itself must be valid CSS: no doubled braces left over.
    assert "{{" not in page and "}}" not in page
    (folder / "measured.html").write_text(
        page.replace("</body>", MEASURE + "</body>"))
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
              "--hide-scrollbars", f"--window-size={WIDTH},1400",
              "--virtual-time-budget=10000", "--allow-file-access-from-files"]
    dom = subprocess.run(
        [*common, "--dump-dom", (folder / "measured.html").as_uri()],
        capture_output=True, text=True, timeout=120, check=True).stdout
    match = re.search(r'data-layout="([^"]*)"', dom)
    assert match, dom[:500]
    layout = json.loads(match.group(1).replace("&quot;", '"')
                        .replace("&amp;", "&"))
    # Tables have borders.
    assert layout["tables"] == 2
    assert layout["border"].startswith("solid") and not layout[
        "border"].endswith(" 0px")
    # Each column is defined under its table.
    assert "bootstrap interval" in layout["captions"][0]
    assert "weights" in layout["captions"][1]
    # Every image loaded and stays within the page; nothing scrolls sideways.
    assert len(layout["images"]) == 1 + 3
    for image in layout["images"]:
        assert image["loaded"], image
        assert image["right"] <= layout["width"] + 1, image
    assert any(i["natural"] > WIDTH for i in layout["images"])
    assert layout["scrollWidth"] <= layout["width"]
    # The screenshot shows a page, not a blank one.
    shot = tmp_path / "report.png"
    subprocess.run([*common, f"--screenshot={shot}",
                    (folder / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image

    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"), "float32")
    assert pixels.shape[1] == WIDTH
    assert pixels.std() > 10  # text, borders and figures, not one colour
    if os.environ.get("REGKIT_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["REGKIT_KEEP_SCREENSHOT"])
