"""TopK sparse autoencoder training in PyTorch, the reference side of issue 17's benchmark.

    python torch_sae.py --impl saelens|sparse [--compile] [--device cpu|cuda] [--epochs E] ...
    python torch_sae.py --check        # both impls agree on a small case (loss, gradients, steps)

Prints one JSON line on stdout (logs on stderr): the steady-state training rate in samples/s
and how it was measured.

Two implementations of the same model and training step:

- ``--impl saelens`` is written the way SAELens writes its TopK training SAE
  (sae_lens/saes/topk_sae.py and sae.py, 6.x; the decoder normalisation of
  tests/_comparison/sae_lens_old/training/training_sae.py): W_enc [d_in, d_sae] and
  W_dec [d_sae, d_in] as plain parameters; ``hidden_pre = (x - b_dec) @ W_enc + b_enc``;
  TopK = ``torch.topk`` then ReLU, scattered into a dense [batch, d_sae] tensor; dense
  decoder ``feature_acts @ W_dec + b_dec``; MSE summed over features, mean over the
  batch; AuxK (top k_aux dead latents reconstruct the detached residual, scaled by
  min(dead / k_aux, 1), computed only when some latent is dead, as SAELens does);
  ``remove_gradient_parallel_to_decoder_directions`` and ``set_decoder_norm_to_unit_norm``
  around a ``torch.optim.Adam`` step; dead-latent bookkeeping from ``feature_acts > 0``.
- ``--impl sparse`` is what a fast expert writes (EleutherAI sparsify's fused encoder and
  gather-based decoder): the encoder's forward is the same dense product, but its backward
  only touches the k selected latents per sample, and AuxK's k_aux (input gradient by
  ``F.embedding_bag``, weight gradient as a CSR sparse x dense product, bias by
  ``index_add_``); the decoder is ``F.embedding_bag`` with ``per_sample_weights`` (gather k
  rows of W_dec per sample), AuxK's too; Adam with ``fused=True``.

Both compute the same function with the same gradients (``--check``). Deliberate differences
from SAELens, shared by both impls because saerun does the same:
- the decoder-parallel gradient component is removed *before* the optimizer step (SAELens'
  earlier trainer, kept in its tests/_comparison/sae_lens_old, removed it after
  ``optimizer.step()``, where it has no effect) and the decoder rows
  are renormalised after every step;
- AuxK's reconstruction does not add b_dec (SAELens and sparsify add it, so b_dec counts
  twice against a residual that has none);
- no gradient-norm clipping by default (SAELens clips at 1.0: ``--clip-grad-norm 1``);
- b_dec starts at zero (``b_dec_init: zeros`` in the saerun spec), no learning-rate schedule.

Data: the synthetic set of bench/sae/topk.yaml made in torch: ``features`` random unit
directions in R^dim; each sample is a non-negative combination of ``active`` of them drawn
at random (magnitudes uniform in [0, 1)). The generator is not saerun's (the figure is a
rate, not a loss), only its shape is. The data stay on the device; each epoch is a random
permutation, each batch a gather of it, as in saerun.

Timing: like bench/summarize.py for saerun, an epoch is the training steps over the training
set plus a validation pass (forward only, no gradient) over ``--validation-samples``; every
epoch is stamped, the first is warm-up, and samples/s = training samples per epoch / the
median duration of epochs 2..E. ``step_samples_per_s`` (training steps only, no validation)
is reported beside it.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


# ----------------------------------------------------------------------------- data


def synthetic(dim, features, samples, active, seed, device):
    """samples x dim float32: each row a non-negative combination of `active` of `features`
    random unit directions."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    dirs = torch.randn(features, dim, generator=g)
    dirs /= dirs.norm(dim=1, keepdim=True)
    idx = torch.randint(0, features, (samples, active), generator=g)
    mag = torch.rand(samples, active, generator=g)
    x = F.embedding_bag(idx, dirs, per_sample_weights=mag, mode="sum")
    return x.to(device)


# ----------------------------------------------------------------------------- SAELens style


