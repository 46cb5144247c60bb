"""The two PyTorch implementations of bench/sae/torch_sae.py compute the same training step.

    bench/sae/.venv/bin/python -m pytest -q bench/sae

(bench/sae/run.sh makes that venv; the project's CI does not install torch, so these tests
run only here.)
"""

import pytest
import torch
import torch_sae

pytestmark = pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta state")


def test_saelens_and_sparse_impls_agree_on_loss_gradients_and_steps():
    assert torch_sae.check(verbose=False) < 1e-9


def test_topk_keeps_k_latents_and_decoder_rows_stay_unit_norm():
    torch.manual_seed(0)
    x = torch_sae.synthetic(32, 64, 256, 4, 0, "cpu")
    for cls in torch_sae.IMPLS.values():
        sae = cls(32, 128, 8, aux_k=16, aux_coefficient=1 / 32, device="cpu")
        trainer = torch_sae.Trainer(sae, 1e-3, (0.9, 0.999), 1e-8, dead_after=10**7,
                                    clip_grad_norm=None, fused=False)
        for step in range(3):
            _, _, _, firing = sae.training_forward(x[:64], None)
            assert int(firing.sum(dim=-1).max()) <= 8
            trainer.step(x[step * 64:(step + 1) * 64])
            norms = sae.W_dec.norm(dim=1)
            assert torch.allclose(norms, torch.ones_like(norms), atol=1e-6)
