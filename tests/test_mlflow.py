"""Runs are logged to a real MLflow tracking server (mlflow==3.17.2, SQLite backend store).

The test starts `mlflow server` (from .venv-mlflow, which scripts/setup.sh installs;
$SAERUN_MLFLOW names another executable) on a free port, runs the quickstart's 18 runs
(3 epochs each) with --tracking-uri, and reads back through the REST API every run, its
params and every metric's history, against the Parquet tables. A second sweep, given the
server through $MLFLOW_TRACKING_URI, has its server killed mid-sweep: the sweep completes
with its Parquet tables whole and one warning; after a restart, --resume logs the missing
runs from the tables, and another --resume logs nothing twice.
Skipped without mlflow, except in CI (CI or SAERUN_REQUIRE_XLA=1).
"""
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 3
SWEEP = ["experiments/quickstart.yaml", "--set", f"train.epochs={EPOCHS}"]


def mlflow_exe():
    for c in [os.environ.get("SAERUN_MLFLOW"), str(ROOT / ".venv-mlflow" / "bin" / "mlflow"), shutil.which("mlflow")]:
        if c and os.access(c, os.X_OK):
            return c
    if os.environ.get("CI") or os.environ.get("SAERUN_REQUIRE_XLA") == "1":
        pytest.fail("no mlflow: scripts/setup.sh installs it into .venv-mlflow")
    pytest.skip("no mlflow (scripts/setup.sh installs it into .venv-mlflow; or set SAERUN_MLFLOW)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db: Path, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(db.with_suffix(f".{port}.{time.time_ns()}.log"), "w")
        self.proc = subprocess.Popen(
            [mlflow_exe(), "server", "--backend-store-uri", f"sqlite:///{db}", "--default-artifact-root", str(db.parent / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            assert self.proc.poll() is None, Path(self.log.name).read_text()[-3000:]
            time.sleep(0.5)
        raise AssertionError("mlflow server did not start: " + Path(self.log.name).read_text()[-3000:])

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def api(self, path, body=None, **query):
        url = f"{self.url}/api/2.0/mlflow/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def runs(self, sweep):
        exp = self.api("experiments/get-by-name", experiment_name=sweep)["experiment"]["experiment_id"]
        return self.api("runs/search", {"experiment_ids": [exp], "max_results": 1000}).get("runs", [])


def go(*args, env=None, check=True):
    exe = shutil.which("go") or "/usr/local/go/bin/go"
    proc = subprocess.run([exe, "run", "./experiments", *args], cwd=ROOT, capture_output=True, text=True, timeout=1200,
                          env=env or os.environ.copy())
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def tags(run):
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def fmt(v):
    """A swept value as the tracker writes it (Go's strconv 'g', -1)."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def check_against_parquet(server, folder: Path, sweep="quickstart-kl"):
    runs = pd.read_parquet(folder / "runs")
    metrics = pd.read_parquet(folder / "metrics")
    assert len(runs) == 18 and (runs.status == "completed").all()
    logged = [r for r in server.runs(sweep) if tags(r).get("saerun.logged") == "complete"]
    by_name = {r["info"]["run_name"]: r for r in logged}
    assert len(logged) == 18 and set(by_name) == set(runs.run_id), (len(logged), sorted(by_name))
    for _, row in runs.iterrows():
        m = by_name[row.run_id]
        assert m["info"]["status"] == "FINISHED"
        t = tags(m)
        assert t["saerun.run_id"] == row.run_id and json.loads(t["saerun.config"]) == json.loads(row.config)
        params = {p["key"]: p["value"] for p in m["data"]["params"]}
        assert params == {"regularizers.0.weight": fmt(row["regularizers.0.weight"]),
                          "regularizers.0.target": fmt(row["regularizers.0.target"]), "seed": str(row.seed)}, params
        mine = metrics[metrics.run_id == row.run_id]
        keys = set(mine.split + "/" + mine.metric)
        assert {x["key"] for x in m["data"]["metrics"]} == keys
        for key in keys:
            split, name = key.split("/", 1)
            want = mine[(mine.split == split) & (mine.metric == name)].sort_values("epoch")
            hist = server.api("metrics/get-history", run_id=m["info"]["run_id"], metric_key=key)["metrics"]
            hist = sorted(hist, key=lambda h: h["step"])
            assert [h["step"] for h in hist] == list(want.epoch) == list(range(1, EPOCHS + 1)), key
            for h, v in zip(hist, want.value):
                assert math.isclose(float(h["value"]), v, rel_tol=1e-12, abs_tol=0), (key, h, v)


def test_quickstart_runs_params_and_metric_histories_reach_mlflow(tmp_path):
    server = Server(tmp_path / "mlflow.db", free_port())
    try:
        out = tmp_path / "results"
        proc = go(*SWEEP, "--out", str(out), "--tracking-uri", server.url)
        # All 18 are logged live; on a loaded machine the end of the sweep waits only
        # 30 s for the server, and the catch-up logs the rest from the tables.
        m = re.search(r"(\d+) runs logged live, (\d+) caught up from the tables", proc.stderr)
        assert m and int(m[1]) >= 1 and int(m[1]) + int(m[2]) == 18, proc.stderr[-2000:]
        assert [l for l in proc.stderr.splitlines() if "warning" in l and "still queued" not in l] == []
        check_against_parquet(server, out / "quickstart-kl")
        # --resume of the finished sweep logs nothing twice.
        proc = go(*SWEEP, "--out", str(out), "--resume", "--tracking-uri", server.url)
        assert "0 runs logged live, 0 caught up from the tables, 18 already there" in proc.stderr, proc.stderr[-2000:]
        assert len(server.runs("quickstart-kl")) == 18
    finally:
        server.kill()


def test_server_killed_mid_sweep_loses_nothing_and_resume_catches_up(tmp_path):
    db, port = tmp_path / "mlflow.db", free_port()
    server = Server(db, port)
    out = tmp_path / "results"
    env = dict(os.environ, MLFLOW_TRACKING_URI=server.url)
    exe = shutil.which("go") or "/usr/local/go/bin/go"
    # One run a group on the pure-Go backend: 18 groups one after the other, so the sweep
    # is still training when the server is killed, even on a fast machine.
    slow = ["--backend", "go", "--group-size", "1"]
    sweep = subprocess.Popen([exe, "run", "./experiments", *SWEEP, *slow, "--out", str(out)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and sweep.poll() is None:  # until some run has logged an epoch
            try:
                if any(r["data"].get("metrics") for r in server.runs("quickstart-kl")):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert sweep.poll() is None, "the sweep ended before the server could be stopped"
        server.kill()
        stdout, stderr = sweep.communicate(timeout=1200)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, stderr[-3000:]
    assert stderr.count("warning: MLflow") <= 2, stderr  # one for the live log, one for the catch-up: no flood
    runs = pd.read_parquet(out / "quickstart-kl" / "runs")
    metrics = pd.read_parquet(out / "quickstart-kl" / "metrics")
    assert len(runs) == 18 and (runs.status == "completed").all()
    assert (metrics.groupby("run_id").epoch.nunique() == EPOCHS).all() and metrics.run_id.nunique() == 18

    server = Server(db, port)  # the same store, back up
    try:
        proc = go(*SWEEP, *slow, "--out", str(out), "--resume", env=env)
        assert "caught up from the tables" in proc.stderr and "warning" not in proc.stderr, proc.stderr[-2000:]
        check_against_parquet(server, out / "quickstart-kl")
        assert all(tags(r).get("saerun.logged") == "complete" for r in server.runs("quickstart-kl")), "partial logs left"
        proc = go(*SWEEP, *slow, "--out", str(out), "--resume", env=env)
        assert "0 caught up from the tables, 18 already there" in proc.stderr, proc.stderr[-2000:]
        assert len(server.runs("quickstart-kl")) == 18
    finally:
        server.kill()
