"""Collects the benchmark records of bench/run.sh (or bench/gpu.sh) into results.md and
results.json.

    python summarize.py OUT_DIR

Reads OUT_DIR/round*/raw/*.json (py_bench.py and jax_bench.py records, the matmul peak),
the saerun results under OUT_DIR/round*/saerun-<backend>/<spec name>/ (runs and metrics
Parquet tables; a spec with K runs trained as one group is a group row) and
OUT_DIR/round*/wall.tsv (process wall times), and writes OUT_DIR/results.md and
OUT_DIR/results.json. Without round* folders, OUT_DIR itself is the one round.

s/epoch is the median of the epoch durations after the first (warm-up) epoch; an epoch is a
training pass plus a validation pass, timed from the elapsed-since-training-start stamps
every program records at the end of each epoch (saerun: metrics.elapsed_seconds). A group of
K models reports s per model-epoch = its s/epoch / K.
"""

import glob
import json
import os
import re
import statistics
import sys

import pandas as pd

# Dense layer sizes (in, out) of the two benchmark models; see bench/specs/*.yaml.
MODELS = {
    "a": dict(title="(a) Fashion-MNIST L1 AE 784-128-64-128-784, BCE, Adam, batch 256",
              dims=[(784, 128), (128, 64), (64, 128), (128, 784)], dataset="fashion-mnist",
              reg_weight=1e-5),
    "b": dict(title="(b) digits KL AE 64-100-64, MSE, Adam, batch 64",
              dims=[(64, 100), (100, 64)], dataset="digits", reg_weight=0.1),
}
# Row order within a table (single models; groups of each size); others follow by name.
ORDER = ["saerun-xla", "saerun-cuda", "saerun-go", "saerun-go-simd", "keras-tensorflow", "keras-jax", "torch",
         "jax-step", "jax-scan", "jax-vmap-step", "jax-vmap-scan"]
SPLITS = {"fashion-mnist": (60000, 10000), "digits": (1438, 359)}


def epoch_flops(model, n_train, n_val):
    """Float operations of the matrix products of one epoch (2·m·n·k each): per training sample
    the forward product, the kernel gradient and the input gradient of every layer but the first
    (nothing needs the gradient of the data, and autodiff does not compute it), per validation
    sample the forward product."""
    dims = MODELS[model]["dims"]
    macs = sum(i * o for i, o in dims)  # per sample
    first = dims[0][0] * dims[0][1]
    return 2 * (3 * macs - first) * n_train + 2 * macs * n_val


def saerun_records(root, variant):
    """Records of OUT/saerun-<variant>/<spec>/ (variant: xla, cuda, go or go-simd), one per spec
    folder; a folder whose runs were trained as one group of K gives a group record."""
    recs = []
    for d in sorted(glob.glob(os.path.join(root, f"saerun-{variant}", "*"))):
        runs_files = glob.glob(os.path.join(d, "runs", "*.parquet"))
        metrics_files = glob.glob(os.path.join(d, "metrics", "*.parquet"))
        if not runs_files or not metrics_files:
            continue
        runs = pd.concat([pd.read_parquet(f) for f in runs_files]).sort_values("run_index").reset_index(drop=True)
        metrics = pd.concat([pd.read_parquet(f) for f in metrics_files])
        configs = [json.loads(c) for c in runs["config"]]
        ds = configs[0]["dataset"]
        model = next((m for m, v in MODELS.items() if v["dataset"] == ds["name"]), None)
        if model is None:
            continue
        k = len(runs)
        if k > 1 and int(runs["group_size"].max()) != k:
            print(f"{d}: {k} runs in groups of {int(runs['group_size'].max())}, not one group; skipped", file=sys.stderr)
            continue
        first = metrics[metrics["run_id"] == runs["run_id"].iloc[0]]
        ends = first.groupby("epoch")["elapsed_seconds"].first().sort_index().tolist()
        weights = [c["regularizers"][0]["weight"] for c in configs]
        base = MODELS[model]["reg_weight"]
        pick = weights.index(base) if base in weights else None
        n_train, n_val = SPLITS[ds["name"]]
        if ds.get("max_train_samples"):
            n_train = min(n_train, ds["max_train_samples"])
        if ds.get("max_validation_samples"):
            n_val = min(n_val, ds["max_validation_samples"])
        r0 = runs.iloc[0]
        name = f"saerun-{variant}" + (f"-g{k}" if k > 1 else "")
        recs.append(dict(
            framework=name, model=model, group_size=k, epochs=len(ends), elapsed_epochs=ends,
            compile_seconds=float(r0["compile_seconds"]), wall_seconds=float(r0["wall_seconds"]),
            reg_weights=weights,
            final_train_losses=[float(v) for v in runs["final_train_loss"]],
            final_validation_losses=[float(v) for v in runs["final_validation_loss"]],
            final_train_loss=float(runs["final_train_loss"].iloc[pick]) if pick is not None else None,
            final_validation_loss=float(runs["final_validation_loss"].iloc[pick]) if pick is not None else None,
            detail=(f"saerun {r0['tool_version']}, {r0['backend']} {r0['backend_detail'] or ''}".strip()
                    + (", GOEXPERIMENT=simd build" if variant == "go-simd" else "")
                    + (f", --group-size {k}" if k > 1 else "")),
            n_train=n_train, n_validation=n_val, status=",".join(sorted(set(runs["status"])))))
    return recs


