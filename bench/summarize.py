"""Collects the benchmark records of bench/run.sh into results.md and results.json.

    python summarize.py OUT_DIR

Reads OUT_DIR/raw/*.json (Python frameworks and the matmul peak), the saerun results under
OUT_DIR/saerun-<backend>/<spec name>/ (runs and metrics Parquet tables) and OUT_DIR/wall.tsv
(process wall times), and writes OUT_DIR/results.md and OUT_DIR/results.json.

s/epoch is the median of the epoch durations after the first (warm-up) epoch; an epoch is a
training pass plus a validation pass, timed from the elapsed-since-training-start stamps
every framework records at the end of each epoch (saerun: metrics.elapsed_seconds).
"""

import glob
import json
import os
import statistics
import sys

import pandas as pd

# Dense layer sizes (in, out) of the two benchmark models; see bench/specs/*.yaml.
MODELS = {
    "a": dict(title="(a) Fashion-MNIST L1 AE 784-128-64-128-784, BCE, Adam, batch 256",
              dims=[(784, 128), (128, 64), (64, 128), (128, 784)], spec="bench-fmnist-l1"),
    "b": dict(title="(b) digits KL AE 64-100-64, MSE, Adam, batch 64",
              dims=[(64, 100), (100, 64)], spec="bench-digits-kl"),
}
ORDER = ["saerun-xla", "saerun-go", "saerun-go-simd", "keras-tensorflow", "keras-jax", "torch"]


def epoch_flops(model, n_train, n_val):
    """2*m*n*k per matmul; x3 for forward+backward on training, x1 (forward) on validation."""
    macs = sum(i * o for i, o in MODELS[model]["dims"])  # per sample
    return 6 * macs * n_train + 2 * macs * n_val


def saerun_record(root, variant, model):
    """variant: xla, go or go-simd (the go backend built with GOEXPERIMENT=simd)."""
    d = os.path.join(root, f"saerun-{variant}", MODELS[model]["spec"])
    runs_files = glob.glob(os.path.join(d, "runs", "*.parquet"))
    if not runs_files:
        return None
    runs = pd.read_parquet(runs_files[0]).iloc[0]
    metrics = pd.read_parquet(glob.glob(os.path.join(d, "metrics", "*.parquet"))[0])
    ends = metrics.groupby("epoch")["elapsed_seconds"].first().sort_index().tolist()
    spec = json.loads(runs["config"])
    ds = spec["dataset"]
    n_train, n_val = {"fashion-mnist": (60000, 10000), "digits": (1438, 359)}[ds["name"]]
    return dict(framework=f"saerun-{variant}", model=model, epochs=len(ends), elapsed_epochs=ends,
                compile_seconds=float(runs["compile_seconds"]), wall_seconds=float(runs["wall_seconds"]),
                final_train_loss=float(runs["final_train_loss"]),
                final_validation_loss=float(runs["final_validation_loss"]),
                detail=(f"{runs['backend']} {runs['backend_detail'] or ''}".strip()
                        + (", GOEXPERIMENT=simd build" if variant == "go-simd" else "")), n_train=n_train, n_validation=n_val,
                status=runs["status"])


def summarize(rec):
    ends = rec["elapsed_epochs"]
    durs = [b - a for a, b in zip([0.0] + ends[:-1], ends)]
    rec["epoch_seconds"] = durs
    rec["first_epoch_seconds"] = durs[0]
    rec["s_per_epoch"] = statistics.median(durs[1:]) if len(durs) > 1 else None
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


