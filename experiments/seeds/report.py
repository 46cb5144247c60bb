"""Summary table of the reference-notebook reproductions (experiments/seeds/*.yaml).

    .venv/bin/python experiments/seeds/report.py [--results results/seeds] [--markdown] [--units] [--check] [NAME ...]

Reads results/seeds/<name>/{runs,metrics} (Parquet) and prints one row per run: the swept
values, final train / validation loss and reconstruction, the sparse layer's validation
mean activation against its KL target ρ, L0 (mean number of active units per sample, out
of the layer's width), dead fraction, epochs, wall time and backend.

Beside each run's validation reconstruction (`val_recon`), `base` is the same loss of
predicting the mean training image for every validation sample (the run's own data and
loss, computed by `go run ./experiments/seeds/baseline`, pkg/baseline), and `beats` says
whether the run is below it. Where the spec asks for `metrics: [mape]`: `mape` (mean
|error|/|x| over non-zero pixels) and `mape_seed` (the seed notebooks' 100·Σ|error|/Σ|x|)
with the mean image's `base_mape` and `base_mape_seed`. --check exits 1 when a completed
run does not beat its baseline (scripts/reproduce.sh uses it).

The sparse layer is the layer of the first l1_activity / kl_sparsity regularizer, else
the first recorded layer (a VAE's "latent", a plain AE's encoder.0). wall_s is the run's
wall time; runs trained together in one group share it (group column).

--units prints instead, per run, the sparse layer's per-unit statistics at the last epoch
(results/seeds/<name>/units): the median and mean of the units' validation mean
activations, the 10th and 90th percentiles of those that are not saturated, how many
units are nearly silent (mean < 0.005) or saturated (mean > 0.99), and how many are "in use" (active on more than half the
validation samples; for a VAE's latent mean μ, |μ_j| > 0.1).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd


def sparse_layer(cfg, recorded):
    for r in cfg.get("regularizers") or []:
        if r.get("kind") in ("l1_activity", "kl_sparsity") and r.get("layer"):
            return r["layer"], r.get("kind"), r.get("target") if r.get("kind") == "kl_sparsity" else None
    return (recorded[0] if recorded else None), None, None


def layer_units(cfg, layer):
    m = cfg["model"]
    if layer == "latent":
        return m.get("latent")
    part, _, idx = layer.partition(".")
    try:
        return m[part][int(idx)].get("units")
    except (KeyError, IndexError, ValueError):
        return None


def swept(runs):
    # Swept parameters are the columns named by a dotted path into the spec
    # ("regularizers.0.weight"); the runs table's own columns have no dot.
    return [c for c in runs.columns if "." in c]


ROOT = Path(__file__).resolve().parent.parent.parent


def baselines(dirs):
    """Mean-image baseline of every run of the sweep folders dirs, by run id
    (experiments/seeds/baseline: the run's own dataset, split, caps and loss)."""
    if not dirs:
        return {}
    go = shutil.which("go") or "/usr/local/go/bin/go"
    proc = subprocess.run([go, "run", "./experiments/seeds/baseline", *[os.path.abspath(d) for d in dirs]],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"report.py: the baseline command failed:\n{proc.stderr}")
    return {b["run_id"]: b for b in map(json.loads, proc.stdout.splitlines())}


def params_text(r, params, short=False):
    """A run's swept values, "reg0.weight=0.001, ..." ("-" for none)."""
    def key(p):
        p = p.replace("regularizers.", "reg")
        return p.replace("optimizer.", "").replace("train.", "") if short else p
    def val(v):
        return f"{v:g}" if isinstance(v, (int, float)) else str(v)
    return ", ".join(f"{key(p)}={val(r[p])}" for p in params) or "-"


def beats(val_recon, base):
    """Whether a run's validation reconstruction is below the mean image's; None when
    either is missing (a failed run, no baseline)."""
    if val_recon is None or base is None or pd.isna(val_recon) or pd.isna(base):
        return None
    return bool(val_recon < base)


def rows(root, name, base=None):
    d = os.path.join(root, name)
    runs = pd.read_parquet(os.path.join(d, "runs"))
    metrics = pd.read_parquet(os.path.join(d, "metrics"))
    params = swept(runs)
    out = []
    for _, r in runs.sort_values("run_index").iterrows():
        cfg = json.loads(r["config"])
        m = metrics[metrics.run_id == r["run_id"]]
        last = m[m.epoch == m.epoch.max()] if len(m) else m
        val = {k: v for k, v in zip(last.metric, last.value) if True} if len(last) else {}
        tr = last[last.split == "train"].set_index("metric").value.to_dict()
        va = last[last.split == "validation"].set_index("metric").value.to_dict()
        recorded = sorted({k.split("/", 1)[1] for k in va if k.startswith("mean_activation/")})
        layer, kind, target = sparse_layer(cfg, recorded)
        units = layer_units(cfg, layer) if layer else None
        l0 = va.get(f"l0/{layer}")
        b = (base or {}).get(r["run_id"], {})
        out.append({
            "experiment": name,
            "params": params_text(r, params, short=True),
            "status": r["status"],
            "loss": cfg["loss"],
            "train_loss": tr.get("loss"),
            "val_loss": va.get("loss"),
            "val_recon": va.get("reconstruction"),
            "base": b.get("loss"),
            "beats": beats(va.get("reconstruction"), b.get("loss")),
            "layer": layer or "-",
            "penalty": kind or "-",
            "mean_act": va.get(f"mean_activation/{layer}"),
            "rho": target,
            "L0": None if l0 is None else f"{l0:.1f}/{units}",
            "dead": va.get(f"dead_fraction/{layer}"),
            "mape": va.get("mape"),
            "base_mape": b.get("mape") if "mape" in va else None,
            "mape_seed": va.get("mape_seed"),
            "base_mape_seed": b.get("mape_seed") if "mape_seed" in va else None,
            "epochs": int(r["epochs_completed"]),
            "wall_s": r["wall_seconds"],
            "group": int(r["group_size"]),
            "backend": r["backend"],
        })
    return out


def unit_rows(root, name):
    d = os.path.join(root, name)
    runs = pd.read_parquet(os.path.join(d, "runs"))
    units = pd.read_parquet(os.path.join(d, "units"))
    params = swept(runs)
    out = []
    for _, r in runs.sort_values("run_index").iterrows():
        cfg = json.loads(r["config"])
        u = units[units.run_id == r["run_id"]]
        if not len(u):
            continue
        u = u[u.epoch == u.epoch.max()]
        layer, _, _ = sparse_layer(cfg, sorted(u.layer.unique()))
        u = u[u.layer == layer]
        a = u.mean_activation
        out.append({
            "experiment": name,
            "params": params_text(r, params),
            "layer": layer,
            "units": len(u),
            "median": a.median(),
            "mean": a.mean(),
            "p10": a[a <= 0.99].quantile(0.1),
            "p90": a[a <= 0.99].quantile(0.9),
            "silent<0.005": int((a < 0.005).sum()),
            "saturated>0.99": int((a > 0.99).sum()),
            "in_use": int((u.active_fraction > 0.5).sum()),
        })
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results/seeds")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--units", action="store_true", help="per-unit statistics of the sparse layer instead")
    ap.add_argument("--check", action="store_true", help="exit 1 when a completed run does not beat its mean-image baseline")
    ap.add_argument("names", nargs="*", help="experiment names (default: every folder under --results)")
    a = ap.parse_args(argv)
    names = a.names or sorted(n for n in os.listdir(a.results) if os.path.isdir(os.path.join(a.results, n, "runs")))
    table, missing = [], []
    present = [n for n in names if os.path.isdir(os.path.join(a.results, n, "runs"))]
    missing = [n for n in names if n not in present]
    base = {} if a.units else baselines([os.path.join(a.results, n) for n in present])
    for n in present:
        table.extend(unit_rows(a.results, n) if a.units else rows(a.results, n, base))
    df = pd.DataFrame(table)
    for c in ("mape", "base_mape", "mape_seed", "base_mape_seed"):
        if c in df and df[c].isna().all():
            df = df.drop(columns=c)
    fmt = {c: (lambda v: "" if pd.isna(v) else f"{v:.4g}") for c in
           ("train_loss", "val_loss", "val_recon", "base", "mean_act", "rho", "dead", "mape", "base_mape",
            "mape_seed", "base_mape_seed", "median", "mean", "p10", "p90")}
    if "beats" in df:
        fmt["beats"] = lambda v: "" if v is None or pd.isna(v) else ("yes" if v else "NO")
    if "wall_s" in df:
        fmt["wall_s"] = lambda v: f"{v:.0f}"
    shown = df.copy()
    for c, f in fmt.items():
        if c in shown:
            shown[c] = shown[c].map(f)
    if a.markdown:
        cols = list(shown.columns)
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for _, r in shown.iterrows():
            print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    else:
        with pd.option_context("display.width", 250, "display.max_columns", 50):
            print(shown.to_string(index=False))
    status = 0
    if missing:
        print("no results for: " + ", ".join(missing), file=sys.stderr)
        status = 1
    if a.check and not a.units:
        worse = failing(df)
        for _, r in worse.iterrows():
            print(f"{r['experiment']} {r['params']}: validation reconstruction {r['val_recon']:.4g} is not below "
                  f"the mean image's {r['base']:.4g}", file=sys.stderr)
        if len(worse):
            status = 1
    return status


def failing(df):
    """The completed runs that do not beat their mean-image baseline (or have none)."""
    if not len(df):
        return df
    done = df[df.status == "completed"]
    return done[done.beats.map(lambda v: v is not True)]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
