"""pandas, polars and DuckDB read the same rows from a sweep before and after compaction.

Runs a small sweep with --no-compact (one file per run and table), reads every table
with the three libraries, compacts it with `go run ./experiments compact`, reads again
and compares. Needs Go (the sweep takes a few seconds on the pure-Go backend).
"""
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = """name: compaction
dataset: {name: digits, max_train_samples: 200, max_validation_samples: 50}
model:
  encoder: [{units: 16, activation: relu}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 3, batch_size: 50}
regularizers:
  - {kind: l1_activity, layer: encoder.0, weight: 0.001}
record:
  activations: {samples: 6}
  reconstructions: {samples: 3, every: 2}
sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0.001, 0.01, 0.1]}
  seeds: [1, 2]
"""


def experiments(*args):
    go = shutil.which("go") or "/usr/local/go/bin/go"
    proc = subprocess.run([go, "run", "./experiments", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@functools.cache
def declared() -> dict:
    """The output tables as package results declares them (`go run ./experiments tables`):
    name -> {key, columns, optional, ...}. The sweep below writes every table that is not
    optional (and the final weights, kept by default); those it must have."""
    tables = {t["name"]: t for t in map(json.loads, experiments("tables").splitlines())}
    assert "runs" in tables and "metrics" in tables, tables
    return tables


def written_tables() -> list:
    return [name for name, t in declared().items() if not t["optional"]]


def normalise(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Rows sorted by the table's key; list cells as tuples of floats; times as UTC µs."""
    df = df.copy()
    for col in df.columns:
        first = df[col].dropna().iloc[0] if df[col].notna().any() else None
        if first is not None and not isinstance(first, str) and hasattr(first, "__len__"):
            df[col] = df[col].map(lambda v: None if v is None else tuple(float(x) for x in v))
        elif pd.api.types.is_datetime64_any_dtype(df[col]):
            s = df[col] if getattr(df[col].dt, "tz", None) else df[col].dt.tz_localize("UTC")
            df[col] = s.dt.tz_convert("UTC").dt.as_unit("us").astype("int64")
        elif not pd.api.types.is_numeric_dtype(df[col]):
            df[col] = df[col].astype(object)
    return df.sort_values(declared()[table]["key"]).reset_index(drop=True)


def read_all(folder: Path) -> dict:
    out = {}
    for t in written_tables():
        d = folder / t
        glob = str(d / "*.parquet")
        out[("pandas", t)] = normalise(pd.read_parquet(d, engine="pyarrow"), t)
        out[("polars", t)] = normalise(pl.read_parquet(glob).to_pandas(), t)
        out[("duckdb", t)] = normalise(duckdb.sql(f"select * from read_parquet('{glob}')").df(), t)
    return out


def files(folder: Path, table: str) -> list:
    return sorted(p.name for p in (folder / table).glob("*.parquet"))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("compaction")
    spec = out / "spec.yaml"
    spec.write_text(SPEC)
    experiments("--backend", "go", "--no-compact", "--out", str(out), str(spec))
    return out / "compaction"


def test_three_readers_read_the_same_rows_before_and_after_compaction(sweep):
    assert len(files(sweep, "metrics")) == 6
    before = read_all(sweep)
    # The three libraries agree with each other on the per-run layout ...
    for t in written_tables():
        assert len(before[("pandas", t)]) > 0, t
        for lib in ("polars", "duckdb"):
            pd.testing.assert_frame_equal(before[("pandas", t)], before[(lib, t)], check_dtype=False, obj=f"{lib} {t}")
    printed = experiments("compact", str(sweep))
    assert "metrics\t6 files -> 1\t6 runs merged" in printed, printed
    for t in written_tables():
        assert files(sweep, t) == ["part-00000.parquet"], t
    after = read_all(sweep)
    # ... and each reads after compaction exactly the rows it read before.
    for (lib, t), df in before.items():
        pd.testing.assert_frame_equal(df, after[(lib, t)], check_dtype=False, obj=f"{lib} {t} after compaction")
    n = duckdb.sql(f"select count(*) from read_parquet('{sweep}/metrics/*.parquet')").fetchall()[0][0]
    assert n == len(before[("pandas", "metrics")])
