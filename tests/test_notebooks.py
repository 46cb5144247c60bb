"""Executes the notebooks headless (scripts/notebooks.sh) and checks what they produced.

The notebooks are run once per module, into a temporary folder, which took three and a half
minutes with a warm Go build cache on the 2-core machine under load (more when cold: the
first run of the experiments command compiles GoMLX); the seed notebooks (notebooks/seeds/)
run shortened (SAERUN_SEEDS_QUICK=1, scripts/notebooks.sh's default), about two of them.
Set SAERUN_NOTEBOOKS_EXECUTED to a folder of already executed copies (e.g.
results/notebooks after `bash scripts/notebooks.sh`) to check those instead, or
SAERUN_SKIP_NOTEBOOKS=1 to skip the execution tests.
When SAERUN_QUICKSTART_RESULTS is set (scripts/test.sh), 03-pandas-analysis reads that
sweep instead of running it again.
"""
import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# Figures (image/png outputs) each notebook must produce, at least.
EXPECTED_FIGURES = {
    "01-quickstart": 6,  # loss curves (2), reconstructions, unit bars, histogram, filters
    "02-sweep-analysis": 2,  # trade-off, learning curves
    "03-pandas-analysis": 3,  # trade-off, learning curves, activations (histogram + per class)
    "04-sae-frontier": 3,  # L0-FVU frontier, feature density, top-activating images
    # notebooks/seeds/: one per seed notebook, shortened in CI (SAERUN_SEEDS_QUICK=1)
    "seeds/000-geron-sparse-ae": 10,  # unit bars (2 L1, 2 KL), histograms (4), reconstructions, filters
    "seeds/001-kl-weight-decay-ae": 6,  # loss curves (2), unit bars (2), reconstructions, filters
    "seeds/002-keras-l1-32-codings": 3,  # reconstructions, loss curves, filters
    "seeds/003-satlin-vae-denoising": 9,  # unit bars (2), reconstructions, filters, VAE samples+recon (4), denoising rows
    "seeds/004-fashion-l1-vs-kl": 9,  # L1 bars (3), KL bars + histograms (4), L1 vs KL, reconstructions
}
# Text each executed seed notebook must show: the switch's mode line, and the baseline table.
SEED_TEXT = ("SHORTENED (SAERUN_SEEDS_QUICK=1", "mean img")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def code_cells(nb: dict) -> list:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> Path:
    given = os.environ.get("SAERUN_NOTEBOOKS_EXECUTED")
    if given:
        return Path(given)
    if os.environ.get("SAERUN_SKIP_NOTEBOOKS") == "1":
        pytest.skip("SAERUN_SKIP_NOTEBOOKS=1")
    out = tmp_path_factory.mktemp("notebooks")
    env = dict(os.environ, SAERUN_NOTEBOOKS_OUT=str(out))
    if "SAERUN_RESULTS" not in env and env.get("SAERUN_QUICKSTART_RESULTS"):
        env["SAERUN_RESULTS"] = env["SAERUN_QUICKSTART_RESULTS"]
    done = subprocess.run(["bash", str(ROOT / "scripts" / "notebooks.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        pytest.fail(f"scripts/notebooks.sh exited {done.returncode}:\n{done.stderr[-6000:]}")
    return out


def test_every_notebook_has_expectations():
    names = sorted([p.stem for p in NOTEBOOKS.glob("*.ipynb")] + [f"seeds/{p.stem}" for p in NOTEBOOKS.glob("seeds/*.ipynb")])
    assert names == sorted(EXPECTED_FIGURES), "add the new notebook to EXPECTED_FIGURES"


# Set-up: the code before a notebook's first science line, at most MAX_SETUP_LINES
# non-blank lines in all (shell and magic lines, imports and comments included). The
# first science line of a GoNB notebook is its first `%%` (the first cell that runs
# something: everything above it only declares); of a Python notebook, its first read of
# the results. What notebooks share belongs in pkg/nb, tested, not in set-up cells.
MAX_SETUP_LINES = 10
SCIENCE_STARTS = {"gonb": lambda line: line.strip() == "%%", "python3": lambda line: "read_parquet(" in line}


def setup_lines(nb: dict) -> list:
    starts = SCIENCE_STARTS[nb["metadata"]["kernelspec"]["name"]]
    lines = []
    for cell in code_cells(nb):
        for line in "".join(cell["source"]).splitlines():
            if starts(line):
                return lines
            if line.strip():
                lines.append(line)
    raise AssertionError("no science line: " + ("no %% cell" if "gonb" in str(nb["metadata"]) else "no read_parquet"))


@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_setup_before_the_first_science_cell_is_at_most_10_lines(name):
    lines = setup_lines(load(NOTEBOOKS / f"{name}.ipynb"))
    assert len(lines) <= MAX_SETUP_LINES, f"{len(lines)} lines of set-up before the first science cell:\n" + "\n".join(lines)


def test_setup_count_counts_every_code_line_before_the_first_science_line():
    def nb(kernel, *cells):
        return {"metadata": {"kernelspec": {"name": kernel}},
                "cells": [{"cell_type": "code", "source": c} for c in cells]}
    go = nb("gonb", "!*go work init\n%noautoget", "import (\n\t\"x\"\n)\n\nfunc helper() {}\n%%\nhelper()", "%%\nmore()")
    assert setup_lines(go) == ["!*go work init", "%noautoget", "import (", '\t"x"', ")", "func helper() {}"]
    py = nb("python3", "import pandas as pd\n\nROOT = 1", "t = pd.read_parquet(ROOT)")
    assert setup_lines(py) == ["import pandas as pd", "ROOT = 1"]
    with pytest.raises(AssertionError):
        setup_lines(nb("gonb", "func helper() {}"))


@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_committed_notebook_has_no_outputs(name):
    nb = load(NOTEBOOKS / f"{name}.ipynb")
    for i, cell in enumerate(code_cells(nb)):
        assert cell.get("outputs") == [], f"code cell {i} has outputs: clear them before saving"
        assert cell.get("execution_count") is None, f"code cell {i} has an execution count"
    assert nb["metadata"]["kernelspec"]["name"] in ("gonb", "python3")


@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_executed_notebook_has_no_errors_and_its_figures(executed, name):
    path = executed / f"{Path(name).name}.ipynb"  # scripts/notebooks.sh writes <basename>.ipynb
    assert path.is_file(), f"no executed copy {path}"
    nb = load(path)
    cells = code_cells(nb)
    assert len(cells) == len(code_cells(load(NOTEBOOKS / f"{name}.ipynb")))
    pngs, stdout = [], ""
    for i, cell in enumerate(cells):
        assert cell.get("execution_count") is not None, f"code cell {i} did not run"
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"code cell {i}: {out.get('ename')}: {out.get('evalue')}"
            text = "".join(out.get("text", [])) if out["output_type"] == "stream" else ""
            assert "panic:" not in text, f"code cell {i} panicked:\n{text[-2000:]}"
            stdout += text
            if "image/png" in out.get("data", {}):
                pngs.append(base64.b64decode(out["data"]["image/png"]))
    assert len(pngs) >= EXPECTED_FIGURES[name], f"{len(pngs)} figures, want at least {EXPECTED_FIGURES[name]}"
    for k, png in enumerate(pngs):
        assert png.startswith(PNG_MAGIC), f"figure {k} is not a PNG"
        assert len(png) > 2000, f"figure {k} is only {len(png)} bytes"
    if name.startswith("seeds/"):
        # A folder given by hand may hold full-length copies: only the baseline is checked then.
        for want in SEED_TEXT[1:] if os.environ.get("SAERUN_NOTEBOOKS_EXECUTED") else SEED_TEXT:
            assert want in stdout, f"no {want!r} in the output"
    if name == "04-sae-frontier":
        check_sae_frontier_output(stdout)
    html = executed / f"{Path(name).name}.html"
    if html.exists():  # scripts/notebooks.sh writes it; a folder given by hand may not have it
        assert "cdnjs.cloudflare.com" not in html.read_text(encoding="utf-8")


def check_sae_frontier_output(stdout: str) -> None:
    """04-sae-frontier prints its table of final metrics and the host-side L0 check:
    every activation must have runs with finite numbers, TopK's L0 must equal its k, and
    the host's L0 over all rows must be the k it was trained with."""
    import math
    import re
    rows = {}
    for line in stdout.splitlines():
        f = line.split()
        if len(f) == 10 and f[0] in ("relu", "topk", "batchtopk", "jumprelu") and f[1] in ("k", "λ"):
            value, l0, fvu, ev, nmse, dead, dense = (float(x) for x in (f[2],) + tuple(f[4:]))
            for x in (value, l0, fvu, ev, nmse, dead, dense):
                assert math.isfinite(x), line
            assert abs(fvu + ev - 1) < 2e-4, f"FVU + explained variance != 1: {line}"
            assert 0 <= dead <= 1 and 0 <= dense <= 1 and nmse >= 0 and l0 >= 0, line
            if f[0] == "topk":
                assert abs(l0 - value) < 1e-6, f"TopK L0 {l0} != k {value}"
            rows.setdefault(f[0], []).append((value, l0, fvu))
    assert sorted(rows) == ["batchtopk", "jumprelu", "relu", "topk"], f"metrics table rows: {rows}"
    for act, rs in rows.items():
        assert len(rs) >= 3, f"{act}: {len(rs)} runs"
        assert any(fvu < 0.5 for _, _, fvu in rs), f"{act}: no run explains half the variance: {rs}"
    m = re.search(r"host L0 over all (\d+) rows ([0-9.]+)", stdout)
    assert m and int(m.group(1)) >= 1000 and abs(float(m.group(2)) - 8) < 1e-6, "no host-side L0 of 8 over the activation rows"
    assert len(re.findall(r"^latent +\d+ fires on", stdout, re.M)) >= 3, "fewer than 3 latents shown"
