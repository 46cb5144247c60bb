"""Trains the benchmark autoencoders with Keras 3 (TensorFlow or JAX backend) or PyTorch
(on the CPU, or --device cuda) and writes one JSON record of per-epoch timings and losses;
--framework peak measures the float32 matmul rates (numpy, torch.mm, XLA dots through jax at
2048² and at model (a)'s own products) and the theoretical FMA peak of the CPU.

    KERAS_BACKEND=tensorflow python py_bench.py --framework keras --model a --epochs 4 --out r.json
    KERAS_BACKEND=jax        python py_bench.py --framework keras --model a --epochs 4 --out r.json
                             python py_bench.py --framework torch --model a --epochs 4 --out r.json
                             python py_bench.py --framework torch --device cuda --threads 0 ... (GPU)
                             python py_bench.py --framework peak --out peak.json

The JAX programs (jax-step, jax-scan, jax-vmap-scan) are in jax_bench.py.

Run one framework per process: the thread limits (--threads, default 2) must be set before
the framework initialises, and Keras picks its backend from $KERAS_BACKEND at import.

Timing matches what saerun records in its metrics table: elapsed_epochs[i] is the time from
the start of training to the end of epoch i+1, each epoch being one pass over the shuffled
training set (optimizer steps) followed by a full pass over the validation set (loss only).
Epoch 1 includes tracing/compilation and is reported apart.

Models (the same as bench/specs/*.yaml):
  a  Fashion-MNIST 60000 train / 10000 test, 784-128 relu-64 relu-128 relu-784 sigmoid,
     L1 activity 1e-5 on the 64 layer (lambda * batch-mean of sum |h|), BCE, Adam 1e-3, batch 256.
  b  digits (1797 8x8, 20% held out), 64-100 sigmoid-64 sigmoid, MSE, KL sparsity on the
     100 layer (rho 0.05, beta 0.1), Adam 1e-3, batch 64.
"""

import argparse
import gzip
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.environ.get("SAERUN_DATA_DIR", os.path.join(HERE, "..", "..", "shared", "datasets"))