def summarize(rec):
    ends = rec["elapsed_epochs"]
    durs = [b - a for a, b in zip([0.0] + ends[:-1], ends)]
    k = rec.get("group_size") or 1
    rec["group_size"] = k
    rec["epoch_seconds"] = durs
    rec["first_epoch_seconds"] = durs[0]
    rec["s_per_epoch"] = statistics.median(durs[1:]) if len(durs) > 1 else None
    rec["s_per_model_epoch"] = rec["s_per_epoch"] / k if rec["s_per_epoch"] else None
    return rec


def fmt(v, nd=3):
    """nd significant digits, never in exponent form for v >= 1e-3."""
    if v is None:
        return "–"
    if isinstance(v, float):
        if abs(v) >= 10 ** nd:
            return f"{v:.0f}"
        return f"{v:#.{nd}g}".rstrip(".") if abs(v) >= 1e-3 else f"{v:.{nd}g}"
    return str(v)


def loss(v):
    return "–" if v is None else f"{v:.4f}"


def load_round(rdir):
    """Records of one round: {(model, framework): record}, the peak record."""
    recs, peak = [], None
    for path in sorted(glob.glob(os.path.join(rdir, "raw", "*.json"))):
        with open(path) as f:
            r = json.load(f)
        if r["framework"] == "peak":
            if "rates" not in r:  # records of the bench before 2026-11-30: numpy and torch at size²
                r["rates"] = [dict(library=lib, shape=f"{r['size']}x{r['size']}·{r['size']}x{r['size']}",
                                   gflops_best=r[f"{key}_gflops_best"], gflops_median=r[f"{key}_gflops_median"])
                              for lib, key in (("numpy", "numpy"), ("torch.mm", "torch")) if f"{key}_gflops_best" in r]
                r["peak_source"] = max(r["rates"], key=lambda x: x["gflops_best"])["library"]
            peak = r
        else:
            recs.append(r)
    for d in sorted(glob.glob(os.path.join(rdir, "saerun-*"))):
        recs += saerun_records(rdir, os.path.basename(d)[len("saerun-"):])
    walls = {}
    if os.path.exists(os.path.join(rdir, "wall.tsv")):
        for line in open(os.path.join(rdir, "wall.tsv")):
            name, secs, *load = line.split()
            walls[name] = (float(secs), " → ".join(load))
    out = {}
    for r in recs:
        r["process_wall_seconds"], r["load_average"] = walls.get(f"{r['model']}-{r['framework']}", (None, ""))
        r["round"] = os.path.basename(rdir)
        out[(r["model"], r["framework"])] = summarize(r)
    return out, peak


def order_key(fw):
    """Single models in ORDER, then the rest by name; groups by size."""
    m = re.fullmatch(r"(saerun-.+)-g(\d+)|(jax-vmap-(?:scan|step))-(\d+)", fw)
    base, k = (m.group(1) or m.group(3), int(m.group(2) or m.group(4))) if m else (fw, 1)
    return (k, ORDER.index(base) if base in ORDER else len(ORDER), fw)


