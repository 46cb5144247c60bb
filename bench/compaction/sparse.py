"""Would storing activations sparsely (indices + values) make the activations table smaller?

Usage: sparse.py ACTIVATIONS_DIR. Reads the table, writes it back zstd-compressed (as
saerun does) as it is (dense list<float32>) and as indices list<int32> + values
list<float32> of the non-zero units, at the table's own sparsity and with each row cut to
its top 20 %, 10 % and 3 % of units; prints bytes (TSV) for each.
"""
import io
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def size(table):
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.tell()


def main():
    t = pq.read_table(sys.argv[1])
    acts = np.stack(t.column("activation").to_numpy(zero_copy_only=False))
    rest = t.drop(["activation"])
    print("nonzero\tdense_bytes\tsparse_bytes\tsparse/dense")
    for keep in [None, 0.2, 0.1, 0.03]:
        a = acts.copy()
        if keep is not None:
            a[a < np.quantile(a, 1 - keep, axis=1, keepdims=True)] = 0
        dense = rest.append_column("activation", pa.array(list(a), type=pa.list_(pa.float32())))
        idx = [np.flatnonzero(r).astype(np.int32) for r in a]
        sparse = rest.append_column("indices", pa.array(idx, type=pa.list_(pa.int32()))).append_column(
            "values", pa.array([r[i] for r, i in zip(a, idx)], type=pa.list_(pa.float32())))
        d, s = size(dense), size(sparse)
        print(f"{(a != 0).mean():.3f}\t{d}\t{s}\t{s / d:.2f}")


if __name__ == "__main__":
    main()
