"""pandas, polars and DuckDB read a sweep's tables while it trains (live tables).

Starts `experiments` on a small sweep (runs one after another, each about 3 s on
the pure-Go backend) and polls the metrics folder with pandas, polars and DuckDB until
it ends: every read succeeds, no (run, epoch, split, metric) row appears twice, each
run shows epochs 1..k with k never going back, and some read sees the finished epochs
of a run that is still training. Then kills a sweep with SIGKILL at a random moment,
reads (the killed run's finished epochs, once each), and resumes it: every run once,
whole, no row twice. Needs Go.
"""
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 30
SPEC = f"""name: live
dataset: {{name: digits, max_train_samples: 1500, max_validation_samples: 100}}
model:
  encoder: [{{units: 128, activation: relu}}]
  decoder: [{{activation: sigmoid}}]
loss: mse
optimizer: {{name: adam, learning_rate: 0.01}}
train: {{epochs: {EPOCHS}, batch_size: 10}}
regularizers:
  - {{kind: l1_activity, layer: encoder.0, weight: 0.001}}
sweep:
  method: grid
  parameters:
    regularizers.0.weight: {{values: [0.001, 0.1]}}
"""
KEY = ["run_id", "epoch", "split", "metric"]


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    out = tmp_path_factory.mktemp("bin") / "experiments"
    subprocess.run([go, "build", "-o", str(out), "./experiments"], cwd=ROOT, check=True, timeout=600)
    return out


def start(binary: Path, tmp: Path, *flags: str) -> subprocess.Popen:
    spec = tmp / "live.yaml"
    spec.write_text(SPEC)
    return subprocess.Popen([str(binary), str(spec), "--out", str(tmp / "results"), "--backend", "go",
                             "--group-size", "1", *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def check(df: pd.DataFrame, who: str) -> dict:
    """Checks one read: no row twice, epochs 1..k per run and split. Returns k per run."""
    dup = df[df.duplicated(KEY, keep=False)]
    assert dup.empty, f"{who}: rows read twice:\n{dup}"
    ks = {}
    for (run, split), g in df.groupby(["run_id", "split"]):
        epochs = sorted(set(g["epoch"]))
        assert epochs == list(range(1, len(epochs) + 1)), f"{who}: run {run} {split} epochs {epochs}"
        ks[run] = len(epochs)
    return ks


def read_all(metrics: Path) -> dict:
    """Reads the metrics folder with the three libraries; each must agree."""
    files = sorted(p.name for p in metrics.glob("*.parquet")) if metrics.exists() else []
    if not files:
        return {}
    ks = check(pd.read_parquet(metrics), "pandas")
    check(pl.read_parquet(str(metrics / "*.parquet")).to_pandas(), "polars")
    check(duckdb.sql(f"select * from read_parquet('{metrics}/*.parquet')").df(), "duckdb")
    return ks


def test_a_sweep_is_readable_while_it_trains(binary, tmp_path):
    proc = start(binary, tmp_path, "--no-compact")
    metrics = tmp_path / "results" / "live" / "metrics"
    last, reads, partial = {}, 0, False
    while proc.poll() is None:
        ks = read_all(metrics)
        reads += 1
        for run, k in ks.items():
            assert k >= last.get(run, 0), f"run {run} went back from {last[run]} to {k} epochs"
            partial |= 0 < k < EPOCHS and proc.poll() is None
        last.update(ks)
        time.sleep(0.05)
    assert proc.returncode == 0, proc.stderr.read()[-3000:]
    assert partial, f"no read among {reads} saw a run's finished epochs while it trained ({last})"
    assert read_all(metrics) == {run: EPOCHS for run in last} and len(last) == 2
    # Compacted, the same rows, once.
    subprocess.run([str(binary), "compact", str(tmp_path / "results" / "live")], check=True,
                   capture_output=True, timeout=300)
    assert [p.name for p in metrics.glob("*.parquet")] == ["part-00000.parquet"]
    assert read_all(metrics) == {run: EPOCHS for run in last}


def test_a_killed_sweep_shows_finished_epochs_once_and_resume_replaces_them(binary, tmp_path):
    proc = start(binary, tmp_path, "--no-compact")
    metrics = tmp_path / "results" / "live" / "metrics"
    deadline = time.time() + 120
    # Kill it while a run trains, at a random moment after its first rows are visible.
    while not read_all(metrics) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(random.uniform(0, 2))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = read_all(metrics)
    assert killed, "nothing was visible before the kill"
    runs = pd.read_parquet(tmp_path / "results" / "live" / "runs") if (tmp_path / "results" / "live" / "runs").exists() else None
    recorded = set() if runs is None else set(runs["run_id"])
    # A recorded run shows all its epochs; an unfinished one its first k (check() has
    # seen to 1..k, each once). The kill may land between two runs: then none is
    # unfinished.
    for run, k in killed.items():
        assert run not in recorded or k == EPOCHS, (run, k, killed)
    # --resume runs the unfinished run again: its rows are replaced, never added to.
    proc = start(binary, tmp_path, "--resume")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    done = read_all(metrics)
    assert done == {run: EPOCHS for run in done} and len(done) == 2, done
