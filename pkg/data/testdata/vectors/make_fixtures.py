"""Writes the tiny parquet and .npy fixtures of pkg/data's vector-set tests.

Run from the repository root with the project's venv (scripts/setup.sh makes it):

    .venv/bin/python pkg/data/testdata/vectors/make_fixtures.py

Every fixture's values follow x[i, j] = i + j / 8 (row i, feature j), so the Go tests
compute what they expect instead of storing it. Files are written by pandas/pyarrow
and numpy, the way a user's files are.
"""
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))


def grid(n, d, dtype=np.float32):
    return (np.arange(n)[:, None] + np.arange(d)[None, :] / 8).astype(dtype)


def vec_column(x, value_type=pa.float32()):
    return pa.array([list(r) for r in x], type=pa.list_(value_type))


def write(name, table, **kw):
    pq.write_table(table, os.path.join(HERE, name), **kw)


def main():
    x = grid(6, 4)
    # pandas, defaults: dictionary-encoded pages, snappy, one row group; an int64
    # label and the activations table's filter columns.
    df = pd.DataFrame({
        "run_id": ["a", "a", "b", "b", "a", "b"],
        "epoch": np.array([1, 2, 1, 2, 1, 1], dtype=np.int32),
        "label": np.array([7, 3, 0, 9, 4, 5], dtype=np.int64),
        "vec": list(x),
    })
    df["vec"] = df["vec"].map(lambda r: r.astype(np.float32))
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.set_column(3, "vec", vec_column(x))
    write("pandas.parquet", table)
    # plain pages, data page v2, zstd, row groups of 2 rows, nullable label with a null
    label = pa.array([1, None, 2, 3, None, 4], type=pa.int32())
    write("plain_v2.parquet", pa.table({"label": label, "vec": vec_column(x)}),
          use_dictionary=False, data_page_version="2.0", compression="zstd", row_group_size=2)
    # several list<float32> columns, none, float64 elements, no label
    write("two_vectors.parquet", pa.table({"a": vec_column(x), "b": vec_column(x)}))
    write("scalars_only.parquet", pa.table({"id": pa.array(range(6)), "name": pa.array(list("abcdef"))}))
    write("float64.parquet", pa.table({"vec": vec_column(x.astype(np.float64), pa.float64())}))
    # bad rows: a short vector at row 2, a NaN at row 3 element 1, a null vector at row 4
    rows = [list(r) for r in x]
    ragged = rows[:2] + [rows[2][:3]] + rows[3:]
    write("ragged.parquet", pa.table({"vec": pa.array(ragged, type=pa.list_(pa.float32()))}))
    nan = [list(r) for r in x]
    nan[3][1] = float("nan")
    write("nan.parquet", pa.table({"vec": pa.array(nan, type=pa.list_(pa.float32()))}))
    null = [list(r) for r in x]
    null[4] = None
    write("null.parquet", pa.table({"vec": pa.array(null, type=pa.list_(pa.float32()))}))
    # a folder of two parts (rows 0-2 and 3-5) and a file the loader skips
    os.makedirs(os.path.join(HERE, "folder"), exist_ok=True)
    write("folder/part-0.parquet", pa.table({"vec": vec_column(x[:3])}))
    write("folder/part-1.parquet", pa.table({"vec": vec_column(x[3:])}))
    write("folder/_skipped.parquet", pa.table({"vec": vec_column(grid(2, 5))}))
    # .npy: float32, float16, and refused ones
    np.save(os.path.join(HERE, "f4.npy"), grid(5, 3))
    np.save(os.path.join(HERE, "f2.npy"), grid(5, 3, np.float16))
    np.save(os.path.join(HERE, "f8.npy"), grid(5, 3, np.float64))
    np.save(os.path.join(HERE, "big_endian.npy"), grid(5, 3).astype(">f4"))
    np.save(os.path.join(HERE, "fortran.npy"), np.asfortranarray(grid(5, 3)))
    np.save(os.path.join(HERE, "three_d.npy"), np.zeros((2, 3, 4), np.float32))
    inf = grid(5, 3)
    inf[4, 2] = np.inf
    np.save(os.path.join(HERE, "inf.npy"), inf)
    with open(os.path.join(HERE, "f4.npy"), "rb") as f:
        data = f.read()
    with open(os.path.join(HERE, "truncated.npy"), "wb") as f:
        f.write(data[:-5])


if __name__ == "__main__":
    main()