class SAELensTopK(torch.nn.Module):
    """TopK training SAE as SAELens writes it (dense activations, dense decoder)."""

    def __init__(self, d_in, d_sae, k, aux_k, aux_coefficient, device, dtype=torch.float32):
        super().__init__()
        self.k, self.aux_k, self.aux_coefficient = k, aux_k, aux_coefficient
        w_dec = torch.empty(d_sae, d_in, dtype=dtype, device=device)
        torch.nn.init.kaiming_uniform_(w_dec)
        w_dec /= w_dec.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(w_dec)
        self.W_enc = torch.nn.Parameter(w_dec.T.clone().contiguous())
        self.b_enc = torch.nn.Parameter(torch.zeros(d_sae, dtype=dtype, device=device))
        self.b_dec = torch.nn.Parameter(torch.zeros(d_in, dtype=dtype, device=device))

    def encode_with_hidden_pre(self, x):
        sae_in = x - self.b_dec
        hidden_pre = sae_in @ self.W_enc + self.b_enc
        topk_values, topk_indices = torch.topk(hidden_pre, k=self.k, dim=-1, sorted=False)
        feature_acts = torch.zeros_like(hidden_pre)
        feature_acts.scatter_(-1, topk_indices, topk_values.relu())
        return feature_acts, hidden_pre

    def decode(self, feature_acts):
        return feature_acts @ self.W_dec + self.b_dec

    def aux_loss(self, x, sae_out, hidden_pre, dead):
        if dead is None or (num_dead := int(dead.sum())) == 0:
            return sae_out.new_tensor(0.0)
        residual = (x - sae_out).detach()
        scale = min(num_dead / self.aux_k, 1.0)
        k_aux = min(self.aux_k, num_dead)
        auxk_latents = torch.where(dead[None], hidden_pre, -torch.inf)
        auxk_topk = auxk_latents.topk(k_aux, sorted=False)
        auxk_acts = torch.zeros_like(hidden_pre)
        auxk_acts.scatter_(-1, auxk_topk.indices, auxk_topk.values)
        recons = auxk_acts @ self.W_dec  # no b_dec: the residual has none
        return self.aux_coefficient * scale * (recons - residual).pow(2).sum(dim=-1).mean()

    def training_forward(self, x, dead):
        """(loss, mse, fired [d_sae] bool, l0 per sample mean)."""
        feature_acts, hidden_pre = self.encode_with_hidden_pre(x)
        sae_out = self.decode(feature_acts)
        mse = F.mse_loss(sae_out, x, reduction="none").sum(dim=-1).mean()
        loss = mse + self.aux_loss(x, sae_out, hidden_pre, dead)
        with torch.no_grad():
            firing = feature_acts > 0
            fired = firing.any(dim=0)
        return loss, mse, fired, firing

    @torch.no_grad()
    def reconstruct(self, x):
        return self.decode(self.encode_with_hidden_pre(x)[0])

    @torch.no_grad()
    def remove_gradient_parallel_to_decoder_directions(self):
        parallel = torch.einsum("sd,sd->s", self.W_dec.grad, self.W_dec.data)
        self.W_dec.grad -= torch.einsum("s,sd->sd", parallel, self.W_dec.data)

    @torch.no_grad()
    def set_decoder_norm_to_unit_norm(self):
        self.W_dec.data /= torch.norm(self.W_dec.data, dim=1, keepdim=True)

    def encoder_weight(self):
        """W_enc as [d_in, d_sae] (for comparing the impls)."""
        return self.W_enc


# ----------------------------------------------------------------------------- sparse (sparsify style)


def _csr_transpose_product(indices, weights, dense, n_rows):
    """Gᵀ @ dense for G [batch, n_rows] with the given k entries per row (indices, weights:
    [batch, k]), as one CSR sparse x dense product (duplicates summed)."""
    batch, k = indices.shape
    flat = indices.reshape(-1)
    order = torch.argsort(flat, stable=True)
    cols = torch.arange(batch, device=indices.device).repeat_interleave(k)[order]
    crow = torch.zeros(n_rows + 1, dtype=torch.int64, device=indices.device)
    crow[1:] = torch.bincount(flat, minlength=n_rows).cumsum(0)
    g_t = torch.sparse_csr_tensor(crow, cols, weights.reshape(-1)[order], (n_rows, batch),
                                  check_invariants=False)
    return g_t @ dense


