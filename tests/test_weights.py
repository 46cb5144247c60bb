"""record.weights writes a weights/ table that pandas reads: one row per run, epoch,
layer and kind, the values as a list<float32> that reshapes to its shape column.
record.activations.samples: all records every validation sample.

The files are written by the Go test that checks the same rows with the Go reader
(pkg/runner/record_test.go), pointed at a temporary folder.
"""
import numpy as np
import pandas as pd
import pytest

from conftest import go_test_output


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = go_test_output("TestRecordedWeightsActivationsOfAllSamplesAndBothMAPEs", "./pkg/runner",
                         "SAERUN_RECORD_TEST_OUT", tmp_path_factory.mktemp("record"))
    return out / "rec"


def test_weights_read_back_with_pandas_and_reshape_to_their_shape(sweep):
    w = pd.read_parquet(sweep / "weights")
    assert sorted(w.epoch.unique()) == [2, 3]            # every 2 epochs and the last
    assert set(w.kind) == {"kernel", "bias"}
    k = w[(w.layer == "encoder.0") & (w.kind == "kernel") & (w.epoch == 3)].iloc[0]
    kernel = np.asarray(k["values"], dtype=np.float32).reshape(k["shape"])
    assert kernel.shape == (64, 12)
    assert kernel.dtype == np.float32 and np.isfinite(kernel).all()
    b = w[(w.layer == "decoder.0") & (w.kind == "bias") & (w.epoch == 3)].iloc[0]
    assert list(b["shape"]) == [64]


def test_activations_of_all_samples_cover_the_validation_set(sweep):
    a = pd.read_parquet(sweep / "activations")
    assert sorted(a.validation_index) == list(range(60))


def test_both_mapes_are_recorded(sweep):
    m = pd.read_parquet(sweep / "metrics")
    names = set(m[m.split == "validation"].metric)
    assert {"mape", "mape_seed"} <= names
