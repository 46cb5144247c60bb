"""The report page holds no markup from the results: every swept value, run id, sweep
name and status is escaped, and the page's Content-Security-Policy runs no script.

Writes a sweep's results folder with pandas whose string values are hostile (HTML,
`</script>`, event handlers, quotes, `$()`, template syntax, newlines), runs
`go run ./experiments report` on it, and parses the page with Python's html.parser:
no script, no event-handler attribute, no URL but data: images and #anchors, and each
hostile value is found intact as the text of a table cell. A checker test shows the
parse does flag markup that slipped through.
"""
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
# The hostile strings of experiments/hostile_test.go that a parquet string can hold (UTF-8).
HOSTILE = [
    "a\nb", "a\rb", "\u2028\x1b", "it's", 'say "hi"', "back\\slash\\", '$(touch "$PWNED")', '`touch "$PWNED"`', "${PWNED:?}",
    "#not a comment", "{{.Name}} {{ x }}", "{% raw %}", "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "My Projects\tand tabs", "-leading-dash", "100%j %x %%",
    "key: value\n- item\n---\n", "'; touch \"$PWNED\"; echo '", "<a href=javascript:alert(1)>x</a>",
    "&lt;escaped&gt; &amp;", "]]><!--", "$x$ $\\frac{1}{0}$",
]
SWEEP = "<img src=x onerror=alert('sweep')>"


class Page(HTMLParser):
    """Collects what a page would run or load, and the text of its table cells."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems, self.cells, self.csp, self._cell = [], [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "iframe", "object", "embed", "base", "form", "svg", "math"):
            self.problems.append(f"<{tag}> {attrs}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in ("src", "href", "action", "srcset", "data", "formaction", "xlink:href") and not (
                    (value or "").startswith(("data:image/png;base64,", "#"))):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp.append(a.get("content", ""))
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(html):
    p = Page()
    p.feed(html)
    p.close()
    return p


def test_the_checker_flags_markup_from_data():
    """The page check below can fail: raw markup and a handler are flagged."""
    p = parse('<table><tr><td><img src=x onerror=alert(1)></td><td><script>x()</script></td></tr></table>')
    assert any("onerror" in x for x in p.problems) and any("<script>" in x for x in p.problems), p.problems


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not (ROOT / ".venv" / "bin" / "jupyter").exists() and shutil.which("jupyter") is None:
        if os.environ.get("CI"):
            pytest.fail("no Jupyter: scripts/setup.sh installs it into .venv")
        pytest.skip("no Jupyter: scripts/setup.sh installs it into .venv")
    out = tmp_path_factory.mktemp("hostile") / "sweep"
    n = len(HOSTILE)
    ids = [f"run{i:02d}" for i in range(n - 1)] + ["<b>run-id</b>"]
    runs = pd.DataFrame({
        "run_id": ids, "sweep": SWEEP, "status": ["completed"] * (n - 1) + ["<i>failed</i>"],
        "backend": "go", "seed": 1, "wall_seconds": 1.0,
        "dataset.path": HOSTILE, "regularizers.0.weight": [10.0 ** -(1 + i % 3) for i in range(n)],
        "final_metrics": [json.dumps({"validation/reconstruction": 0.1 + i / 100, "validation/l0/encoder.0": 2.0 + i})
                          for i in range(n)],
    })
    metrics = pd.DataFrame([{"run_id": r, "split": "validation", "metric": "reconstruction", "epoch": e,
                             "value": 1.0 / (e + 1) + i / 100} for i, r in enumerate(ids) for e in range(3)])
    for name, df in (("runs", runs), ("metrics", metrics)):
        (out / name).mkdir(parents=True)
        df.to_parquet(out / name / "part-0.parquet", index=False)
    proc = subprocess.run([go, "run", "./experiments", "report", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "report.html", encoding="utf-8", newline="") as f:  # keep carriage returns as written
        return f.read()


def test_report_page_holds_no_markup_from_the_results(page):
    p = parse(page)
    assert p.problems == [], p.problems[:10]
    # The policy comes first in the head and allows no script and no network.
    assert len(p.csp) == 1 and "default-src 'none'" in p.csp[0] and "script-src" not in p.csp[0], p.csp
    assert page.index("Content-Security-Policy") < page.index("<style")
    # Every hostile value is shown as text, intact.
    for v in HOSTILE:
        assert v in p.cells, (v, [c for c in p.cells if c.strip()][:40])
    assert "<b>run-id</b>" in p.cells and "<i>failed</i>" in p.cells
    # The sweep's name, in the summary line, as text.
    assert SWEEP not in page and "<b>&lt;img src=x onerror=alert(" in page