def set_thread_env(threads):
    """Thread limits that must be in the environment before numpy/TF/torch/jax load."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Spin-waiting OpenMP threads (PyTorch) collapse when another process competes for the CPUs.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # XLA CPU (JAX, and TF's jit_compile) sizes its Eigen pool from the CPUs it may use; the
    # affinity mask is the robust way to cap it (an unknown XLA_FLAGS entry aborts the process).
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > threads:
            os.sched_setaffinity(0, cpus[:threads])
    except (AttributeError, OSError):
        pass


# ----------------------------------------------------------------------------- data

def load_idx_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    import numpy as np
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    assert magic == 2051, f"{path}: not an IDX image file"
    return (np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols).astype(np.float32) / 255.0)


def load_data(model, seed=0):
    import numpy as np
    if model == "a":
        d = os.path.join(DATA_DIR, "fashion-mnist")
        return (load_idx_images(os.path.join(d, "train-images-idx3-ubyte.gz")),
                load_idx_images(os.path.join(d, "t10k-images-idx3-ubyte.gz")))
    with gzip.open(os.path.join(DATA_DIR, "digits", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = rows[:, :64] / 16.0
    perm = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(0.2 * len(x)))
    return x[perm[n_val:]].copy(), x[perm[:n_val]].copy()


MODELS = {
    # encoder/decoder units and activations, loss, batch, regularizer
    "a": dict(layers=[(128, "relu"), (64, "relu"), (128, "relu"), (784, "sigmoid")], loss="bce", batch=256,
              reg=("l1", 1, 1e-5, None)),
    "b": dict(layers=[(100, "sigmoid"), (64, "sigmoid")], loss="mse", batch=64,
              reg=("kl", 0, 0.1, 0.05)),
}
LR = 1e-3
EPS = 1e-7  # Keras' Adam epsilon and probability clip; used for torch too


# ----------------------------------------------------------------------------- keras

def run_keras(cfg, xtr, xva, epochs, threads, seed):
    import keras
    from keras import ops
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras.utils.set_random_seed(seed)

    kind, layer, weight, target = cfg["reg"]

    # Keras 3 divides an activity regularizer's value by the batch size (Layer.__call__), so
    # the stock L1(lambda) is lambda * mean_b sum_j |h_bj|; KL is a batch statistic, so it is
    # multiplied back by the batch size to get beta * sum_j KL(rho || rho_hat_j).
    class KL(keras.regularizers.Regularizer):
        def __call__(self, h):
            rho_hat = ops.clip(ops.mean(h, axis=0), EPS, 1 - EPS)
            kl = target * ops.log(target / rho_hat) + (1 - target) * ops.log((1 - target) / (1 - rho_hat))
            return weight * ops.sum(kl) * ops.cast(ops.shape(h)[0], h.dtype)

    inp = keras.Input(shape=(xtr.shape[1],))
    h = inp
    for i, (units, act) in enumerate(cfg["layers"]):
        reg = None
        if i == layer:
            reg = keras.regularizers.L1(weight) if kind == "l1" else KL()
        h = keras.layers.Dense(units, activation=act, activity_regularizer=reg)(h)
    model = keras.Model(inp, h)
    loss = "binary_crossentropy" if cfg["loss"] == "bce" else "mse"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR, epsilon=EPS), loss=loss)

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()
            self.ends, self.logs = [], []

        def on_epoch_end(self, epoch, logs=None):  # after the validation pass
            self.ends.append(time.perf_counter() - self.t0)
            self.logs.append({k: float(v) for k, v in (logs or {}).items()})

    clock = Clock()
    model.fit(xtr, xtr, batch_size=cfg["batch"], epochs=epochs, shuffle=True, validation_data=(xva, xva),
              validation_batch_size=512, callbacks=[clock], verbose=0)
    last = clock.logs[-1]
    return dict(elapsed_epochs=clock.ends, final_train_loss=last.get("loss"), final_validation_loss=last.get("val_loss"),
                detail=f"keras {keras.__version__}, backend {keras.backend.backend()}, jit_compile={model.jit_compile}",
                versions=keras_versions())


def keras_versions():
    import keras
    v = {"keras": keras.__version__}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        v["tensorflow"] = tf.__version__
    else:
        import jax
        import jaxlib
        v["jax"], v["jaxlib"] = jax.__version__, jaxlib.__version__
    return v


# ----------------------------------------------------------------------------- torch

def run_torch(cfg, xtr, xva, epochs, threads, seed, device="cpu"):
    import torch
    from torch import nn
    if threads:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass
    torch.manual_seed(seed)
    dev = torch.device(device)
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}
    layers, d = [], xtr.shape[1]
    for units, act in cfg["layers"]:
        lin = nn.Linear(d, units)
        nn.init.xavier_uniform_(lin.weight)  # Keras' default (glorot_uniform, zero bias)
        nn.init.zeros_(lin.bias)
        layers.append(nn.Sequential(lin, acts[act]()))
        d = units
    model = nn.ModuleList(layers).to(dev)
    kind, reg_layer, weight, target = cfg["reg"]
    opt = torch.optim.Adam(model.parameters(), lr=LR, eps=EPS)

    def forward(x):
        penalty = x.new_zeros(())
        for i, l in enumerate(model):
            x = l(x)
            if i == reg_layer:
                if kind == "l1":
                    penalty = weight * x.abs().sum(1).mean()
                else:
                    rho_hat = x.mean(0).clamp(EPS, 1 - EPS)
                    penalty = weight * (target * torch.log(target / rho_hat)
                                        + (1 - target) * torch.log((1 - target) / (1 - rho_hat))).sum()
        return x, penalty

    def recon_loss(y, x):
        if cfg["loss"] == "bce":
            y = y.clamp(EPS, 1 - EPS)
            return -(x * torch.log(y) + (1 - x) * torch.log(1 - y)).mean()
        return ((y - x) ** 2).mean()

    gen = torch.Generator().manual_seed(seed)
    ends = []
    t0 = time.perf_counter()
    # Data on the device (a no-op on the CPU); the losses are summed there and read once per
    # epoch, so that the device never waits for the host within an epoch.
    xtr_t, xva_t = torch.from_numpy(xtr).to(dev), torch.from_numpy(xva).to(dev)
    n, bs = len(xtr_t), cfg["batch"]
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen).to(dev)
        total = torch.zeros((), device=dev)
        for lo in range(0, n, bs):
            xb = xtr_t[perm[lo:lo + bs]]
            y, pen = forward(xb)
            loss = recon_loss(y, xb) + pen
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(xb)
        model.eval()
        vtotal = torch.zeros((), device=dev)
        with torch.no_grad():
            for lo in range(0, len(xva_t), 512):
                xb = xva_t[lo:lo + 512]
                y, pen = forward(xb)
                vtotal += (recon_loss(y, xb) + pen) * len(xb)
        train_loss = total.item() / n  # waits for the device
        val_loss = vtotal.item() / len(xva_t)
        ends.append(time.perf_counter() - t0)
    where = (f"on {torch.cuda.get_device_name(dev)}" if dev.type == "cuda"
             else f"{torch.get_num_threads()} threads")
    return dict(elapsed_epochs=ends, final_train_loss=train_loss, final_validation_loss=val_loss,
                detail=f"torch {torch.__version__}, eager, {where}", device=str(dev),
                versions={"torch": torch.__version__})


# ----------------------------------------------------------------------------- peak

# Model (a)'s matrix products per batch of 256: (rows, contraction, columns) of the forward
# product x·W, the input gradient g·Wᵀ (not for the first layer: nothing needs the gradient
# of the data) and the kernel gradient xᵀ·g, for each Dense layer (in, out).
MODEL_A_DENSE = [(784, 128), (128, 64), (64, 128), (128, 784)]


def model_a_products(batch=256):
    """[(name, a_shape, b_shape, dimension numbers, flops)] of model (a)'s products."""
    out = []
    for li, (i, o) in enumerate(MODEL_A_DENSE):
        flops = 2.0 * batch * i * o
        out.append((f"x·W {batch}x{i}·{i}x{o}", (batch, i), (i, o), (((1,), (0,)), ((), ())), flops))
        if li > 0:
            out.append((f"g·Wᵀ {batch}x{o}·({i}x{o})ᵀ", (batch, o), (i, o), (((1,), (1,)), ((), ())), flops))
        out.append((f"xᵀ·g ({batch}x{i})ᵀ·{batch}x{o}", (batch, i), (batch, o), (((0,), (0,)), ((), ())), flops))
    return out


