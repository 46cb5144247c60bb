"""Runs inside the SAELens venv (scripts/setup-saelens.sh), not the test venv: loads
each exported folder with SAELens' own SAE.load_from_disk, encodes and decodes the
given rows, and saves what SAELens computed.

usage: saelens_load.py JOBS.json   (a list of {"dir", "inputs" (.npy), "out" (.npz)})
"""
import json
import sys

import numpy as np
import torch
from sae_lens import SAE


def main() -> None:
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        sae = SAE.load_from_disk(job["dir"], device="cpu")
        x = torch.from_numpy(np.load(job["inputs"]))
        with torch.no_grad():
            feats = sae.encode(x)
            recon = sae.decode(feats)
        np.savez(job["out"], feats=feats.numpy(), recon=recon.numpy(),
                 architecture=np.array(sae.cfg.architecture()), cls=np.array(type(sae).__name__))


if __name__ == "__main__":
    main()