class SparseTopKEncoder(torch.autograd.Function):
    """relu(topk(x Wᵀ + b)) with a backward through the selected latents only (sparsify's
    FusedEncoder; the gradient is masked where the selected pre-activation was negative, as
    SAELens' topk-then-relu does). With a dead mask it also returns AuxK's selection, the
    k_aux largest pre-activations among the dead latents (raw, as SAELens takes them), whose
    gradient joins the same sparse backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, k, dead, k_aux):
        pre = F.linear(x, weight, bias)
        values, indices = torch.topk(pre, k, dim=-1, sorted=False)
        positive = values > 0
        if dead is None:
            aux_values = aux_indices = None
            ctx.save_for_backward(x, weight, indices, positive)
        else:
            aux_values, aux_indices = torch.where(dead[None], pre, -torch.inf).topk(k_aux, sorted=False)
            ctx.save_for_backward(x, weight, indices, positive, aux_indices)
        ctx.set_materialize_grads(False)
        return values.relu(), indices, aux_values, aux_indices

    @staticmethod
    def backward(ctx, grad_values, _gi, grad_aux, _gai):
        x, weight, indices, positive, *aux = ctx.saved_tensors
        n_latents = weight.shape[0]
        g = torch.zeros(indices.shape, dtype=x.dtype, device=x.device) if grad_values is None else grad_values * positive
        if aux and grad_aux is not None:
            indices, g = torch.cat([indices, aux[0]], dim=1), torch.cat([g, grad_aux], dim=1)
        grad_x = F.embedding_bag(indices, weight, per_sample_weights=g, mode="sum")
        grad_w = _csr_transpose_product(indices, g, x, n_latents)
        grad_b = torch.zeros(n_latents, dtype=x.dtype, device=x.device)
        grad_b.index_add_(0, indices.reshape(-1), g.reshape(-1))
        return grad_x, grad_w, grad_b, None, None, None


class SparseTopK(torch.nn.Module):
    """The same SAE with sparsify's layout (encoder weight [d_sae, d_in]) and gathers."""

    def __init__(self, d_in, d_sae, k, aux_k, aux_coefficient, device, dtype=torch.float32):
        super().__init__()
        self.k, self.aux_k, self.aux_coefficient = k, aux_k, aux_coefficient
        w_dec = torch.empty(d_sae, d_in, dtype=dtype, device=device)
        torch.nn.init.kaiming_uniform_(w_dec)
        w_dec /= w_dec.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(w_dec)
        self.W_enc = torch.nn.Parameter(w_dec.clone())  # [d_sae, d_in] = (Wᵀ_dec)ᵀ
        self.b_enc = torch.nn.Parameter(torch.zeros(d_sae, dtype=dtype, device=device))
        self.b_dec = torch.nn.Parameter(torch.zeros(d_in, dtype=dtype, device=device))

    def decode(self, values, indices, bias=True):
        y = F.embedding_bag(indices, self.W_dec, per_sample_weights=values, mode="sum")
        return y + self.b_dec if bias else y

    def training_forward(self, x, dead):
        num_dead = 0 if dead is None else int(dead.sum())
        k_aux = min(self.aux_k, num_dead)
        values, indices, aux_vals, aux_idx = SparseTopKEncoder.apply(
            x - self.b_dec, self.W_enc, self.b_enc, self.k, dead if num_dead else None, k_aux)
        sae_out = self.decode(values, indices)
        e = sae_out - x
        mse = e.pow(2).sum(dim=-1).mean()
        loss = mse
        if num_dead:
            scale = min(num_dead / self.aux_k, 1.0)
            e_hat = self.decode(aux_vals, aux_idx, bias=False)
            loss = loss + self.aux_coefficient * scale * (e_hat + e.detach()).pow(2).sum(dim=-1).mean()
        with torch.no_grad():
            fired = torch.zeros(self.W_dec.shape[0], dtype=torch.bool, device=x.device)
            fired[indices[values > 0]] = True
        return loss, mse, fired, (values > 0)

    @torch.no_grad()
    def reconstruct(self, x):
        pre = F.linear(x - self.b_dec, self.W_enc, self.b_enc)
        values, indices = torch.topk(pre, self.k, dim=-1, sorted=False)
        return self.decode(values.relu(), indices)

    @torch.no_grad()
    def remove_gradient_parallel_to_decoder_directions(self):
        parallel = (self.W_dec.grad * self.W_dec.data).sum(dim=1, keepdim=True)
        self.W_dec.grad.addcmul_(parallel, self.W_dec.data, value=-1)

    @torch.no_grad()
    def set_decoder_norm_to_unit_norm(self):
        self.W_dec.data /= torch.norm(self.W_dec.data, dim=1, keepdim=True)

    def encoder_weight(self):
        return self.W_enc.T


IMPLS = {"saelens": SAELensTopK, "sparse": SparseTopK}


# ----------------------------------------------------------------------------- trainer