def peak_lines(peak, n_peaks):
    md = [f"Float32 matmul rates, {peak['threads']} threads (best of 20 calls; best of {n_peaks} round(s)):", "",
          "| library | product | GFLOP/s best | median |", "|---|---|---:|---:|"]
    for r in peak["rates"]:
        md.append(f"| {r['library']} | {r['shape']} | {r['gflops_best']:.1f} | {r['gflops_median']:.1f} |")
    md += ["", f"Highest measured: **{peak['peak_gflops']:.1f} GFLOP/s** ({peak['peak_source']}): the limit below."]
    if peak.get("fma_peak_gflops"):
        md.append(f"Theoretical FMA peak: {peak['fma_peak_gflops']:.1f} GFLOP/s = {peak['fma_peak_assumptions']}.")
    return md + [""]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "out")
    rounds = sorted(glob.glob(os.path.join(root, "round*")), key=lambda p: int(p.rsplit("round", 1)[1])) or [root]
    by_key, peaks = {}, []
    for rdir in rounds:
        recs, peak = load_round(rdir)
        for k, r in recs.items():
            by_key.setdefault(k, []).append(r)
        if peak:
            peaks.append(peak)
    peak = max(peaks, key=lambda p: p["peak_gflops"]) if peaks else None
    peak_gflops = peak["peak_gflops"] if peak else None
    fma_gflops = peak.get("fma_peak_gflops") if peak else None

    out = dict(peak=peak, peaks=peaks, models={})
    md = ["# saerun benchmark results", ""]
    if os.path.exists(os.path.join(root, "machine.txt")):
        md += [line.rstrip() + "  " for line in open(os.path.join(root, "machine.txt"))] + [""]
    if peak:
        md += peak_lines(peak, len(peaks))
    if len(rounds) > 1:
        md += [f"{len(rounds)} rounds; each row is the program's fastest round (its s/epoch in every round in brackets).", ""]
    for model in MODELS:
        recs = []
        for (m, fw), runs in sorted(by_key.items(), key=lambda kv: order_key(kv[0][1])):
            runs = [r for r in runs if m == model and r["s_per_epoch"]]
            if runs:
                best = dict(min(runs, key=lambda r: r["s_per_epoch"]))
                best["s_per_epoch_rounds"] = [r["s_per_epoch"] for r in runs]
                recs.append(best)
        if not recs:
            continue
        n_train, n_val = recs[0]["n_train"], recs[0]["n_validation"]
        flops = epoch_flops(model, n_train, n_val)
        limit = flops / (peak_gflops * 1e9) if peak_gflops else None
        fma_limit = flops / (fma_gflops * 1e9) if fma_gflops else None
        singles = [r for r in recs if r["group_size"] == 1]
        ref = next((r for r in singles if r["framework"].startswith("saerun-")), None)
        head = (f"{n_train} training / {n_val} validation samples, {recs[0]['epochs']} epochs; "
                f"{flops / 1e9:.3g} GFLOP of matrix products per epoch")
        if limit:
            head += (f" → physical limit **{fmt(limit)} s/epoch** at the highest measured rate "
                     f"({fmt(peak_gflops)} GFLOP/s)")
            if fma_limit:
                head += f", {fmt(fma_limit)} at the theoretical FMA peak ({fmt(fma_gflops)} GFLOP/s)"
        md += [f"## {MODELS[model]['title']}", "", head + ".", ""]
        rows = []
        if singles:
            rows += [f"| program | s/epoch (median, epochs 2..) | × limit | × FMA peak | × {ref['framework'] if ref else 'saerun'} "
                     "| first epoch s | of which compile s | process wall s | final train loss | final val loss "
                     "| load avg before → after |",
                     "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
            for r in singles:
                spe = r["s_per_epoch"]
                rounds_txt = f" [{', '.join(fmt(v) for v in r['s_per_epoch_rounds'])}]" if len(rounds) > 1 else ""
                rows.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                    r["framework"], fmt(spe) + rounds_txt, fmt(spe / limit if limit else None),
                    fmt(spe / fma_limit if fma_limit else None),
                    fmt(spe / ref["s_per_epoch"] if ref else None),
                    fmt(r["first_epoch_seconds"]), fmt(r.get("compile_seconds")),
                    fmt(r.get("process_wall_seconds")), loss(r["final_train_loss"]),
                    loss(r["final_validation_loss"]), r["load_average"]))
            rows.append("")
        for k in sorted({r["group_size"] for r in recs if r["group_size"] > 1}):
            group = [r for r in recs if r["group_size"] == k]
            gref = next((r for r in group if r["framework"].startswith("saerun-")), None)
            rows += [f"Groups of {k} models (an L1 sweep of {k} weights trained together; s per model-epoch = "
                     f"s/epoch of the group / {k}):", "",
                     f"| program | s per model-epoch | × limit | × FMA peak | × {gref['framework'] if gref else 'saerun'} "
                     f"| group s/epoch | first epoch s | of which compile s | process wall s "
                     f"| final val loss (λ = {MODELS[model]['reg_weight']:g}) | final val loss, group min–max "
                     "| load avg before → after |",
                     "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
            for r in group:
                spm = r["s_per_model_epoch"]
                rounds_txt = (f" [{', '.join(fmt(v / k) for v in r['s_per_epoch_rounds'])}]"
                              if len(rounds) > 1 else "")
                vl = [v for v in r.get("final_validation_losses") or [] if v is not None]
                rows.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                    r["framework"], fmt(spm) + rounds_txt, fmt(spm / limit if limit else None),
                    fmt(spm / fma_limit if fma_limit else None),
                    fmt(spm / gref["s_per_model_epoch"] if gref else None), fmt(r["s_per_epoch"]),
                    fmt(r["first_epoch_seconds"]), fmt(r.get("compile_seconds")),
                    fmt(r.get("process_wall_seconds")), loss(r["final_validation_loss"]),
                    f"{min(vl):.4f}–{max(vl):.4f}" if vl else "–", r["load_average"]))
            grids = {tuple(r["reg_weights"]) for r in group if r.get("reg_weights")}
            if len(grids) > 1:
                rows.append("")
                rows.append(f"Note: the groups of {k} did not train the same weights: "
                            + "; ".join(f"{r['framework']} {r.get('reg_weights')}" for r in group))
            rows.append("")
        md += rows
        ratios = {}
        if ref:
            for r in recs:
                if r is not ref:
                    key = "s_per_model_epoch" if r["group_size"] > 1 else "s_per_epoch"
                    ratios[f"{r['framework']}_over_{ref['framework']}"] = r[key] / ref["s_per_epoch"]
            if limit:
                ratios[f"{ref['framework']}_over_limit"] = ref["s_per_epoch"] / limit
        targets = []  # issue 12: saerun against the JAX programs (target <= 1.0 each)
        if ref:
            jscan = next((r for r in singles if r["framework"] == "jax-scan"), None)
            if jscan:
                targets.append(f"{ref['framework']} / jax-scan = {ref['s_per_epoch'] / jscan['s_per_epoch']:.2f}")
        for r in recs:
            if r["group_size"] > 1 and r["framework"].startswith("saerun-"):
                jv = next((j for j in recs if j["framework"] == f"jax-vmap-scan-{r['group_size']}"), None)
                if jv:
                    targets.append(f"{r['framework']} / {jv['framework']} per model-epoch = "
                                   f"{r['s_per_model_epoch'] / jv['s_per_model_epoch']:.2f}")
        if targets:
            md += ["saerun against JAX: " + "; ".join(targets) + ".", ""]
        md += ["Versions: " + "; ".join(f"{r['framework']}: {r['detail']}" for r in recs), ""]
        out["models"][model] = dict(title=MODELS[model]["title"], flops_per_epoch=flops, limit_s_per_epoch=limit,
                                    fma_limit_s_per_epoch=fma_limit, ratios=ratios, results=recs)
    with open(os.path.join(root, "results.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(root, "results.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)
    print("\n".join(md))


if __name__ == "__main__":
    main()
