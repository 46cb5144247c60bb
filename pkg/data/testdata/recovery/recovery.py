"""Does a TopK SAE recover the synthetic data set's features? A plain numpy TopK
sparse autoencoder (W_enc initialised as W_dec^T, b_dec at the data mean, decoder rows
kept at unit norm with the decoder-parallel gradient removed, Adam), trained on
data.Synthetic's vectors; prints per epoch the FVU and the mean over true features of
the best cosine similarity with a decoder row (the issue's >= 0.9 check). Evidence for
the distribution's choice, until the Go SAE's test exists. From the repository root:

    .venv/bin/python pkg/data/testdata/recovery/recovery.py DIM FEATURES SAMPLES ACTIVE LATENTS K EPOCHS

e.g. 64 128 30000 4 256 4 15 (mean best cos 0.956 after 4 epochs, 0.996 after 15).
"""
import os, subprocess, sys, tempfile
import numpy as np
d, F, S, A, L, k, epochs = [int(a) for a in sys.argv[1:8]]
out = tempfile.mkdtemp()
subprocess.run(["go", "run", "./pkg/data/testdata/recovery", str(d), str(F), str(S), str(A), "0", out], check=True)
X = np.fromfile(os.path.join(out, 'x.f32'), dtype=np.float32).reshape(-1, d).astype(np.float64)
Ft = np.fromfile(os.path.join(out, 'f.f32'), dtype=np.float32).reshape(F, d).astype(np.float64)
rng = np.random.default_rng(0)
Wd = rng.standard_normal((L, d)); Wd /= np.linalg.norm(Wd, axis=1, keepdims=True)
We = Wd.T.copy(); be = np.zeros(L); bd = X.mean(0)
params = [We, be, Wd, bd]; m = [np.zeros_like(p) for p in params]; v = [np.zeros_like(p) for p in params]
lr, b1, b2, eps, B, t = 1e-3, 0.9, 0.999, 1e-8, 256, 0
def score():
    Wn = Wd / np.linalg.norm(Wd, axis=1, keepdims=True)
    return (Ft @ Wn.T).max(1).mean()
for ep in range(epochs):
    perm = rng.permutation(len(X)); tot = 0
    for s in range(0, len(X), B):
        x = X[perm[s:s+B]]; n = len(x)
        xc = x - bd; z = xc @ We + be
        idx = np.argpartition(-z, k, axis=1)[:, :k]
        h = np.zeros_like(z); rows = np.arange(n)[:, None]
        h[rows, idx] = np.maximum(z[rows, idx], 0)
        xh = h @ Wd + bd; r = xh - x; tot += (r**2).sum()
        g = 2 * r / n
        gWd = h.T @ g; gbd = g.sum(0)
        dz = (g @ Wd.T) * (h > 0)
        gWe = xc.T @ dz; gbe = dz.sum(0); gbd -= (dz @ We.T).sum(0)
        gWd -= (gWd * Wd).sum(1, keepdims=True) * Wd   # remove the decoder-parallel component
        t += 1
        for i, (p, gr) in enumerate(zip(params, [gWe, gbe, gWd, gbd])):
            m[i] = b1*m[i] + (1-b1)*gr; v[i] = b2*v[i] + (1-b2)*gr*gr
            p -= lr * (m[i]/(1-b1**t)) / (np.sqrt(v[i]/(1-b2**t)) + eps)
        Wd /= np.linalg.norm(Wd, axis=1, keepdims=True)
    fvu = tot / ((X - X.mean(0))**2).sum()
    print(f"epoch {ep+1}: fvu {fvu:.4f} mean best cos {score():.4f}", flush=True)
