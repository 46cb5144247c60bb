"""`go run ./experiments export --format saelens` writes folders that SAELens itself
loads (SAE.load_from_disk), and SAELens' encode/decode of the run's recorded
validation rows gives the latents, reconstructions and L0 the runner recorded, for
every SAE activation (relu -> standard, topk, jumprelu; batchtopk and
matryoshka_batchtopk -> jumprelu with their global threshold).

SAELens (and torch) live in their own venv, .venv-saelens, made by
scripts/setup-saelens.sh (pinned); the test skips without it, except in CI
(SAERUN_REQUIRE_XLA=1), where scripts/test.sh installs it.
"""
import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, go_test_output

SAELENS_PY = ROOT / ".venv-saelens" / "bin" / "python"
ACTIVATIONS = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu",
               "matryoshka_batchtopk": "jumprelu", "jumprelu": "jumprelu"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    if not SAELENS_PY.exists():
        if os.environ.get("SAERUN_REQUIRE_XLA") == "1":
            pytest.fail(f"{SAELENS_PY} missing: scripts/setup-saelens.sh did not run")
        pytest.skip("no SAELens venv (bash scripts/setup-saelens.sh makes .venv-saelens)")
    out = go_test_output("TestExportedSAEsOfEveryActivationForSAELens", "./pkg/export",
                         "SAERUN_SAELENS_TEST_OUT", tmp_path_factory.mktemp("saelens"))
    jobs, recorded = [], {}
    for act in ACTIVATIONS:
        sweep = out / f"sae-{act}"
        rec = pd.read_parquet(sweep / "reconstructions")
        rec = rec[rec.kind == "reconstruction"].sort_values("validation_index")
        acts = pd.read_parquet(sweep / "activations").sort_values("validation_index")
        metrics = pd.read_parquet(sweep / "metrics")
        last = metrics.epoch.max()
        l0 = metrics[(metrics.split == "validation") & (metrics.metric == "l0") & (metrics.epoch == last)].value
        assert len(l0) == 1 and list(acts.validation_index) == list(rec.validation_index)
        (folder,) = [p for p in (out / "export" / f"sae-{act}").iterdir() if not p.name.startswith(".")]
        x = np.stack(rec.input.to_numpy()).astype(np.float32)
        np.save(out / f"{act}-x.npy", x)
        jobs.append({"dir": str(folder), "inputs": str(out / f"{act}-x.npy"), "out": str(out / f"{act}.npz")})
        recorded[act] = dict(folder=folder, feats=np.stack(acts.activation.to_numpy()),
                             recon=np.stack(rec.output.to_numpy()), l0=float(l0.iloc[0]))
    (out / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([str(SAELENS_PY), str(ROOT / "tests" / "saelens_load.py"), str(out / "jobs.json")],
                   check=True, cwd=ROOT)
    return {act: (recorded[act], np.load(out / f"{act}.npz")) for act in ACTIVATIONS}


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_saelens_loads_the_export_and_reproduces_the_recorded_latents_reconstructions_and_l0(loaded, act):
    rec, got = loaded[act]
    assert str(got["architecture"]) == ACTIVATIONS[act]
    cfg = json.loads((rec["folder"] / "cfg.json").read_text())
    assert cfg["d_in"] == 8 and cfg["d_sae"] == 16
    assert rec["feats"].shape == got["feats"].shape == (80, 16)
    assert (rec["feats"] > 0).any(), "no latent fired: the comparison would check only zeros"
    np.testing.assert_allclose(got["feats"], rec["feats"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["recon"], rec["recon"], rtol=1e-3, atol=1e-3)
    l0 = float((got["feats"] > 0).sum(axis=1).mean())
    assert abs(l0 - rec["l0"]) < 1e-6, (l0, rec["l0"])