def timed_rates(fn, flops, reps):
    """(best, median) GFLOP/s of fn() (which must block until done) over reps calls after 2 warm-ups."""
    fn()
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return flops / min(times) / 1e9, flops / sorted(times)[len(times) // 2] / 1e9


def fma_peak(threads):
    """Theoretical float32 peak of `threads` cores from /proc/cpuinfo: cores x clock x FMA lanes
    (avx512f: 16 float32 lanes, avx2 + fma: 8, else 4) x 2 FMA units (assumed) x 2 flops per FMA.
    The clock is the highest of the maximum frequency in sysfs or lscpu and the "cpu MHz" lines."""
    import subprocess
    flags, mhz, src = set(), [], []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "flags" and not flags:
                    flags = set(val.split())
                elif key == "cpu MHz":
                    mhz.append(float(val))
    except OSError:
        return None
    if mhz:
        src.append(f"/proc/cpuinfo cpu MHz {max(mhz):.0f}")
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            mhz.append(int(f.read()) / 1000.0)
            src.append(f"cpuinfo_max_freq {mhz[-1]:.0f} MHz")
    except (OSError, ValueError):
        pass
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("CPU max MHz:"):
                mhz.append(float(line.split(":", 1)[1]))
                src.append(f"lscpu max {mhz[-1]:.0f} MHz")
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    if not mhz:
        return None
    if "avx512f" in flags:
        lanes, isa = 16, "avx512f"
    elif "avx2" in flags and "fma" in flags:
        lanes, isa = 8, "avx2+fma"
    else:
        lanes, isa = 4, "sse"
    ghz = max(mhz) / 1000.0
    units = 2
    return dict(fma_peak_gflops=threads * ghz * lanes * units * 2,
                fma_peak_assumptions=(f"{threads} cores x {ghz:.3f} GHz ({'; '.join(src)}) x {lanes} float32 lanes "
                                      f"({isa}) x {units} FMA units (assumed) x 2 flops per FMA"))


def run_peak(threads, size=2048, reps=20):
    """Best float32 matmul rates on `threads` threads: numpy (its BLAS), torch.mm and an XLA
    dot through jax, at size² and (XLA) at model (a)'s own products; plus the FMA peak."""
    import numpy as np
    rates = []
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    flops = 2.0 * size ** 3
    shape = f"{size}x{size}·{size}x{size}"
    versions = {"numpy": np.__version__}

    def add(library, shape, best_median):
        rates.append(dict(library=library, shape=shape, gflops_best=best_median[0], gflops_median=best_median[1]))

    add("numpy", shape, timed_rates(lambda: a @ b, flops, reps))
    try:
        import torch
        torch.set_num_threads(threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        add("torch.mm", shape, timed_rates(lambda: torch.mm(ta, tb), flops, reps))
        versions["torch"] = torch.__version__
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp
        from jax import lax
        versions["jax"] = jax.__version__
        ja, jb = jax.device_put(a), jax.device_put(b)
        dot = jax.jit(jnp.dot)
        add("jax (XLA dot)", shape, timed_rates(lambda: dot(ja, jb).block_until_ready(), flops, reps))
        # The model's products: r of them per call (each on its own left operand, so XLA can
        # neither hoist nor merge them) in one lax.scan, about 1 GFLOP per call.
        for name, sa, sb, dims, fl in model_a_products():
            r = max(1, int(1e9 // fl))
            xs = jax.device_put(rng.standard_normal((r,) + sa, dtype=np.float32))
            y = jax.device_put(rng.standard_normal(sb, dtype=np.float32))
            f = jax.jit(lambda xs, y, dims=dims: lax.scan(lambda c, x: (c, lax.dot_general(x, y, dims)), 0, xs)[1])
            add("jax (XLA dot)", name, timed_rates(lambda f=f, xs=xs, y=y: f(xs, y).block_until_ready(), fl * r, reps))
    except ImportError:
        pass
    best = max(rates, key=lambda r: r["gflops_best"])
    res = dict(rates=rates, size=size, versions=versions, peak_gflops=best["gflops_best"],
               peak_source=f"{best['library']} {best['shape']}")
    res.update(fma_peak(threads) or {})
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", required=True, choices=["keras", "torch", "peak"])
    p.add_argument("--model", choices=sorted(MODELS), default="a")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=2, help="0: leave threads and CPU affinity alone")
    p.add_argument("--device", default="cpu", help="torch: the device to train on (cpu, cuda)")
    p.add_argument("--max-train", type=int, default=0, help="use only the first N training samples (quick checks)")
    p.add_argument("--max-validation", type=int, default=0, help="use only the first N validation samples")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if args.threads:
        set_thread_env(args.threads)
    elif args.framework == "peak":
        p.error("--framework peak needs --threads >= 1")
    if args.device != "cpu" and args.framework != "torch":
        p.error("--device is for --framework torch")

    record = dict(framework=args.framework, threads=args.threads, python=platform.python_version(),
                  cpus_visible=len(os.sched_getaffinity(0)), cpu_count=os.cpu_count())
    if args.framework == "peak":
        record.update(run_peak(args.threads))
    else:
        cfg = MODELS[args.model]
        xtr, xva = load_data(args.model)
        if args.max_train:
            xtr = xtr[:args.max_train]
        if args.max_validation:
            xva = xva[:args.max_validation]
        if args.framework == "keras":
            record["framework"] = "keras-" + os.environ.get("KERAS_BACKEND", "tensorflow")
            out = run_keras(cfg, xtr, xva, args.epochs, args.threads, args.seed)
        else:
            out = run_torch(cfg, xtr, xva, args.epochs, args.threads, args.seed, args.device)
        record.update(out, model=args.model, epochs=args.epochs, batch_size=cfg["batch"],
                      n_train=len(xtr), n_validation=len(xva))
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps({k: v for k, v in record.items() if k != "versions"}), file=sys.stderr)


if __name__ == "__main__":
    main()
