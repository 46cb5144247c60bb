"""`go run ./experiments report` writes a page that renders its figures in Chromium.

Runs a small sweep (two swept parameters, 2 seeds), writes its report, then opens the page
in headless Chromium (Debian's chromium, installed by scripts/setup.sh) inside a harness
page that counts the report's images and how many decoded; console errors are read from
Chromium's log. Skipped where Chromium is missing, except in CI.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SPEC = """name: report
dataset: {name: digits, max_train_samples: 300, max_validation_samples: 60}
model:
  encoder: [{units: 16, activation: relu}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 3, batch_size: 50}
regularizers:
  - {kind: l1_activity, layer: encoder.0, weight: 0.001}
sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0.0001, 0.01]}
    optimizer.learning_rate: {values: [0.003, 0.01]}
  seeds: [1, 2]
"""
HARNESS = """<!doctype html><html><body><div id="result">pending</div>
<iframe id="f" src="report.html" style="width:1200px;height:9000px"></iframe>
<script>
document.getElementById('f').addEventListener('load', () => {
  const doc = document.getElementById('f').contentDocument;
  const imgs = [...doc.querySelectorAll('img')];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.getElementById('result').textContent =
    `images=${imgs.length} rendered=${ok} tables=${doc.querySelectorAll('table').length}`;
});
</script></body></html>"""


def go(*args, **kw):
    exe = shutil.which("go") or "/usr/local/go/bin/go"
    proc = subprocess.run([exe, "run", "./experiments", *args], cwd=ROOT, capture_output=True, text=True, timeout=900, **kw)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def chromium(page: Path):
    """Loads page headless; returns (DOM, console lines)."""
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    return proc.stdout, [l for l in proc.stderr.splitlines() if ":CONSOLE" in l]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium on PATH: scripts/setup.sh installs it")
        pytest.skip("no chromium on PATH (scripts/setup.sh installs Debian's chromium)")
    out = tmp_path_factory.mktemp("report")
    (out / "spec.yaml").write_text(SPEC)
    go("--backend", "go", "--out", str(out), str(out / "spec.yaml"))
    printed = go("report", str(out / "report"))
    page = out / "report" / "report.html"
    assert printed.strip() == str(page)
    return page


def test_chromium_sees_console_errors():
    """The console check below can fail: a broken page's error is in the log."""
    if CHROMIUM is None:
        pytest.skip("no chromium")
    bad = Path(os.environ.get("TMPDIR", "/tmp")) / f"saerun-bad-{os.getpid()}.html"
    bad.write_text("<!doctype html><html><body><script>noSuchFunction()</script></body></html>")
    try:
        _, console = chromium(bad)
    finally:
        bad.unlink()
    assert any("noSuchFunction" in l for l in console), console


def test_report_renders_its_figures_without_console_errors(report):
    html = report.read_text()
    # Offline: no script or stylesheet from the network.
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", html)
    for heading in ["Runs", "Sparsity against reconstruction", "Learning curves by hyperparameter", "Hidden units"]:
        assert heading in html, heading
    assert "regularizers.0.weight" in html and "optimizer.learning_rate" in html  # the swept parameters
    harness = report.parent / "harness.html"
    harness.write_text(HARNESS)
    dom, console = chromium(harness)
    m = re.search(r"images=(\d+) rendered=(\d+) tables=(\d+)", dom)
    assert m, dom[-2000:]
    images, rendered, tables = map(int, m.groups())
    # frontier + one learning-curve figure per swept parameter (2) + unit bars
    assert images == rendered == 4, m.group(0)
    assert tables >= 1
    assert console == []
