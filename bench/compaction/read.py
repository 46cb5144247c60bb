"""Files per table and read times of a sweep folder: the compaction benchmark's probe.

Usage: read.py RESULTS_DIR LABEL. Prints one TSV line per table (label, table, files,
bytes) and per reader (label, reader, rows, best-of-5 seconds) to stdout.
"""
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

TABLES = ["runs", "metrics", "units", "activations"]


def best(fn, n=5):
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, min(times)


def main():
    root, label = Path(sys.argv[1]), sys.argv[2]
    for t in TABLES:
        files = list((root / t).glob("*.parquet"))
        print(f"{label}\tfiles\t{t}\t{len(files)}\t{sum(f.stat().st_size for f in files)}")
    metrics = root / "metrics"
    df, secs = best(lambda: pd.read_parquet(metrics, engine="pyarrow"))
    print(f"{label}\tread\tpd.read_parquet(metrics/)\t{len(df)}\t{secs:.4f}")
    con = duckdb.connect()
    n, secs = best(lambda: con.sql(f"select count(*) from read_parquet('{metrics}/*.parquet')").fetchall()[0][0])
    print(f"{label}\tread\tduckdb count(*) metrics/\t{n}\t{secs:.4f}")
    df, secs = best(lambda: pd.read_parquet(root / "activations", engine="pyarrow"), n=3)
    print(f"{label}\tread\tpd.read_parquet(activations/)\t{len(df)}\t{secs:.4f}")


if __name__ == "__main__":
    main()