class Trainer:
    """Adam steps with SAELens' decoder handling and dead-latent bookkeeping (in samples)."""

    def __init__(self, sae, lr, betas, eps, dead_after, clip_grad_norm, fused):
        self.sae = sae
        self.optimizer = torch.optim.Adam(sae.parameters(), lr=lr, betas=betas, eps=eps,
                                          **({"fused": True} if fused else {}))
        self.dead_after = dead_after
        self.clip = clip_grad_norm
        self.samples_since_fired = torch.zeros(sae.W_dec.shape[0], dtype=torch.int64,
                                               device=sae.W_dec.device)

    def dead(self):
        return self.samples_since_fired >= self.dead_after

    def step(self, x):
        sae = self.sae
        loss, mse, fired, _ = sae.training_forward(x, self.dead())
        with torch.no_grad():
            self.samples_since_fired += x.shape[0]
            self.samples_since_fired[fired] = 0
        loss.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(sae.parameters(), self.clip)
        self.optimizer.step()
        sae.set_decoder_norm_to_unit_norm()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach(), mse.detach()


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(args):
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = args.device
    total = args.train_samples + args.validation_samples
    t_data = time.perf_counter()
    data = synthetic(args.dim, args.features, total, args.active, args.seed, dev)
    train, val = data[: args.train_samples], data[args.train_samples:]
    print(f"data: {tuple(train.shape)} train, {tuple(val.shape)} validation, "
          f"{time.perf_counter() - t_data:.1f} s", file=sys.stderr)
    sae = IMPLS[args.impl](args.dim, args.latents, args.k, args.aux_k, args.aux_coefficient, dev)
    trainer = Trainer(sae, args.lr, (args.beta1, args.beta2), args.epsilon, args.dead_after,
                      args.clip_grad_norm, fused=args.impl == "sparse")
    step = trainer.step
    if args.compile:
        step = torch.compile(trainer.step)
    B = args.batch
    steps = math.ceil(args.train_samples / B)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    stamps, step_times = [], []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(args.train_samples, generator=gen, device=dev)
        loss_sum = torch.zeros((), device=dev)
        for s in range(steps):
            t0 = time.perf_counter()
            loss, mse = step(train[order[s * B:(s + 1) * B]])
            loss_sum += mse
            if epoch > 1:
                sync(dev)
                step_times.append(time.perf_counter() - t0)
        # validation: forward only, FVU over the held-out rows
        with torch.no_grad():
            sq = tot = 0.0
            mean = val.mean(0)
            for v in val.split(B):
                sq += (sae.reconstruct(v) - v).pow(2).sum().item()
                tot += (v - mean).pow(2).sum().item()
        train_mse = loss_sum.item() / steps
        sync(dev)
        stamps.append(time.perf_counter() - start)
        print(f"epoch {epoch}: {stamps[-1]:.2f} s, train mse {train_mse:.4f}, validation fvu "
              f"{sq / tot:.4f}, dead {int(trainer.dead().sum())}", file=sys.stderr)
    epochs = [b - a for a, b in zip([0.0] + stamps, stamps)]
    steady = statistics.median(epochs[1:])
    rec = dict(
        framework=f"torch-{args.impl}" + ("-compile" if args.compile else ""),
        impl=args.impl, compile=args.compile, device=dev,
        device_name=torch.cuda.get_device_name() if dev.startswith("cuda") else platform.processor() or platform.machine(),
        threads=args.threads, torch=torch.__version__,
        dim=args.dim, latents=args.latents, k=args.k, batch=B,
        train_samples=args.train_samples, validation_samples=args.validation_samples,
        steps_per_epoch=steps, epochs=args.epochs,
        epoch_seconds=[round(e, 4) for e in epochs],
        samples_per_s=args.train_samples / steady,
        best_epoch_samples_per_s=args.train_samples / min(epochs[1:]),
        step_samples_per_s=B / statistics.median(step_times),
        final_train_mse=train_mse, final_validation_fvu=sq / tot,
        dead_latents=int(trainer.dead().sum()),
    )
    print(json.dumps(rec))


# ----------------------------------------------------------------------------- check


