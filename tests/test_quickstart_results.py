"""Reads the quickstart sweep's results back with pandas, as a researcher would.

scripts/test.sh runs `go run ./experiments experiments/quickstart.yaml` into a temporary
folder and points SAERUN_QUICKSTART_RESULTS at results/<name> there.
"""
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

RESULTS = Path(os.environ.get("SAERUN_QUICKSTART_RESULTS", "results/quickstart-kl"))
RUNS = 3 * 3 * 2  # weights x targets x seeds
EPOCHS = 20
UNITS = 100
PROBE = 256
ACTIVATION_EPOCHS = [5, 10, 15, 20]  # record.activations.every: 5


@pytest.fixture(scope="module")
def tables():
    if not (RESULTS / "runs").is_dir():
        pytest.fail(f"no quickstart results in {RESULTS}: run scripts/test.sh")
    return {t: pd.read_parquet(RESULTS / t, engine="pyarrow") for t in ("runs", "metrics", "units", "activations")}


def test_runs_table_has_one_row_per_run_with_swept_parameters_as_columns(tables):
    runs = tables["runs"]
    assert len(runs) == RUNS
    assert runs.run_id.is_unique
    for col in ["run_id", "regularizers.0.weight", "regularizers.0.target", "seed", "status", "backend",
                "start_time", "end_time", "wall_seconds", "final_validation_loss", "config", "tool_version"]:
        assert col in runs.columns, col
    assert set(runs.status) == {"completed"}
    assert set(runs["regularizers.0.weight"]) == {0.1, 0.3, 1.0}
    assert set(runs["regularizers.0.target"]) == {0.02, 0.05, 0.1}
    assert set(runs.seed) == {1, 2}
    assert set(runs.backend) <= {"go", "xla"}
    config = json.loads(runs.config.iloc[0])
    assert config["model"]["encoder"][0]["units"] == UNITS
    assert pd.api.types.is_datetime64_any_dtype(runs.start_time)


def test_metrics_are_tidy_and_the_loss_decreases(tables):
    m = tables["metrics"]
    assert list(m.columns) == ["run_id", "epoch", "split", "metric", "value", "elapsed_seconds"]
    per_run_epoch = 4 + 6  # train: loss, reconstruction, penalty, learning_rate; validation: the first 3 + 3 layer metrics
    assert len(m) == RUNS * EPOCHS * per_run_epoch
    assert set(m.split) == {"train", "validation"}
    assert {"loss", "reconstruction", "penalty/kl_sparsity/encoder.0", "mean_activation/encoder.0",
            "l0/encoder.0", "dead_fraction/encoder.0"} <= set(m.metric)
    wide = m[m.split == "validation"].pivot_table(index=["run_id", "epoch"], columns="metric", values="value")
    first = wide.xs(1, level="epoch")["reconstruction"]
    last = wide.xs(EPOCHS, level="epoch")["reconstruction"]
    assert (last < first).all(), (first - last).describe()
    train = m[(m.split == "train") & (m.metric == "loss")].pivot(index="run_id", columns="epoch", values="value")
    assert (train[EPOCHS] < train[1]).all()


def test_kl_sparsity_drives_mean_activation_towards_the_target(tables):
    m, runs = tables["metrics"], tables["runs"]
    final = m[(m.metric == "mean_activation/encoder.0") & (m.epoch == EPOCHS)].merge(runs, on="run_id")
    strong = final[final["regularizers.0.weight"] == 1.0]
    rel = (strong.value - strong["regularizers.0.target"]).abs() / strong["regularizers.0.target"]
    assert (rel < 0.2).all(), strong[["regularizers.0.target", "value"]]


def test_a_stronger_kl_weight_costs_reconstruction(tables):
    m, runs = tables["metrics"], tables["runs"]
    final = m[(m.metric == "reconstruction") & (m.split == "validation") & (m.epoch == EPOCHS)].merge(runs, on="run_id")
    by = final.groupby(["regularizers.0.target", "regularizers.0.weight"]).value.mean().unstack()
    assert (by[0.1] < by[1.0]).all(), by


def test_units_table_has_every_unit_every_epoch(tables):
    u = tables["units"]
    assert len(u) == RUNS * EPOCHS * UNITS
    assert {"run_id", "epoch", "layer", "unit", "mean_activation", "active_fraction", "max_activation"} <= set(u.columns)
    assert u.active_fraction.between(0, 1).all()
    assert (u.max_activation >= u.mean_activation - 1e-12).all()


def test_activations_are_float32_lists_that_stack_into_an_array(tables):
    a = tables["activations"]
    assert len(a) == RUNS * len(ACTIVATION_EPOCHS) * PROBE
    assert sorted(set(a.epoch)) == ACTIVATION_EPOCHS
    one = a[(a.run_id == a.run_id.iloc[0]) & (a.epoch == EPOCHS)].sort_values("sample")
    x = np.stack(one.activation.to_numpy())
    assert x.shape == (PROBE, UNITS)
    assert x.dtype == np.float32
    assert ((x >= 0) & (x <= 1)).all()


def test_no_temporary_files_are_visible(tables):
    hidden = [p for p in RESULTS.rglob(".*")]
    assert hidden == []
