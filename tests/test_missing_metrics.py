"""A run with no final metrics (failed, or diverged before its first finite epoch) has
null final_* columns: NaN in pandas, so it can never pass for the best run of a sweep.

The Parquet files are written by the Go test that checks the same rows with parquet-go
(pkg/results/writer/missing_test.go), pointed at a temporary folder.
"""
import pandas as pd
import pytest

from conftest import go_test_output


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    out = go_test_output("TestRunsWithoutFinalMetricsHaveNullNotZero", "./pkg/results/writer",
                         "SAERUN_MISSING_METRICS_OUT", tmp_path_factory.mktemp("missing"))
    return out / "missing" / "runs"


@pytest.fixture(scope="module")
def runs(runs_dir):
    return pd.read_parquet(runs_dir, engine="pyarrow").set_index("run_id")


def test_failed_and_early_diverged_runs_have_nan_final_metrics(runs):
    cols = ["final_train_loss", "final_validation_loss", "final_validation_reconstruction"]
    for run in ["failed", "diverged"]:
        assert runs.loc[run, cols].isna().all(), runs.loc[run, cols]
    assert runs.loc["completed", "final_validation_loss"] == 0.5
    # The best run by validation loss is the one that has one.
    assert runs.final_validation_loss.idxmin() == "completed"


def test_values_that_do_not_exist_are_null_not_zero(runs):
    assert pd.isna(runs.loc["completed", "diverged_epoch"]) and runs.loc["diverged", "diverged_epoch"] == 1
    assert pd.isna(runs.loc["failed", "compile_seconds"]) and runs.loc["completed", "compile_seconds"] == 0.5


def test_polars_and_duckdb_read_nulls(runs_dir):
    import duckdb
    import polars as pl

    cols = ["final_train_loss", "final_validation_loss", "final_validation_reconstruction"]
    df = pl.read_parquet(runs_dir / "*.parquet").sort("run_id")
    for run in ["failed", "diverged"]:
        row = df.filter(pl.col("run_id") == run)
        assert all(row[c].is_null().all() for c in cols), row
    nulls = duckdb.sql(f"select count(*) from read_parquet('{runs_dir}/*.parquet') "
                       "where final_validation_loss is null").fetchall()[0][0]
    assert nulls == 2