def check(verbose=True):
    """Both impls on a small float64 case, with dead latents so that AuxK runs: same loss,
    same gradients, same parameters after a few steps. Returns the largest difference."""
    torch.manual_seed(0)
    d_in, d_sae, k, batch = 16, 64, 4, 32
    x = synthetic(d_in, 40, batch * 4, 3, 1, "cpu").double()
    models = {}
    for name, cls in IMPLS.items():
        torch.manual_seed(0)
        models[name] = cls(d_in, d_sae, k, aux_k=8, aux_coefficient=1 / 32, device="cpu",
                           dtype=torch.float64)
    a, b = models["saelens"], models["sparse"]
    with torch.no_grad():  # same start (the sparse layout is the transpose)
        b.W_enc.copy_(a.W_enc.T)
        b.W_dec.copy_(a.W_dec)
        a.b_enc.normal_(mean=-0.6, std=0.3)  # some samples have fewer than k positive pre-activations
        b.b_enc.copy_(a.b_enc)
        a.b_dec.normal_(std=0.1)
        b.b_dec.copy_(a.b_dec)
    worst = 0.0

    def compare(what, u, v):
        nonlocal worst
        d = (u - v).abs().max().item() / max(1.0, u.abs().max().item())
        worst = max(worst, d)
        if verbose:
            print(f"{what}: max relative difference {d:.2e}", file=sys.stderr)
        if not d < 1e-9:
            raise AssertionError(f"{what} differs between impls: {d}")

    l0 = (a.encode_with_hidden_pre(x[:batch])[0] > 0).sum(dim=1)
    assert (l0 < k).any() and (l0 == k).any(), f"the check needs samples with and without k active: {l0}"
    for dead in (None, torch.arange(d_sae) % 3 == 0):
        la = a.training_forward(x[:batch], dead)
        lb = b.training_forward(x[:batch], dead)
        la[0].backward()
        lb[0].backward()
        tag = "no dead" if dead is None else "dead latents (AuxK)"
        compare(f"loss, {tag}", la[0], lb[0])
        compare(f"fired, {tag}", la[2].double(), lb[2].double())
        for p in ("W_dec", "b_enc", "b_dec"):
            compare(f"grad {p}, {tag}", getattr(a, p).grad, getattr(b, p).grad)
        compare(f"grad W_enc, {tag}", a.W_enc.grad, b.W_enc.grad.T)
        a.zero_grad(set_to_none=True)
        b.zero_grad(set_to_none=True)
    ta = Trainer(a, 1e-2, (0.9, 0.999), 1e-8, dead_after=2 * batch, clip_grad_norm=None, fused=False)
    tb = Trainer(b, 1e-2, (0.9, 0.999), 1e-8, dead_after=2 * batch, clip_grad_norm=None, fused=True)
    aux_steps = 0
    for s in range(4):
        xb = x[s * batch:(s + 1) * batch]
        aux_steps += int(ta.dead().any())
        ta.step(xb)
        tb.step(xb)
    assert aux_steps > 0, "the check never ran AuxK"
    compare("W_dec after 4 steps", a.W_dec, b.W_dec)
    compare("W_enc after 4 steps", a.W_enc, b.W_enc.T)
    compare("b_dec after 4 steps", a.b_dec, b.b_dec)
    norms = a.W_dec.norm(dim=1)
    assert (norms - 1).abs().max() < 1e-12, "decoder rows not unit norm after a step"
    return worst


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--impl", choices=sorted(IMPLS), default="saelens")
    p.add_argument("--check", action="store_true", help="compare the impls on a small case and exit")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--latents", type=int, default=4096)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--features", type=int, default=8192)
    p.add_argument("--active", type=int, default=32)
    p.add_argument("--train-samples", type=int, default=16 * 4096)
    p.add_argument("--validation-samples", type=int, default=4096)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=3, help="at least 2 (the first is the warm-up)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--epsilon", type=float, default=1e-8)
    p.add_argument("--aux-k", type=int, default=None, help="default dim/2")
    p.add_argument("--aux-coefficient", type=float, default=1 / 32)
    p.add_argument("--dead-after", type=int, default=10_000_000, help="samples without firing")
    p.add_argument("--clip-grad-norm", type=float, default=None, help="SAELens clips at 1.0; default none")
    args = p.parse_args()
    if args.check:
        worst = check()
        print(json.dumps({"check": "ok", "max_relative_difference": worst}))
        return
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (the first epoch is the warm-up)")
    for name in ("threads", "dim", "latents", "k", "features", "active", "train_samples",
                 "validation_samples", "batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.k > args.latents:
        p.error(f"--k {args.k} is more than --latents {args.latents}")
    if args.aux_k is None:
        args.aux_k = args.dim // 2
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
    run(args)


if __name__ == "__main__":
    main()
