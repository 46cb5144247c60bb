"""Summary table of the reference-notebook reproductions (experiments/seeds/*.yaml).

    .venv/bin/python experiments/seeds/report.py [--results results/seeds] [--markdown] [--units] [NAME ...]

Reads results/seeds/<name>/{runs,metrics} (Parquet) and prints one row per run: the swept
values, final train / validation loss and reconstruction, the sparse layer's validation
mean activation against its KL target ρ, L0 (mean number of active units per sample, out
of the layer's width), dead fraction, epochs, wall time and backend.

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
import sys

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
    fixed = {"run_id", "sweep", "run_index", "seed", "status", "message", "backend", "backend_detail",
             "group_size", "epochs_completed", "diverged_epoch", "start_time", "end_time", "wall_seconds",
             "compile_seconds", "final_train_loss", "final_validation_loss",
             "final_validation_reconstruction", "final_metrics", "config", "spec_hash", "tool_version"}
    return [c for c in runs.columns if c not in fixed]


def rows(root, name):
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
        out.append({
            "experiment": name,
            "params": ", ".join(f"{p.replace('regularizers.', 'reg').replace('optimizer.', '').replace('train.', '')}="
                                f"{r[p]:g}" for p in params) or "-",
            "status": r["status"],
            "loss": cfg["loss"],
            "train_loss": tr.get("loss"),
            "val_loss": va.get("loss"),
            "val_recon": va.get("reconstruction"),
            "layer": layer or "-",
            "penalty": kind or "-",
            "mean_act": va.get(f"mean_activation/{layer}"),
            "rho": target,
            "L0": None if l0 is None else f"{l0:.1f}/{units}",
            "dead": va.get(f"dead_fraction/{layer}"),
            "mape": va.get("mape"),
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
            "params": ", ".join(f"{p.replace('regularizers.', 'reg')}={r[p]:g}" for p in params) or "-",
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
    ap.add_argument("names", nargs="*", help="experiment names (default: every folder under --results)")
    a = ap.parse_args(argv)
    names = a.names or sorted(n for n in os.listdir(a.results) if os.path.isdir(os.path.join(a.results, n, "runs")))
    table, missing = [], []
    for n in names:
        if not os.path.isdir(os.path.join(a.results, n, "runs")):
            missing.append(n)
            continue
        table.extend(unit_rows(a.results, n) if a.units else rows(a.results, n))
    df = pd.DataFrame(table)
    if "mape" in df and df["mape"].isna().all():
        df = df.drop(columns="mape")
    fmt = {c: (lambda v: "" if pd.isna(v) else f"{v:.4g}") for c in
           ("train_loss", "val_loss", "val_recon", "mean_act", "rho", "dead", "mape", "median", "mean", "p10", "p90")}
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
    if missing:
        print("no results for: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
