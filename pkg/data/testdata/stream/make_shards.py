"""Writes the parquet shard folders of pkg/data's streaming tests (stream_test.go).

Run from the repository root with the project's venv (scripts/setup.sh pins pyarrow):

    .venv/bin/python pkg/data/testdata/stream/make_shards.py

Row i of a folder (counted across its shards in name order) holds i + j/4 in element j,
as the tests' .npy shards do (exact in float16 below 512), so the Go tests compute what
they expect. Each folder's shards differ in how pyarrow writes them, the ways a user's
files differ: several row groups per shard, pages of a few rows (rows then start and
end in different places of the pages a chunk reads), dictionary and plain pages, data
page v1 and v2, each codec; pandas' default file too.

    f32/       list<float32>: shards of 7, 1, 12 and 5 rows (25), 3 features
    f16/       list<float16>: the same rows
    pandas/    one shard written by pandas (a label column beside the vectors), 6 rows
    empty.parquet      a list<float32> column of 3 features and no rows
    wide.parquet       list<float32>, 2 rows of 4 features
    renamed.parquet    list<float32> in a column named acts, 2 rows of 3 features
    emptypage.parquet  list<float32> with empty data pages v2, which pyarrow writes with
                       tiny pages and the pinned parquet-go cannot decode (refused)
"""
import os
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
DIM = 3
SHARDS = [7, 1, 12, 5]
# (compression, data page version, dictionary, row group size, data page size in bytes)
STYLES = [
    ("snappy", "1.0", True, 3, 16),
    ("none", "2.0", False, 4, 1 << 20),
    ("zstd", "1.0", False, 5, 20),
    ("lz4", "2.0", True, 2, 1 << 20),
]


def rows(first, n, dim=DIM):
    return (np.arange(first, first + n)[:, None] + np.arange(dim)[None, :] / 4).astype(np.float32)


def write_folder(name, value_type):
    folder = os.path.join(HERE, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    first = 0
    for i, (n, (codec, version, dictionary, group, page)) in enumerate(zip(SHARDS, STYLES)):
        x = rows(first, n).astype(value_type.to_pandas_dtype())
        t = pa.table({"vec": pa.array([list(r) for r in x], type=pa.list_(value_type))})
        pq.write_table(t, os.path.join(folder, f"shard-{i:03d}.parquet"), compression=codec,
                       data_page_version=version, use_dictionary=dictionary, row_group_size=group,
                       data_page_size=page, write_batch_size=2)
        first += n
    # A file the stream skips, as the results reader does.
    pq.write_table(pa.table({"vec": pa.array([[0.5] * 7], type=pa.list_(pa.float32()))}),
                   os.path.join(folder, "_metadata.parquet"))


def main():
    write_folder("f32", pa.float32())
    write_folder("f16", pa.float16())
    folder = os.path.join(HERE, "pandas")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    df = pd.DataFrame({"label": np.arange(6), "vec": list(rows(0, 6))})
    df.to_parquet(os.path.join(folder, "part-0.parquet"))
    t = pa.table({"vec": pa.array([], type=pa.list_(pa.float32()))})
    pq.write_table(t, os.path.join(HERE, "empty.parquet"))
    pq.write_table(pa.table({"vec": pa.array([list(r) for r in rows(0, 2, 4)], type=pa.list_(pa.float32()))}),
                   os.path.join(HERE, "wide.parquet"))
    pq.write_table(pa.table({"acts": pa.array([list(r) for r in rows(0, 2)], type=pa.list_(pa.float32()))}),
                   os.path.join(HERE, "renamed.parquet"))
    pq.write_table(pa.table({"vec": pa.array([list(r) for r in rows(0, 5)], type=pa.list_(pa.float32()))}),
                   os.path.join(HERE, "emptypage.parquet"), compression="lz4", data_page_version="2.0",
                   use_dictionary=True, row_group_size=2, data_page_size=32, write_batch_size=2)


if __name__ == "__main__":
    main()
