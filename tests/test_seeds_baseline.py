"""Every seed reproduction must beat predicting the mean training image.

The digits specs run here at full length (seconds each); the MNIST ones take minutes, so
scripts/reproduce.sh checks them (report.py --check). The check itself is tested on a
made-up table, so that it is known to fail a run that does not beat its baseline.
"""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("seeds_report", ROOT / "experiments" / "seeds" / "report.py")
report = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(report)


def test_check_flags_runs_that_do_not_beat_the_mean_image():
    df = pd.DataFrame([
        {"experiment": "a", "params": "-", "status": "completed", "val_recon": 0.05, "base": 0.07,
         "beats": report.beats(0.05, 0.07)},
        {"experiment": "b", "params": "-", "status": "completed", "val_recon": 0.09, "base": 0.07,
         "beats": report.beats(0.09, 0.07)},
        {"experiment": "c", "params": "-", "status": "completed", "val_recon": 0.05, "base": None,
         "beats": report.beats(0.05, None)},
        {"experiment": "d", "params": "-", "status": "failed", "val_recon": None, "base": 0.07,
         "beats": report.beats(None, 0.07)},
    ])
    assert list(report.failing(df).experiment) == ["b", "c"]  # worse, and no baseline to compare


def test_digits_reproductions_beat_the_mean_image(tmp_path):
    go = shutil.which("go") or "/usr/local/go/bin/go"
    names = ["digits-satlin-kl-ae", "digits-denoising-ae"]
    for n in names:
        done = subprocess.run([go, "run", "./experiments", "--out", str(tmp_path), f"experiments/seeds/{n}.yaml"],
                              cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run([sys.executable, "experiments/seeds/report.py", "--check", "--results", str(tmp_path), *names],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" yes ") == 4, done.stdout  # 2 runs per spec, each beats its baseline
