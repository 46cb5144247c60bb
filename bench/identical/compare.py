"""Compare two result folders of the same sweep run by run, matched by run_index (so
that folders written before and after a change of the run-id scheme compare too):
every metric both record, unit statistic and activation must be bit-identical (a metric
only one side records, such as learning_rate added later, is named and left out).

    python bench/identical/compare.py BEFORE/quickstart-kl AFTER/quickstart-kl

Exit status 0 when all are identical. Used for the note of issue 21: the quickstart
trained by the code before and after the redesign (bench/identical/run.sh).
"""
import sys

import numpy as np
import pandas as pd

TABLES = [("metrics", ["epoch", "split", "metric"]),
          ("units", ["epoch", "layer", "unit"]),
          ("activations", ["epoch", "layer", "sample"])]


def same_column(x, y):
    if x.dtype != object:
        return bool(((x == y) | (pd.isna(x) & pd.isna(y))).all())
    for u, v in zip(x, y):
        if hasattr(u, "__len__") and not isinstance(u, str):
            if not np.array_equal(np.asarray(u, np.float32).view(np.uint32), np.asarray(v, np.float32).view(np.uint32)):
                return False
        elif u != v:
            return False
    return True


def main(before, after):
    ra, rb = pd.read_parquet(f"{before}/runs"), pd.read_parquet(f"{after}/runs")
    index = {"a": dict(zip(ra.run_id, ra.run_index)), "b": dict(zip(rb.run_id, rb.run_index))}
    ok = len(ra) == len(rb)
    print(f"runs: {len(ra)} and {len(rb)}")
    for table, keys in TABLES:
        a, b = pd.read_parquet(f"{before}/{table}"), pd.read_parquet(f"{after}/{table}")
        a["run_index"], b["run_index"] = a.run_id.map(index["a"]), b.run_id.map(index["b"])
        if table == "metrics":  # a metric one side records and the other never did is named, not compared
            names_a, names_b = set(a.metric), set(b.metric)
            for side, extra in (("before", names_a - names_b), ("after", names_b - names_a)):
                if extra:
                    print(f"metrics only {side}: {sorted(extra)} (left out of the comparison)")
            a, b = a[a.metric.isin(names_b)], b[b.metric.isin(names_a)]
        cols = [c for c in a.columns if c not in ("run_id", "elapsed_seconds")]
        a = a[cols].sort_values(["run_index"] + keys).reset_index(drop=True)
        b = b[cols].sort_values(["run_index"] + keys).reset_index(drop=True)
        differ = [c for c in cols if a.shape != b.shape or not same_column(a[c].values, b[c].values)]
        print(("SAME " if not differ else f"DIFF {differ} ") + f"{table}: {len(a)} and {len(b)} rows")
        ok &= not differ
    print("ALL BIT-IDENTICAL" if ok else "DIFFERENCES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
