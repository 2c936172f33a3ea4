"""v3 training/export pieces: history corruption, style dropout, baked guidance, seed histories."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from dance_ai_addon.core.engines import load_engine  # noqa: E402
from dance_ai_addon.core.generation import generate, seed_history  # noqa: E402
from dance_ai_addon.core.style import style_vector  # noqa: E402
from tests.training.synthetic import synthetic_dataset  # noqa: E402
from training.export import (  # noqa: E402
    build_metadata,
    export_onnx,
    make_wrapper,
    parity_check,
    seed_descriptors,
    seed_histories,
)
from training.model import DanceCVAE, ModelConfig  # noqa: E402
from training.train import (  # noqa: E402
    Corruption,
    TrainConfig,
    _corrupt,
    _drop_style,
    _neutral_start,
    load_training_data,
    recipe_config,
)

SMALL = dict(channels=32, blocks=2, hist_hidden=64, enc_channels=32, latent=8)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_training_data(synthetic_dataset(tmp_path_factory.mktemp("v3") / "dataset.npz"))


def test_corruption_and_style_drop_are_partial_and_seeded():
    hist = torch.zeros(400, 12, 148)
    corr = Corruption(noise=0.15, noise_p=0.75)
    a = _corrupt(hist, corr, np.random.default_rng(0))
    b = _corrupt(hist, corr, np.random.default_rng(0))
    torch.testing.assert_close(a, b)
    noisy = a.abs().amax(dim=(1, 2)) > 0
    assert 0.65 < noisy.float().mean().item() < 0.85  # about noise_p of the windows
    sigma = a[noisy].std(dim=(1, 2))
    assert 0.06 < sigma.min().item() and sigma.max().item() < 0.24  # U(0.5, 1.5) * 0.15
    assert torch.equal(_corrupt(hist, Corruption(), np.random.default_rng(0)), hist)
    style = torch.ones(1000, 8)
    dropped = _drop_style(style, 0.1, np.random.default_rng(1))
    zero_rows = (dropped == 0).all(dim=1)
    assert 0.06 < zero_rows.float().mean().item() < 0.14
    assert torch.equal(dropped[~zero_rows], style[~zero_rows])


def test_guidance_is_baked_into_the_graph_with_dynamic_batch(data, tmp_path):
    torch.manual_seed(0)
    mcfg = ModelConfig(features=148, style=data.style_size, **SMALL)
    model = DanceCVAE(mcfg).eval()
    # make the style matter so guidance has something to amplify
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    plain = make_wrapper(model, data, guidance=1.0).eval()
    guided = make_wrapper(model, data, guidance=2.0).eval()
    meta = build_metadata(data, {"steps": 0, "seed": 0}, 4, mcfg.history, mcfg.window, 8)
    meta["recommended"]["guidance"] = 2.0
    path = export_onnx(guided, tmp_path / "guided.onnx", meta)
    for batch in (1, 3, 5):  # exported with batch 2: the cond/uncond split must not bake it in
        assert parity_check(guided, path, batch=batch) < 1e-4
    hist = torch.from_numpy(data.features[None, : mcfg.history]).repeat(2, 1, 1)
    style = torch.from_numpy(data.style_vectors(np.array([40, 40])))
    noise = torch.randn(2, mcfg.window, 8)
    beat = torch.from_numpy(data.beat[None, : mcfg.window]).repeat(2, 1, 1)
    with torch.no_grad():
        a = plain(hist, style, noise, beat)
        b = guided(hist, style, noise, beat)
        # g = 1 through the guided path equals the plain conditional sample
        model_out = model.sample_guided(
            (hist - plain.mean) / plain.std, style, beat, noise[:, 0], 1.0
        )
        ref = model.sample((hist - plain.mean) / plain.std, style, beat, noise[:, 0])
    torch.testing.assert_close(model_out, ref, atol=1e-5, rtol=1e-5)
    assert (a - b).abs().max().item() > 1e-4  # guidance changes the output
    with load_engine(path, "cpu", threads=1) as eng:
        assert eng.metadata.raw["recommended"]["guidance"] == 2.0


def test_seed_histories_come_from_training_takes_and_load(data, tmp_path):
    h = 12
    seeds = seed_histories(data, h, per_style=4)
    assert set(seeds) <= set(data.style_names) and seeds
    for name, bank in seeds.items():
        assert bank.shape == (4, h, 148)
        style = data.style_names.index(name)
        for hist in bank:
            # each seed is a contiguous run of one TRAIN take of that style
            start = np.flatnonzero((data.features == hist[0].astype(np.float32)).all(axis=1))
            assert start.size >= 1
            s = int(start[0])
            np.testing.assert_array_equal(data.features[s : s + h], hist.astype(np.float32))
            assert data.frame_split[s] and data.frame_style[s] == style
            assert data.take_id[s] == data.take_id[s + h - 1]
        assert len({hist[0].tobytes() for hist in bank}) == 4  # spread, not repeated
    # build_metadata ships them and the runtime loader accepts them
    mcfg = ModelConfig(features=148, style=data.style_size, history=h, **SMALL)
    model = DanceCVAE(mcfg).eval()
    plain = build_metadata(data, {"steps": 0, "seed": 0}, 4, h, mcfg.window, 8)
    assert "seed_histories" not in plain  # the shipped v2 recipe exports none
    meta = build_metadata(data, {"steps": 0, "seed": 0}, 4, h, mcfg.window, 8, seed_motion=True)
    path = export_onnx(make_wrapper(model, data), tmp_path / "seeded.onnx", meta)
    shipped = seed_histories(data, h)  # the export's default count per style
    with load_engine(path, "cpu", threads=1) as eng:
        assert set(eng.metadata.seed_histories) == set(shipped)
        desc = seed_descriptors(data, h)
        for name in shipped:
            n_desc = len(data.descriptor_names)
            assert eng.metadata.seed_descriptors[name].shape == (len(shipped[name]), n_desc)
            np.testing.assert_allclose(eng.metadata.seed_descriptors[name], desc[name], atol=1e-4)
        name = next(iter(shipped))
        np.testing.assert_allclose(eng.metadata.seed_histories[name], shipped[name], atol=1e-5)
        vec = style_vector(eng.metadata, {name: 1.0})
        picked = seed_history(eng, vec, np.random.default_rng(3))
        assert any(np.allclose(picked, s, atol=1e-5) for s in shipped[name])
        res = generate(eng, frames=60, style=vec, seed=3)
        assert np.isfinite(res.features).all()


def test_config_defaults_are_v2_and_v3_turns_everything_on():
    cfg = TrainConfig()
    assert (cfg.hist_noise, cfg.hist_shift_p, cfg.style_drop, cfg.guidance) == (0, 0, 0, 1.0)
    v3, _, seeds = recipe_config("v3")
    assert seeds
    assert v3.hist_noise > 0 and v3.style_drop > 0 and v3.guidance > 1 and v3.hist_shift_p > 0
    # the v2 recipe draws nothing extra from the generator, so v2 stays bit-reproducible
    rng = np.random.default_rng(5)
    hist = torch.ones(4, 12, 148)
    off = Corruption(cfg.hist_noise, cfg.hist_noise_p, cfg.hist_shift_p, cfg.style_drop)
    assert torch.equal(_corrupt(hist, off, rng), hist)
    assert torch.equal(_drop_style(hist[:, 0], off.style_drop, rng), hist[:, 0])
    assert rng.random() == np.random.default_rng(5).random()


def test_v4_neutral_starts_replace_some_first_histories_only_when_asked():
    hist = torch.randn(400, 12, 148)
    start = torch.full((12, 148), 7.0)
    rng = np.random.default_rng(0)
    out = _neutral_start(hist, Corruption(start_p=0.3, start=start), rng)
    replaced = (out == 7.0).all(dim=(1, 2))
    kept = (out == hist).all(dim=(1, 2))
    assert bool((replaced | kept).all())
    assert 0.2 < replaced.float().mean().item() < 0.4
    # off (v2): the batch is untouched and no random number is drawn
    rng = np.random.default_rng(5)
    assert torch.equal(_neutral_start(hist, Corruption(), rng), hist)
    assert rng.random() == np.random.default_rng(5).random()
    assert recipe_config("v4")[0].start_p > 0 and TrainConfig().start_p == 0


def test_descriptor_drop_keeps_categories_and_clears_the_descriptor_flag():
    n_cat, n_desc = 3, 5
    style = torch.cat([torch.rand(2000, n_cat + n_desc) + 0.1, torch.ones(2000, 2)], dim=-1)
    out = _drop_style(style, 0.15, np.random.default_rng(2), desc_p=0.15, categories=n_cat)
    all_zero = (out == 0).all(dim=1)
    no_desc = ~all_zero & (out[:, n_cat : n_cat + n_desc] == 0).all(dim=1)
    kept = ~all_zero & ~no_desc
    assert 0.11 < all_zero.float().mean().item() < 0.19
    assert 0.11 < no_desc.float().mean().item() < 0.19
    # descriptor-dropped rows: categories and the category flag stay, the descriptor flag goes
    torch.testing.assert_close(out[no_desc, :n_cat], style[no_desc, :n_cat])
    assert bool((out[no_desc, -2] == 1).all()) and bool((out[no_desc, -1] == 0).all())
    assert torch.equal(out[kept], style[kept])
    # without desc_p, the generator gives the same draws as plain style dropout
    plain = _drop_style(style, 0.15, np.random.default_rng(2))
    assert torch.equal(plain[~all_zero], style[~all_zero]) and bool((plain[all_zero] == 0).all())


def test_descriptor_guidance_has_its_own_scale_in_the_graph(data, tmp_path):
    torch.manual_seed(0)
    n_cat = len(data.style_names)
    mcfg = ModelConfig(
        features=148, style=data.style_size, style_flags=True, categories=n_cat, **SMALL
    )
    model = DanceCVAE(mcfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    hist = torch.randn(2, mcfg.history, 148)
    style = torch.from_numpy(data.style_vectors(np.array([40, 40])))
    beat = torch.randn(2, mcfg.window, 2)
    z = torch.randn(2, 8)
    cond = model.condition(style)
    with torch.no_grad():
        same = model.sample_guided(hist, cond, beat, z, 2.0, 2.0)
        # guidance_desc == guidance is plain two-way guidance on the flagged style
        mu, logvar = model.prior(hist, cond, beat)
        lat = mu + torch.exp(0.5 * logvar) * z
        c = model.decode(hist, cond, beat, lat)
        u = model.decode(hist, torch.zeros_like(cond), beat, lat)
        torch.testing.assert_close(same, u + 2.0 * (c - u), atol=1e-5, rtol=1e-5)
        pushed = model.sample_guided(hist, cond, beat, z, 2.0, 4.0)
    assert (pushed - same).abs().max().item() > 1e-4
    assert cond.shape[-1] == data.style_size + 2 and bool((cond[:, -2:] == 1).all())
    wrapper = make_wrapper(model, data, guidance=2.0, guidance_desc=4.0).eval()
    meta = build_metadata(data, {"steps": 0, "seed": 0}, 4, mcfg.history, mcfg.window, 8)
    path = export_onnx(wrapper, tmp_path / "desc.onnx", meta)
    for batch in (1, 3):  # three stacked passes, split without baking the batch in
        assert parity_check(wrapper, path, batch=batch) < 1e-4