def load_round(rdir):
    """Records of one round: {(model, framework): record}, the peak record, wall times."""
    raw = {}
    for path in glob.glob(os.path.join(rdir, "raw", "*.json")):
        with open(path) as f:
            r = json.load(f)
        raw[(r.get("model", "peak"), r["framework"])] = r
    walls = {}
    if os.path.exists(os.path.join(rdir, "wall.tsv")):
        for line in open(os.path.join(rdir, "wall.tsv")):
            name, secs, *load = line.split()
            walls[name] = (float(secs), " → ".join(load))
    recs = {}
    for model in MODELS:
        for fw in ORDER:
            r = saerun_record(rdir, fw.split("-", 1)[1], model) if fw.startswith("saerun-") else raw.get((model, fw))
            if r:
                r["process_wall_seconds"], r["load_average"] = walls.get(f"{model}-{fw}", (None, ""))
                r["round"] = os.path.basename(rdir)
                recs[(model, fw)] = summarize(r)
    return recs, raw.get(("peak", "peak"))


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

    out = dict(peak=peak, peaks=peaks, models={})
    md = ["# saerun benchmark results", ""]
    if os.path.exists(os.path.join(root, "machine.txt")):
        md += [line.rstrip() + "  " for line in open(os.path.join(root, "machine.txt"))] + [""]
    if peak:
        md += [f"Matmul peak, float32 {peak['size']}², {peak['threads']} threads: numpy (OpenBLAS) "
               f"{peak['numpy_gflops_best']:.1f} GFLOP/s, torch.mm {peak.get('torch_gflops_best', float('nan')):.1f} GFLOP/s "
               f"(best of 20 calls, best of {len(peaks)} round(s)); the physical limit below uses {peak_gflops:.1f} GFLOP/s.", ""]
    if len(rounds) > 1:
        md += [f"{len(rounds)} rounds; each row is the framework's fastest round (its s/epoch in every round in brackets).", ""]
    for model in MODELS:
        recs = []
        for fw in ORDER:
            runs = [r for r in by_key.get((model, fw), []) if r["s_per_epoch"]]
            if runs:
                best = dict(min(runs, key=lambda r: r["s_per_epoch"]))
                best["s_per_epoch_rounds"] = [r["s_per_epoch"] for r in runs]
                recs.append(best)
        if not recs:
            continue
        n_train, n_val = recs[0]["n_train"], recs[0]["n_validation"]
        flops = epoch_flops(model, n_train, n_val)
        limit = flops / (peak_gflops * 1e9) if peak_gflops else None
        xla = next((r for r in recs if r["framework"] == "saerun-xla"), None)
        md += [f"## {MODELS[model]['title']}", "",
               f"{n_train} training / {n_val} validation samples, {recs[0]['epochs']} epochs; "
               f"{flops / 1e9:.3g} GFLOP per epoch (training ×3, validation ×1) → physical limit "
               f"{fmt(limit)} s/epoch at {fmt(peak_gflops)} GFLOP/s.", "",
               "| framework | s/epoch (median, epochs 2..) | × limit | × saerun-xla | first epoch s | of which compile s | process wall s | final train loss | final val loss | load avg before → after |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in recs:
            spe = r["s_per_epoch"]
            rounds_txt = f" [{', '.join(fmt(v) for v in r['s_per_epoch_rounds'])}]" if len(rounds) > 1 else ""
            md.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                r["framework"], fmt(spe) + rounds_txt, fmt(spe / limit if spe and limit else None, 3),
                fmt(spe / xla["s_per_epoch"] if spe and xla and xla["s_per_epoch"] else None),
                fmt(r["first_epoch_seconds"]), fmt(r.get("compile_seconds")),
                fmt(r.get("process_wall_seconds")), f"{r['final_train_loss']:.4f}",
                f"{r['final_validation_loss']:.4f}", r["load_average"]))
        ratios = {}
        python = [r for r in recs if not r["framework"].startswith("saerun") and r["s_per_epoch"]]
        if xla and xla["s_per_epoch"]:
            if python:
                best = min(python, key=lambda r: r["s_per_epoch"])
                ratios["xla_over_best_python"] = xla["s_per_epoch"] / best["s_per_epoch"]
                ratios["best_python"] = best["framework"]
            if limit:
                ratios["xla_over_limit"] = xla["s_per_epoch"] / limit
            for v in ("go", "go-simd"):
                go = next((r for r in recs if r["framework"] == f"saerun-{v}"), None)
                if go and go["s_per_epoch"]:
                    ratios[f"{v.replace('-', '_')}_over_xla"] = go["s_per_epoch"] / xla["s_per_epoch"]
        md += [""]
        if ratios:
            parts = []
            if "xla_over_best_python" in ratios:
                parts.append(f"saerun-xla / best Python ({ratios['best_python']}) = {ratios['xla_over_best_python']:.2f}")
            if "xla_over_limit" in ratios:
                parts.append(f"saerun-xla / physical limit = {ratios['xla_over_limit']:.1f}")
            if "go_over_xla" in ratios:
                parts.append(f"saerun-go / saerun-xla = {ratios['go_over_xla']:.1f}")
            if "go_simd_over_xla" in ratios:
                parts.append(f"saerun-go-simd / saerun-xla = {ratios['go_simd_over_xla']:.1f}")
            md += ["Ratios: " + "; ".join(parts) + ".", ""]
        md += ["Versions: " + "; ".join(f"{r['framework']}: {r['detail']}" for r in recs), ""]
        out["models"][model] = dict(title=MODELS[model]["title"], flops_per_epoch=flops, limit_s_per_epoch=limit,
                                    ratios=ratios, results=recs)
    with open(os.path.join(root, "results.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(root, "results.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)
    print("\n".join(md))


if __name__ == "__main__":
    main()
