"""A run with no final metrics (failed, or diverged before its first finite epoch) has
null final_* columns: NaN in pandas, so it can never pass for the best run of a sweep.

The Parquet files are written by the Go test that checks the same rows with parquet-go
(pkg/results/writer/missing_test.go), pointed at a temporary folder.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if shutil.which("go") is None:
        pytest.fail("go is not on PATH (scripts/test.sh runs the Python tests after the Go ones)")
    out = tmp_path_factory.mktemp("missing")
    env = dict(os.environ, SAERUN_MISSING_METRICS_OUT=str(out))
    subprocess.run(["go", "test", "-count=1", "-run", "^TestRunsWithoutFinalMetricsHaveNullNotZero$", "./pkg/results/writer"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return pd.read_parquet(out / "missing" / "runs", engine="pyarrow").set_index("run_id")


def test_failed_and_early_diverged_runs_have_nan_final_metrics(runs):
    cols = ["final_train_loss", "final_validation_loss", "final_validation_reconstruction"]
    for run in ["failed", "diverged"]:
        assert runs.loc[run, cols].isna().all(), runs.loc[run, cols]
    assert runs.loc["completed", "final_validation_loss"] == 0.5
    # The best run by validation loss is the one that has one.
    assert runs.final_validation_loss.idxmin() == "completed"
