"""pkg/data's parquet reader matrix: the committed files and expected.json match what
the pinned pyarrow writes and reads (the Go test reads the same files without Python)."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
GEN = ROOT / "pkg" / "data" / "testdata" / "matrix" / "make_matrix.py"


def test_regenerating_the_parquet_matrix_gives_the_committed_files_and_values():
    spec = importlib.util.spec_from_file_location("make_matrix", GEN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.check() == []
