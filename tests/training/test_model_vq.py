"""The VQ dance network: Gumbel-max sampling from the contract noise, the codebook, export."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from dance_ai_addon.core.engines import load_engine  # noqa: E402
from dance_ai_addon.core.generation import generate  # noqa: E402
from dance_ai_addon.core.style import style_vector  # noqa: E402
from tests.training.synthetic import synthetic_dataset  # noqa: E402
from training.export import build_metadata, export_onnx, make_wrapper, parity_check  # noqa: E402
from training.model import ModelConfig, build_model  # noqa: E402
from training.model_vq import DanceVQ, gumbel_from_normal  # noqa: E402
from training.train import (  # noqa: E402,E501
    TrainConfig,
    load_training_data,
    load_weights,
    save_weights,
    train,
)

SMALL = dict(channels=32, blocks=2, hist_hidden=64, enc_channels=32, latent=8, kind="vq", codes=16)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model, rows, data, tmp) of a small VQ network trained briefly on the synthetic dataset."""
    tmp = tmp_path_factory.mktemp("vq")
    data = load_training_data(synthetic_dataset(tmp / "dataset.npz"))
    mcfg = ModelConfig(features=148, style=data.style_size, **SMALL)
    cfg = TrainConfig(steps=30, epoch_steps=10, batch=16)
    model, rows = train(data, mcfg, cfg, None, False)
    return model, rows, data, tmp


def test_gumbel_max_on_normal_noise_samples_the_softmax():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(40000, 4, generator=g)
    picks = torch.argmax(logits + gumbel_from_normal(noise), dim=-1)
    freq = torch.bincount(picks, minlength=4).double() / picks.numel()
    np.testing.assert_allclose(freq.numpy(), torch.softmax(logits, 0).double().numpy(), atol=0.01)


def test_quantise_picks_the_nearest_code_and_passes_gradients_straight_through():
    model = DanceVQ(ModelConfig(features=148, style=8, **SMALL))
    e = model.codebook[[3, 7]].clone() + 0.01
    e.requires_grad_(True)
    idx, q = model.quantise(e)
    assert idx.tolist() == [3, 7]
    torch.testing.assert_close(q.detach(), model.codebook[[3, 7]])
    q.sum().backward()
    torch.testing.assert_close(e.grad, torch.ones_like(e))


def test_codebook_rejects_more_codes_than_noise_numbers():
    with pytest.raises(ValueError, match="codes"):
        DanceVQ(ModelConfig(features=148, style=8, **{**SMALL, "codes": 24 * 8 + 1}))


def test_dead_codes_are_restarted_from_live_encodings():
    torch.manual_seed(0)
    model = DanceVQ(ModelConfig(features=148, style=8, **SMALL)).train()
    e = torch.randn(32, 8)
    model._start_codebook(e)
    assert int(model.started) == 1
    # from now on every encoding sits next to code 0: the other codes fall out of use ...
    live = model.codebook[0].clone()
    for _ in range(400):
        batch = live + 0.01 * torch.randn(32, 8)
        model._ema_update(batch, torch.zeros(32, dtype=torch.long))
    # ... and are restarted on encodings the encoder actually produces (near code 0 here)
    dist = (model.codebook - live).norm(dim=-1)
    assert (dist < 0.2).float().mean() > 0.9


def test_training_logs_codebook_use_and_prior_fit(trained):
    _, rows, _, _ = trained
    for key in ("commit", "prior_ce", "prior_acc", "perplexity", "val_prior_ce"):
        assert np.isfinite(rows[-1][key]), key
    assert rows[-1]["prior_ce"] < np.log(16) + 0.5  # about uniform at worst, never diverging


def test_weights_round_trip_with_the_codebook(trained, tmp_path):
    model, _, data, _ = trained
    save_weights(tmp_path / "w.npz", model, data.mean, data.std)
    loaded, _, _ = load_weights(tmp_path / "w.npz")
    assert isinstance(loaded, DanceVQ)
    torch.testing.assert_close(loaded.codebook, model.codebook)
    assert isinstance(build_model(ModelConfig(features=148, style=8, **SMALL)), DanceVQ)


def test_vq_export_runs_in_the_runtime_like_pytorch(trained):
    model, _, data, tmp = trained
    wrapper = make_wrapper(model, data)
    meta = build_metadata(
        data, {"steps": 30}, 4, 12, 24, 8, seed_motion=True, noise_use=model.noise_use
    )
    path = export_onnx(wrapper, tmp / "vq.onnx", meta)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"ArgMax", "Erf"} <= ops
    assert parity_check(wrapper, path) < 1e-4
    with load_engine(path, "cpu", threads=1) as engine:
        assert "Gumbel" in engine.metadata.raw["noise"]["use"]
        vec = style_vector(engine.metadata, {"modern": 1.0})
        a = generate(engine, frames=90, style=vec, seed=1).features
        b = generate(engine, frames=90, style=vec, seed=2).features
        assert np.isfinite(a).all() and np.abs(a - b).max() > 1e-3  # the seed picks other codes
