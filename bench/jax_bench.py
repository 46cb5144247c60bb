"""The benchmark autoencoders written as a JAX expert would: data on the device, the
optimizer step jitted, and (jax-scan) a whole epoch of steps in one compiled `lax.scan`;
(jax-vmap-scan) K models of an L1 sweep `vmap`ped inside that scan. Writes one JSON record
in the format of py_bench.py.

    python jax_bench.py --framework jax-step      --model a --epochs 4 --out r.json
    python jax_bench.py --framework jax-scan      --model a --epochs 4 --out r.json
    python jax_bench.py --framework jax-vmap-scan --group-size 8 --model a --epochs 4 --out r.json

Programs (all train every sample every epoch, the last, shorter batch included, as saerun):
  jax-step       one jitted optimizer step per batch, called from a Python loop; the epoch's
                 order (a permutation drawn with jax.random) and the data stay on the device.
  jax-scan       one jitted call per epoch: the permutation and all the epoch's steps run in
                 one `lax.scan`. The last batch is padded to the batch size and masked (its
                 padded rows have weight 0), so one program covers every step.
  jax-vmap-scan  jax-scan with K models stacked on a leading axis (`vmap`): each model has its
                 own init seed (--seed + k), its own data order and its own regularizer weight
                 (model a: the L1 grid of bench/specs/fmnist_l1_sweep{8,64}.yaml), as a
                 saerun group trains a sweep.
  jax-vmap-step  the same K models, one jitted step per batch (as jax-step).

Each epoch ends with the full validation pass (one jitted call over the validation set in
chunks of 512, like the Keras and torch rows) and the host reading the losses back; the
time stamp is taken after that. The model, loss and optimizer are those of py_bench.py:
Glorot-uniform kernels and zero biases, BCE with the output clipped to [1e-7, 1 - 1e-7]
(or MSE), L1 activity penalty lambda * batch-mean of sum |h| (or KL sparsity), and Adam in
Keras' form (lr 1e-3, beta 0.9/0.999, epsilon 1e-7 added to sqrt(v) with the bias
correction folded into the step size). Adam is written out (six lines) instead of using
optax because the GPU machine has no optax and no network.

compile_seconds is the time spent lowering and compiling the programs (jax's ahead-of-time
API), inside the first epoch: the first epoch includes it, as saerun's does.

--threads 0 leaves threads and CPU affinity alone, and --accelerator refuses to run on the
CPU (on a GPU machine).
"""

import argparse
import json
import os
import platform
import sys
import time

import py_bench as pb

B1, B2 = 0.9, 0.999
# The L1 weights of the saerun sweep specs (bench/specs/fmnist_l1_sweep8.yaml and
# fmnist_l1_sweep64.yaml): groups of the same size train the same sweep in both programs.
L1_GRID_8 = [0.0, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3]


def l1_grid_64():
    """64 weights 10^(-6 + i/21), i = 0..63 (1e-6 .. 1e-3, through 1e-5 and 1e-4), 4 digits."""
    return [float(f"{10 ** (-6 + i / 21):.4g}") for i in range(64)]


def reg_weights(model, k):
    """The regularizer weights of a group of k models (k = 1: the model's own weight)."""
    import numpy as np
    base = pb.MODELS[model]["reg"][2]
    if k == 1:
        return [base]
    if model == "a" and k == 8:
        return list(L1_GRID_8)
    if model == "a" and k == 64:
        return l1_grid_64()
    return [float(f"{w:.4g}") for w in base * np.geomspace(0.1, 10.0, k)]


