"""Write SAE-shaped .npy (or .parquet) shards for bench/sae/stream.sh (never committed: /tmp).

    stream_shards.py DIR SHARDS ROWS [--dim 512] [--dtype f4|f2] [--format npy|parquet]
                     [--single FILE] [--val FILE]

Rows like dataset.name: synthetic (each a sum of 32 of 8,192 random unit directions with
magnitudes uniform in [0.5, 1.5)), drawn from a fixed seed. --format parquet writes each
shard as a .parquet file of one list<float32> (or list<float16>) column "vec" (pyarrow's
defaults: snappy, dictionary off for floats this varied), the same rows. --single also writes
all the rows as one .npy file (the in-memory comparison); --val writes 4,096 held-out rows
(.npy).
"""
import argparse
import os

import numpy as np


def rows(rng, feats, n, active=32):
    idx = np.stack([rng.choice(len(feats), active, replace=False) for _ in range(n)])
    mag = rng.uniform(0.5, 1.5, size=(n, active)).astype(np.float32)
    return np.einsum("na,nad->nd", mag, feats[idx], dtype=np.float32)


def write_parquet(path, x):
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = pa.array(x.ravel())
    offsets = pa.array(np.arange(0, x.size + 1, x.shape[1], dtype=np.int32))
    vec = pa.ListArray.from_arrays(offsets, values)
    pq.write_table(pa.table({"vec": vec}), path, use_dictionary=False)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("shards", type=int)
    p.add_argument("rows", type=int)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--dtype", choices=["f4", "f2"], default="f4")
    p.add_argument("--format", choices=["npy", "parquet"], default="npy")
    p.add_argument("--single")
    p.add_argument("--val")
    a = p.parse_args()
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((8192, a.dim)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    os.makedirs(a.dir, exist_ok=True)
    single = None
    if a.single:
        single = np.lib.format.open_memmap(a.single, mode="w+", dtype="<f4", shape=(a.shards * a.rows, a.dim))
    for s in range(a.shards):
        x = rows(rng, feats, a.rows)
        if a.format == "npy":
            np.save(os.path.join(a.dir, f"shard-{s:04d}.npy"), x.astype("<" + a.dtype))
        else:
            write_parquet(os.path.join(a.dir, f"shard-{s:04d}.parquet"), x.astype("<" + a.dtype))
        if single is not None:
            single[s * a.rows:(s + 1) * a.rows] = x.astype("<" + a.dtype).astype(np.float32)
    if single is not None:
        single.flush()
    if a.val:
        np.save(a.val, rows(rng, feats, 4096).astype("<f4"))


if __name__ == "__main__":
    main()
