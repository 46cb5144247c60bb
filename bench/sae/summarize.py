"""Collects bench/sae/run.sh's records into one table: samples/s of saerun and of the PyTorch
TopK SAE (bench/sae/torch_sae.py, each impl), and the ratios saerun / torch.

    python summarize.py OUT_DIR

Reads OUT_DIR/round*/raw/torch-*.json (torch_sae.py's JSON lines) and the saerun tables under
OUT_DIR/round*/saerun-<variant>/<spec name>/ (runs and metrics Parquet; the row is named
saerun-<variant>), prints the table on stdout and writes OUT_DIR/results.md and results.json.

samples/s, on both sides: training samples per epoch / the median duration of epochs 2..E,
an epoch being the training steps plus one validation pass, timed from the end-of-epoch stamps
(saerun: metrics.elapsed_seconds; torch_sae.py: the same stamps, in its record). The first
epoch (compilation, warm-up) is left out. Each row keeps its fastest round; every round is
listed beside it. "best epoch" is the fastest single epoch after the first, over all rounds
(on a shared machine, the least disturbed figure); torch's "steps only" rate (median step, no
validation pass) is shown apart.
"""

import glob
import json
import os
import statistics
import sys

import pandas as pd


def saerun_record(folder, name):
    """The record of one saerun spec folder (one run), named name, or None when it has no
    tables."""
    runs_files = glob.glob(os.path.join(folder, "runs", "*.parquet"))
    metrics_files = glob.glob(os.path.join(folder, "metrics", "*.parquet"))
    if not runs_files or not metrics_files:
        return None
    runs = pd.concat([pd.read_parquet(f) for f in runs_files]).reset_index(drop=True)
    if len(runs) != 1:
        print(f"{folder}: {len(runs)} runs, expected 1; skipped", file=sys.stderr)
        return None
    run = runs.iloc[0]
    if run["status"] != "completed":
        print(f"{folder}: run status {run['status']}: {run['message']}; skipped", file=sys.stderr)
        return None
    cfg = json.loads(run["config"])
    ds = cfg["dataset"]
    n = ds["synthetic"]["samples"]
    n_train = n - round(ds.get("validation_fraction", 0) * n)
    if ds.get("max_train_samples"):
        n_train = min(n_train, ds["max_train_samples"])
    metrics = pd.concat([pd.read_parquet(f) for f in metrics_files])
    ends = metrics.groupby("epoch")["elapsed_seconds"].first().sort_index().tolist()
    epochs = [b - a for a, b in zip([0.0] + ends, ends)]
    if len(epochs) < 2:
        print(f"{folder}: {len(epochs)} epoch(s), need 2 (the first is the warm-up); skipped", file=sys.stderr)
        return None
    final = json.loads(run["final_metrics"]) if run["final_metrics"] else {}
    return dict(
        framework=name, backend=run["backend"], device_name=run["device"],
        train_samples=int(n_train), batch=cfg["train"]["batch_size"], epochs=len(epochs),
        epoch_seconds=[round(e, 4) for e in epochs],
        samples_per_s=n_train / statistics.median(epochs[1:]),
        compile_seconds=run["compile_seconds"],
        final_validation_fvu=final.get("validation/fvu"),
    )


def collect(out):
    rounds = sorted(glob.glob(os.path.join(out, "round*"))) or [out]
    recs = []
    for i, r in enumerate(rounds, 1):
        for f in sorted(glob.glob(os.path.join(r, "raw", "torch-*.json"))):
            with open(f) as fh:
                lines = [ln for ln in fh.read().splitlines() if ln.startswith("{")]
            if lines:
                recs.append(dict(json.loads(lines[-1]), round=i))
        for d in sorted(glob.glob(os.path.join(r, "saerun-*", "*"))):
            rec = saerun_record(d, os.path.basename(os.path.dirname(d)))
            if rec:
                recs.append(dict(rec, round=i))
    return recs


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py OUT_DIR")
    out = sys.argv[1]
    recs = collect(out)
    if not recs:
        sys.exit(f"summarize.py: no records under {out}")
    by = {}
    for r in recs:
        by.setdefault(r["framework"], []).append(r)
    best = {fw: max(rs, key=lambda r: r["samples_per_s"]) for fw, rs in by.items()}
    saerun = [fw for fw in best if fw.startswith("saerun")]
    torch = [fw for fw in best if fw.startswith("torch")]
    lines = []
    machine = os.path.join(out, "machine.txt")
    if os.path.exists(machine):
        with open(machine) as fh:
            lines += [ln.rstrip() for ln in fh] + [""]
    first = next(iter(best.values()))
    lines.append(f"TopK SAE 512 → 4096 (k 32), batch {first['batch']}, {first['train_samples']} training samples "
                 f"per epoch, {first['epochs']} epochs; samples/s = training samples / median epoch s (epochs 2..E), "
                 "fastest round [every round]")
    lines.append("")
    head = "| program | samples/s | rounds | best epoch | steps only | first epoch s | final val FVU |"
    lines += [head, "|---|---:|---|---:|---:|---:|---:|"]
    for fw in sorted(best, key=lambda f: (not f.startswith("saerun"), f)):
        b = best[fw]
        rounds = ", ".join(f"{r['samples_per_s']:.0f}" for r in sorted(by[fw], key=lambda r: r["round"]))
        steps = f"{b['step_samples_per_s']:.0f}" if "step_samples_per_s" in b else ""
        fvu = b.get("final_validation_fvu")
        fastest = max(r["train_samples"] / min(r["epoch_seconds"][1:]) for r in by[fw])
        lines.append(f"| {fw} | {b['samples_per_s']:.0f} | [{rounds}] | {fastest:.0f} | {steps} | {b['epoch_seconds'][0]:.2f} | "
                     f"{'' if fvu is None else f'{fvu:.4f}'} |")
    ratios = {}
    if saerun and torch:
        lines += ["", "| ratio | × |", "|---|---:|"]
        for s in saerun:
            for t in torch:
                ratios[f"{s}/{t}"] = best[s]["samples_per_s"] / best[t]["samples_per_s"]
                lines.append(f"| {s} / {t} | {ratios[f'{s}/{t}']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    with open(os.path.join(out, "results.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump(dict(records=recs, best={fw: b["samples_per_s"] for fw, b in best.items()}, ratios=ratios),
                  fh, indent=1, default=str)


if __name__ == "__main__":
    main()