def build(cfg, n_train, d_in, k, jax, jnp, lax):
    """The model's functions; k = 0 for a single model (no vmap), else the group size."""
    acts = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}
    kind, reg_layer, _, target = cfg["reg"]
    layers = cfg["layers"]
    bs = cfg["batch"]
    steps = -(-n_train // bs)  # the last batch is padded and masked
    eps = pb.EPS

    def init(key):
        glorot = jax.nn.initializers.glorot_uniform()  # Keras' default, zero biases
        params, d = [], d_in
        for (units, _), kk in zip(layers, jax.random.split(key, len(layers))):
            params.append((glorot(kk, (d, units), jnp.float32), jnp.zeros((units,), jnp.float32)))
            d = units
        return params

    def batch_loss(params, lam, x, w):
        """Objective averaged over the rows with weight 1 (w is 0 on padding rows)."""
        n = jnp.sum(w)
        h, pen = x, 0.0
        for i, ((kern, bias), (_, act)) in enumerate(zip(params, layers)):
            h = acts[act](h @ kern + bias)
            if i == reg_layer:
                if kind == "l1":
                    pen = lam * jnp.sum(w * jnp.sum(jnp.abs(h), axis=1)) / n
                else:
                    rho = jnp.clip(jnp.sum(w[:, None] * h, axis=0) / n, eps, 1 - eps)
                    pen = lam * jnp.sum(target * jnp.log(target / rho) + (1 - target) * jnp.log((1 - target) / (1 - rho)))
        if cfg["loss"] == "bce":
            y = jnp.clip(h, eps, 1 - eps)
            rec = -jnp.mean(x * jnp.log(y) + (1 - x) * jnp.log(1 - y), axis=1)
        else:
            rec = jnp.mean((h - x) ** 2, axis=1)
        return jnp.sum(w * rec) / n + pen

    value_and_grad = jax.value_and_grad(batch_loss)
    if k:
        value_and_grad = jax.vmap(value_and_grad, in_axes=(0, 0, 0, None))

    def adam(params, grads, m, v, t):
        """Keras 3's Adam update; t is the step count before this step (shared by a group)."""
        t = t + 1
        tf = t.astype(jnp.float32)
        alpha = pb.LR * jnp.sqrt(1 - B2 ** tf) / (1 - B1 ** tf)
        tm = jax.tree_util.tree_map
        m = tm(lambda m_, g: m_ + (g - m_) * (1 - B1), m, grads)
        v = tm(lambda v_, g: v_ + (g * g - v_) * (1 - B2), v, grads)
        params = tm(lambda p, m_, v_: p - alpha * m_ / (jnp.sqrt(v_) + eps), params, m, v)
        return params, m, v, t

    def order(keys):
        """The epoch's batches: indices [steps, bs] (or [steps, k, bs]) and weights [steps, bs]."""
        def one(key):
            perm = jax.random.permutation(key, n_train)
            return jnp.pad(perm, (0, steps * bs - n_train)).reshape(steps, bs)
        idx = jax.vmap(one)(keys).transpose(1, 0, 2) if k else one(keys)
        w = (jnp.arange(steps * bs) < n_train).astype(jnp.float32).reshape(steps, bs)
        return idx, w

    def step(state, xtr, lam, idx, w):
        """One optimizer step; state = (params, m, v, t, loss_sum)."""
        params, m, v, t, acc = state
        loss, grads = value_and_grad(params, lam, xtr[idx], w)
        params, m, v, t = adam(params, grads, m, v, t)
        return (params, m, v, t, acc + loss * jnp.sum(w))

    def epoch(state, xtr, lam, keys):
        """One epoch of steps in one lax.scan; returns the state with the epoch's loss sum."""
        idx, w = order(keys)
        state = state[:4] + (jnp.zeros_like(state[4]),)
        state, _ = lax.scan(lambda s, iw: (step(s, xtr, lam, iw[0], iw[1]), None), state, (idx, w))
        return state

    def step_at(state, xtr, lam, idx, w, i):
        """jax-step: step number i of the epoch's order (sliced on the device)."""
        return step(state, xtr, lam, lax.dynamic_index_in_dim(idx, i, 0, keepdims=False),
                    lax.dynamic_index_in_dim(w, i, 0, keepdims=False))

    def evaluate(params, lam, xva, wva):
        """Validation objective over chunks [c, 512, d] with row weights [c, 512]."""
        def chunk(tot, xw):
            x, w = xw
            return tot + batch_loss(params, lam, x, w) * jnp.sum(w), None
        tot, _ = lax.scan(chunk, jnp.zeros(()), (xva, wva))
        return tot / jnp.sum(wva)

    if k:
        evaluate = jax.vmap(evaluate, in_axes=(0, 0, None, None))
        init = jax.vmap(init)
    return dict(init=init, order=order, epoch=epoch, step_at=step_at, evaluate=evaluate, steps=steps)


def run_jax(model, xtr_np, xva_np, framework, k, epochs, seed):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    cfg = pb.MODELS[model]
    group = framework.startswith("jax-vmap-")
    kk = k if group else 0
    weights = reg_weights(model, k if group else 1)
    n_train, d = xtr_np.shape
    fns = build(cfg, n_train, d, kk, jax, jnp, lax)
    vb = 512
    chunks = -(-len(xva_np) // vb)
    xva_pad = np.zeros((chunks * vb, d), np.float32)
    xva_pad[:len(xva_np)] = xva_np
    wva_np = (np.arange(chunks * vb) < len(xva_np)).astype(np.float32).reshape(chunks, vb)

    if group:
        base_keys = jax.vmap(jax.random.key)(jnp.arange(k, dtype=jnp.uint32) + seed)
    else:
        base_keys = jax.random.key(seed)
    fold = jax.vmap(jax.random.fold_in, in_axes=(0, None)) if group else jax.random.fold_in
    compile_s = 0.0

    def compiled(fn, *args, donate=()):
        nonlocal compile_s
        t = time.perf_counter()
        c = jax.jit(fn, donate_argnums=donate).lower(*args).compile()
        compile_s += time.perf_counter() - t
        return c

    ends, train_losses, val_losses = [], None, None
    t0 = time.perf_counter()
    # Inside the timed region, as saerun's first epoch includes its upload and compilation.
    xtr = jax.device_put(xtr_np)
    xva = jax.device_put(xva_pad.reshape(chunks, vb, d))
    wva = jax.device_put(wva_np)
    lam = jnp.asarray(weights if group else weights[0], jnp.float32)
    init_keys = fold(base_keys, 0)
    params = compiled(fns["init"], init_keys)(init_keys)
    # (params, Adam's m and v, step count, the epoch's loss sum per model)
    state = (params, jax.tree_util.tree_map(jnp.zeros_like, params), jax.tree_util.tree_map(jnp.zeros_like, params),
             jnp.zeros((), jnp.int32), jnp.zeros((k,) if group else (), jnp.float32))
    epoch_fn = step_fn = order_fn = eval_fn = None
    for e in range(epochs):
        keys = fold(base_keys, e + 1)
        if framework in ("jax-step", "jax-vmap-step"):
            if order_fn is None:
                order_fn = compiled(fns["order"], keys)
            idx, w = order_fn(keys)
            state = state[:4] + (jnp.zeros_like(state[4]),)
            if step_fn is None:
                step_fn = compiled(fns["step_at"], state, xtr, lam, idx, w, np.int32(0), donate=(0,))
            for i in range(fns["steps"]):
                state = step_fn(state, xtr, lam, idx, w, np.int32(i))
        else:
            if epoch_fn is None:
                epoch_fn = compiled(fns["epoch"], state, xtr, lam, keys, donate=(0,))
            state = epoch_fn(state, xtr, lam, keys)
        if eval_fn is None:
            eval_fn = compiled(fns["evaluate"], state[0], lam, xva, wva)
        val = eval_fn(state[0], lam, xva, wva)
        val_losses = np.asarray(val, dtype=np.float64).reshape(-1)
        train_losses = np.asarray(state[4], dtype=np.float64).reshape(-1) / n_train
        ends.append(time.perf_counter() - t0)
        if not np.all(np.isfinite(val_losses)):
            print(f"{framework}: validation loss not finite at epoch {e + 1}: {val_losses}", file=sys.stderr)

    # The row's loss: the single model's, or (a group) the model with the single model's weight.
    base = pb.MODELS[model]["reg"][2]
    pick = weights.index(base) if base in weights else None
    dev = jax.devices()[0]
    rec = dict(elapsed_epochs=ends, compile_seconds=compile_s, group_size=k if group else 1,
               reg_weights=weights, final_train_losses=train_losses.tolist(),
               final_validation_losses=val_losses.tolist(),
               final_train_loss=float(train_losses[pick]) if pick is not None else None,
               final_validation_loss=float(val_losses[pick]) if pick is not None else None,
               reported_reg_weight=base if pick is not None else None,
               detail=(f"jax {jax.__version__} on {dev.platform} ({dev.device_kind}), "
                       f"{'vmap of ' + str(k) + ' models in ' if group else ''}"
                       f"{'one lax.scan per epoch' if framework.endswith('-scan') else 'one jitted step per batch'}"),
               device=f"{dev.platform}: {dev.device_kind}",
               versions={"jax": jax.__version__, "jaxlib": __import__("jaxlib").__version__})
    return rec


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", required=True, choices=["jax-step", "jax-scan", "jax-vmap-scan", "jax-vmap-step"])
    p.add_argument("--model", choices=sorted(pb.MODELS), default="a")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--group-size", type=int, default=8, help="jax-vmap-*: models in the group (default 8)")
    p.add_argument("--threads", type=int, default=2, help="0: leave threads and CPU affinity alone")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-train", type=int, default=0, help="use only the first N training samples (quick checks)")
    p.add_argument("--max-validation", type=int, default=0, help="use only the first N validation samples")
    p.add_argument("--accelerator", action="store_true",
                   help="fail unless JAX's default device is an accelerator (not a silent CPU fallback)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if args.epochs < 1 or args.group_size < 1 or args.max_train < 0 or args.max_validation < 0:
        p.error("--epochs and --group-size must be >= 1, --max-train and --max-validation >= 0")
    if args.threads:
        pb.set_thread_env(args.threads)
    if args.accelerator:
        import jax
        dev = jax.devices()[0]
        if dev.platform == "cpu":
            sys.exit(f"jax_bench.py --accelerator: JAX's default device is {dev} (is the CUDA plugin installed?)")
    xtr, xva = pb.load_data(args.model)
    if args.max_train:
        xtr = xtr[:args.max_train]
    if args.max_validation:
        xva = xva[:args.max_validation]
    cfg = pb.MODELS[args.model]
    framework = args.framework
    record = dict(framework=f"{framework}-{args.group_size}" if framework.startswith("jax-vmap-") else framework,
                  threads=args.threads, python=platform.python_version(),
                  cpus_visible=len(os.sched_getaffinity(0)), cpu_count=os.cpu_count())
    record.update(run_jax(args.model, xtr, xva, framework, args.group_size, args.epochs, args.seed),
                  model=args.model, epochs=args.epochs, batch_size=cfg["batch"], n_train=len(xtr),
                  n_validation=len(xva))
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps({k: v for k, v in record.items()
                      if k not in ("versions", "final_train_losses", "final_validation_losses", "reg_weights")}),
          file=sys.stderr)


if __name__ == "__main__":
    main()
