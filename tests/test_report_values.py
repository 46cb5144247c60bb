"""The report shows values as written and an SAE sweep's own quantities.

Runs a small TopK SAE sweep on the synthetic set (k in [2, 4] × learning rate in
[1e-05, 0.002]), then `go run ./experiments report`, and reads the runs table and the page:
k is an int64 column (2, not 2.0), the page's runs table prints 1e-05 and 0.002 (never
0.0000) and k as 2 and 4, FVU and one L0 column; the SAE section draws the dead/dense
fractions and the feature-density histogram.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SPEC = """name: report-sae
dataset:
  name: synthetic
  synthetic: {dim: 16, features: 48, samples: 1200, active: 3, seed: 0}
  validation_fraction: 0.25
model:
  kind: sae
  sae: {latents: 32, activation: topk, k: 2}
loss: mse_sum
optimizer: {name: adam, learning_rate: 1.0e-3}
train: {epochs: 3, batch_size: 100, seed: 1}
record:
  units: {layers: [encoder.0], every: 3}
  activations: {layers: [encoder.0], samples: 0}
sweep:
  method: grid
  parameters:
    model.sae.k: {values: [2, 4]}
    optimizer.learning_rate: {values: [1.0e-5, 0.002]}
"""


def go(*args):
    exe = shutil.which("go") or "/usr/local/go/bin/go"
    proc = subprocess.run([exe, "run", "./experiments", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def cells(html, tag):
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", html, re.S)]


def test_sae_report_shows_values_as_written_and_sae_quantities(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC)
    go("--out", str(tmp_path), str(tmp_path / "spec.yaml"))
    folder = tmp_path / "report-sae"
    runs = pd.read_parquet(folder / "runs")
    assert runs["model.sae.k"].dtype == "int64", runs.dtypes
    assert sorted(runs["model.sae.k"]) == [2, 2, 4, 4]

    page = Path(go("report", str(folder)).strip()).read_text()
    table = re.search(r"<table.*?</table>", page, re.S).group(0)
    heads, data = cells(table, "th"), cells(table, "td")
    assert "fvu" in heads and len([h for h in heads if h.startswith("L0")]) == 1, heads
    assert "group wall s" in heads, heads
    assert "1e-05" in data and "0.002" in data and "0.0000" not in table, data
    assert "2" in data and "4" in data and "2.0" not in data, data
    sae = page[page.index("Sparse autoencoder: dead and dense"):page.index("Hidden units")]
    assert sae.count("<img") == 2, "dead/dense fractions and the feature-density histogram"
    assert "Not a sparse autoencoder" not in page
