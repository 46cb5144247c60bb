"""Writes the parquet reader matrix of pkg/data's loader tests (issue 23).

Every way pyarrow writes a list-of-floats column that a user may hand to the loader:
each codec pyarrow writes x data page v1/v2 x dictionary on/off x a required and a
nullable list<float32> column, and a nullable one with a null row (refused, by row),
plus list<float16> columns (read as float32, exactly) and list<double> ones (which the
loader refuses by type). A parquet-go bug once read lz4 + v2 + dictionary pages as
garbage or zeros without an error; the Go test (parquet_matrix_test.go) reads every
file here and requires pyarrow's values, or a refusal that names the file.

Run from the repository root with the project's venv (scripts/setup.sh pins pyarrow):

    .venv/bin/python pkg/data/testdata/matrix/make_matrix.py           # rewrite
    .venv/bin/python pkg/data/testdata/matrix/make_matrix.py --check   # compare only

expected.json records, per file, what pyarrow reads back (its codec, page version,
dictionary use, the element type) and, once, the values every float32 file holds, so
the Go test needs no Python. tests/test_parquet_matrix.py runs --check's comparison.
"""
import json
import os
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
# 100 x 4 of x[i, j] = i + j/8, written with pyarrow's default page and row group
# sizes: under parquet-go v0.32.0 this size already made lz4 dictionary pages read as
# all zeros (v1) or as garbage (v2) without an error, and lz4 plain v1 pages fail.
ROWS, DIM = 100, 4
NULL_ROW = 37
# pyarrow's "lz4_raw" writes the same codec (LZ4_RAW) as its "lz4"; check() fails if a
# pyarrow upgrade makes them differ, so the matrix then gains it.
CODECS = ["none", "snappy", "gzip", "brotli", "zstd", "lz4"]
PAGE_VERSIONS = ["1.0", "2.0"]


def values():
    """x[i, j] = i + j/8: exact in float16 too, with repeats for the dictionary."""
    return (np.arange(ROWS)[:, None] + np.arange(DIM)[None, :] / 8).astype(np.float32)


def column(kind, x):
    if kind == "required":  # non-nullable list of non-nullable elements
        t = pa.list_(pa.field("element", pa.float32(), nullable=False))
        return pa.field("vec", t, nullable=False), pa.array([list(r) for r in x], type=t)
    t = {"nullable": pa.float32(), "nullrow": pa.float32(), "float16": pa.float16(), "float64": pa.float64()}[kind]
    t = pa.list_(t)
    if kind == "nullrow":  # row NULL_ROW is null: refused, by row
        rows = [None if i == NULL_ROW else list(r) for i, r in enumerate(x)]
    elif kind == "float16":
        rows = [list(r) for r in x.astype(np.float16)]
    else:
        rows = [list(r) for r in x.astype(t.value_type.to_pandas_dtype())]
    return pa.field("vec", t), pa.array(rows, type=t)


def cases():
    """(file name, column kind, codec, page version, dictionary) of every fixture."""
    out = []
    for codec in CODECS:
        for version in PAGE_VERSIONS:
            for dictionary in (False, True):
                for kind in ("required", "nullable", "nullrow"):
                    out.append((kind, codec, version, dictionary))
            out.append(("float16", codec, version, True))
            out.append(("float16", codec, version, False))
            out.append(("float64", codec, version, True))
    return [(f"{k}_{c}_v{v[0]}_{'dict' if d else 'plain'}.parquet", k, c, v, d) for k, c, v, d in out]


def write_all(folder):
    x = values()
    written = {}
    for name, kind, codec, version, dictionary in cases():
        field, arr = column(kind, x)
        table = pa.Table.from_arrays([arr], schema=pa.schema([field]))
        path = os.path.join(folder, name)
        pq.write_table(table, path, compression=codec, data_page_version=version,
                       use_dictionary=dictionary)
        written[name] = (kind, codec, version, dictionary)
    return written


def describe(folder, written):
    """What pyarrow reads back from each file, checked against what was written."""
    x = values()
    files = {}
    seen_codecs = {}
    for name, (kind, codec, version, dictionary) in sorted(written.items()):
        path = os.path.join(folder, name)
        pf = pq.ParquetFile(path)
        md = pf.metadata
        chunk = md.row_group(0).column(0)
        got = pf.read().column("vec").to_pylist()
        want = x.astype(np.float16) if kind == "float16" else x
        if kind == "nullrow":
            assert got[NULL_ROW] is None
            got[NULL_ROW] = list(want[NULL_ROW])
        np.testing.assert_array_equal(np.array(got, dtype=want.dtype), want)
        seen_codecs.setdefault(codec, chunk.compression)
        files[name] = {
            "kind": kind,
            "null_row": NULL_ROW if kind == "nullrow" else None,
            "element": {"float16": "float16", "float64": "double"}.get(kind, "float32"),
            "codec_asked": codec,
            "codec": chunk.compression,
            "page_version": version,
            "dictionary": "RLE_DICTIONARY" in chunk.encodings or "PLAIN_DICTIONARY" in chunk.encodings,
            "row_groups": md.num_row_groups,
            "rows": md.num_rows,
        }
    return {
        "pyarrow": pa.__version__,
        "rows": ROWS,
        "dim": DIM,
        # float32 values are exact in JSON (a float64 repr round-trips them).
        "values": [float(v) for v in x.ravel()],
        "codecs": seen_codecs,
        "files": files,
    }


def check():
    """Regenerate into a temporary folder; the values and the description must match
    the committed ones (the bytes too, under the pinned pyarrow)."""
    with open(os.path.join(HERE, "expected.json")) as f:
        committed = json.load(f)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        codecs = {}
        for c in ("lz4", "lz4_raw"):
            p = os.path.join(tmp, c + ".parquet")
            pq.write_table(pa.table({"x": [1.0]}), p, compression=c)
            codecs[c] = pq.ParquetFile(p).metadata.row_group(0).column(0).compression
            os.remove(p)
        if codecs["lz4"] != codecs["lz4_raw"]:
            problems.append(f"pyarrow now writes lz4 as {codecs['lz4']} and lz4_raw as {codecs['lz4_raw']}: add lz4_raw to CODECS")
        written = write_all(tmp)
        fresh = describe(tmp, written)
        # The committed files must read back (with pyarrow) as described.
        again = describe(HERE, written)
        for key in ("rows", "dim", "values", "files"):
            if fresh[key] != committed[key]:
                problems.append(f"regenerated {key} differ from expected.json")
            if again[key] != committed[key]:
                problems.append(f"committed files' {key} differ from expected.json")
        if fresh["pyarrow"] == committed["pyarrow"]:
            for name in written:
                with open(os.path.join(tmp, name), "rb") as a, open(os.path.join(HERE, name), "rb") as b:
                    if a.read() != b.read():
                        problems.append(f"{name}: regenerated bytes differ under pyarrow {fresh['pyarrow']}")
    return problems


def main():
    if sys.argv[1:] == ["--check"]:
        problems = check()
        for p in problems:
            print(p)
        sys.exit(1 if problems else 0)
    for name in os.listdir(HERE):
        if name.endswith(".parquet"):
            os.remove(os.path.join(HERE, name))
    written = write_all(HERE)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(describe(HERE, written), f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
