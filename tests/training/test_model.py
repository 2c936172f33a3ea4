"""The dance network, its differentiable FK and the training loop, on small real tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dance_ai_addon.core.engines.features import decode_features  # noqa: E402
from dance_ai_addon.core.rotations import sixd_to_matrix as np_sixd_to_matrix  # noqa: E402
from dance_ai_addon.core.skeleton import forward_kinematics, smpl24_skeleton  # noqa: E402
from tests.training.synthetic import synthetic_dataset  # noqa: E402
from training.fk_torch import SkeletonFK, sixd_to_matrix  # noqa: E402
from training.model import (  # noqa: E402
    DanceCVAE,
    ExportWrapper,
    ModelConfig,
    kl_divergence,
    project_features,
)
from training.train import (  # noqa: E402
    Batcher,
    TrainConfig,
    initial_history,
    load_training_data,
    load_weights,
    save_weights,
    sequence_starts,
    train,
)

SMALL = dict(channels=32, blocks=2, hist_hidden=64, enc_channels=32, latent=8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return synthetic_dataset(tmp_path_factory.mktemp("data") / "dataset.npz")


@pytest.fixture(scope="module")
def data(dataset):
    return load_training_data(dataset)


def test_sixd_matches_core():
    rng = np.random.default_rng(1)
    d = rng.normal(size=(50, 6))
    ours = sixd_to_matrix(torch.from_numpy(d)).numpy()
    np.testing.assert_allclose(ours, np_sixd_to_matrix(d), atol=1e-10)


def test_fk_matches_core_decode_and_fk(data):
    """Torch FK of features == core decode_features + forward_kinematics (positions in m)."""
    skel = smpl24_skeleton()
    feats = data.features[:90].astype(np.float64)
    clip = decode_features(feats, skel, 30.0)
    ref, _ = forward_kinematics(skel, clip.rotations, clip.root_positions)
    fk = SkeletonFK(skel).double()
    world = fk.world_positions(torch.from_numpy(feats)).numpy()
    np.testing.assert_allclose(world, ref, atol=1e-6)
    local = fk.local_positions(torch.from_numpy(feats)).numpy()
    # the local pose is the world pose seen from the pelvis's heading frame: same heights,
    # same joint-to-joint distances
    np.testing.assert_allclose(local[..., 1], ref[..., 1], atol=1e-6)
    np.testing.assert_allclose(
        np.linalg.norm(local[:, 15] - local[:, 7], axis=-1),
        np.linalg.norm(ref[:, 15] - ref[:, 7], axis=-1),
        atol=1e-6,
    )


def test_fk_has_gradients():
    fk = SkeletonFK(smpl24_skeleton())
    f = torch.randn(2, 5, 148, requires_grad=True)
    fk.world_positions(f).square().sum().backward()
    assert f.grad is not None and torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0


def test_decoder_shapes_and_latent_matters():
    torch.manual_seed(0)
    cfg = ModelConfig(style=8, **SMALL)
    model = DanceCVAE(cfg)
    for p in model.out.parameters():  # make the output layer non-trivial
        torch.nn.init.normal_(p, std=0.1)
    hist = torch.randn(3, cfg.history, cfg.features)
    style, beat = torch.rand(3, cfg.style), torch.randn(3, cfg.window, 2)
    z1, z2 = torch.randn(3, cfg.latent), torch.randn(3, cfg.latent)
    with torch.no_grad():
        a = model.decode(hist, style, beat, z1)
        b = model.decode(hist, style, beat, z2)
        win = torch.randn(3, cfg.window, cfg.features)
        mu, logvar = model.encode(hist, win, style, beat)
    assert a.shape == (3, cfg.window, cfg.features)
    assert mu.shape == logvar.shape == (3, cfg.latent)
    assert (a - b).abs().max() > 1e-4  # the latent changes the motion: it is generative


def test_export_wrapper_bakes_normalisation():
    torch.manual_seed(0)
    cfg = ModelConfig(style=8, **SMALL)
    model = DanceCVAE(cfg).eval()
    mean, std = torch.randn(cfg.features), torch.rand(cfg.features) + 0.5
    wrap = ExportWrapper(model, mean, std)
    hist = torch.randn(2, cfg.history, cfg.features)
    style, noise, beat = (
        torch.rand(2, 8),
        torch.randn(2, cfg.window, cfg.latent),
        torch.randn(2, cfg.window, 2),
    )
    with torch.no_grad():
        raw = wrap(hist, style, noise, beat)
        hist_n = (hist - mean) / std
        mu_p, logvar_p = model.prior(hist_n, style)
        z = mu_p + torch.exp(0.5 * logvar_p) * noise[:, 0]
        ref = model.decode(hist_n, style, beat, z) * std + mean
    torch.testing.assert_close(raw, project_features(ref, wrap.root_lo, wrap.root_hi))


def test_export_wrapper_keeps_the_history_inside_the_training_range():
    """A history that drifted past the trained range reads as the range's edge, so the network
    never sees inputs it was not trained on; inside the range nothing changes."""
    torch.manual_seed(0)
    cfg = ModelConfig(style=8, **SMALL)
    model = DanceCVAE(cfg).eval()
    mean, std = torch.zeros(cfg.features), torch.ones(cfg.features)
    lo, hi = -torch.ones(cfg.features), torch.ones(cfg.features)
    wrap = ExportWrapper(model, mean, std, hist_lo=lo, hist_hi=hi)
    plain = ExportWrapper(model, mean, std)
    inside = torch.rand(1, cfg.history, cfg.features) * 1.8 - 0.9
    drifted = inside.clone()
    drifted[..., 100:] = 5.0  # e.g. hand channels that random-walked away
    args = (torch.rand(1, 8), torch.randn(1, cfg.window, cfg.latent), torch.randn(1, cfg.window, 2))
    with torch.no_grad():
        torch.testing.assert_close(wrap(inside, *args), plain(inside, *args))
        edge = drifted.clone()
        edge[..., 100:] = 1.0
        torch.testing.assert_close(wrap(drifted, *args), plain(edge, *args))
        assert (wrap(drifted, *args) - plain(drifted, *args)).abs().max() > 1e-3


def test_projection_gives_valid_bounded_features():
    """Whatever the network emits, the exported output is a valid feature frame."""
    raw = torch.randn(2, 5, 148) * 50.0
    lo, hi = torch.tensor([0.5, -0.1, -0.1, -0.3]), torch.tensor([1.2, 0.1, 0.1, 0.3])
    out = project_features(raw, lo.view(1, 1, 4), hi.view(1, 1, 4))
    assert torch.all(out[..., :4] >= lo) and torch.all(out[..., :4] <= hi)
    six = out[..., 4:].reshape(2, 5, 24, 6)
    b1, b2 = six[..., :3], six[..., 3:]
    torch.testing.assert_close(b1.norm(dim=-1), torch.ones(2, 5, 24))
    torch.testing.assert_close(b2.norm(dim=-1), torch.ones(2, 5, 24))
    assert (b1 * b2).sum(-1).abs().max() < 1e-5
    # valid features pass through unchanged
    again = project_features(out, lo.view(1, 1, 4), hi.view(1, 1, 4))
    torch.testing.assert_close(again, out)


def test_kl_free_bits_floor():
    mu = torch.zeros(4, 3, requires_grad=True)
    logvar = torch.zeros(4, 3, requires_grad=True)
    kl = kl_divergence(mu, logvar, free_bits=0.5)
    assert kl.item() == pytest.approx(1.5)  # three dims at the floor
    kl.backward()
    assert mu.grad.abs().sum() == 0  # below the floor: no pressure towards the prior
    mu2 = torch.full((4, 3), 3.0)
    assert kl_divergence(mu2, torch.zeros(4, 3), 0.5).item() == pytest.approx(13.5)
    # against the learned prior: zero when q == p, and the closed form for different variances
    lv = torch.randn(4, 3)
    assert kl_divergence(mu2, lv, 0.0, mu2, lv).item() == pytest.approx(0.0, abs=1e-6)
    got = kl_divergence(
        torch.zeros(1, 1),
        torch.zeros(1, 1),
        0.0,
        torch.ones(1, 1),
        torch.full((1, 1), float(np.log(4.0))),
    )
    want = 0.5 * (np.log(4.0) + (1.0 + 1.0) / 4.0 - 1.0)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_sequences_stay_inside_one_take_and_split(data):
    starts = sequence_starts(data, 76, train=True)
    assert starts.size > 0
    ends = starts + 75
    assert np.all(data.take_id[starts] == data.take_id[ends])
    assert np.all(data.frame_split[starts])
    held = sequence_starts(data, 76, train=False)
    assert not np.intersect1d(data.take_id[starts], data.take_id[held]).size


def test_batcher_style_vectors(data):
    mcfg = ModelConfig(features=148, style=data.style_size, **SMALL)
    b = Batcher(data, mcfg, TrainConfig(), train=True)
    batch = b.sample(np.random.default_rng(0), 8)
    assert batch["x"].shape == (8, b.length, 148)
    assert batch["style"].shape == (8, 3, data.style_size)
    onehot = batch["style"][..., : len(data.style_names)]
    assert torch.all(onehot.sum(-1) == 1)
    assert torch.allclose(batch["beat"].norm(dim=-1), torch.ones(8, b.length), atol=1e-5)


def test_initial_history_is_real_contiguous_motion(data):
    h = initial_history(data, 12)
    assert h.shape == (12, 148)
    # it is a run of 12 consecutive frames of one training take
    idx = np.flatnonzero(np.all(np.isclose(data.features, h[0].astype(np.float32)), axis=1))
    assert idx.size >= 1
    i = idx[0]
    np.testing.assert_allclose(data.features[i : i + 12], h, atol=1e-6)
    assert data.frame_split[i] and data.take_id[i] == data.take_id[i + 11]


@pytest.mark.slow
def test_training_reduces_loss_and_is_reproducible(data, tmp_path):
    """A short run learns (training losses drop), and the seed fixes the result."""
    mcfg = ModelConfig(features=148, style=data.style_size, **SMALL)
    cfg = TrainConfig(steps=60, epoch_steps=20, batch=16, own_max=0.0)
    model, rows = train(data, mcfg, cfg, tmp_path / "log.csv", verbose=False)
    assert len(rows) == 3
    assert rows[-1]["pos"] < rows[0]["pos"]
    assert "val_rec" in rows[-1]  # held-out windows are scored every epoch
    text = (tmp_path / "log.csv").read_text().splitlines()
    assert text[0].startswith("epoch,step,") and len(text) == 4
    model2, _ = train(data, mcfg, cfg, None, verbose=False)
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    # weights round-trip through a pickle-free npz
    save_weights(tmp_path / "w.npz", model, data.mean, data.std)
    loaded, mean, std = load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(mean, data.mean)
    hist = torch.randn(2, mcfg.history, 148)
    style, beat, z = torch.rand(2, data.style_size), torch.randn(2, 24, 2), torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(
            model.decode(hist, style, beat, z), loaded.decode(hist, style, beat, z)
        )


def test_speed_loss_wants_the_data_speed_not_the_data_direction():
    """The joint-speed term is zero for a mirrored move at the right speed, not for a slow one."""
    from training.train import SPEED_EPS, _window_speed

    t = torch.linspace(0.0, 1.0, 25).view(1, 25, 1, 1)
    move = torch.cat([t * 0.6, torch.zeros_like(t), torch.zeros_like(t)], dim=-1)  # 2.5 cm/frame
    target = move.expand(2, 25, 3, 3)

    def loss(pred):
        a = torch.log(_window_speed(pred) + SPEED_EPS)
        return (a - torch.log(_window_speed(target) + SPEED_EPS)).pow(2).mean().item()

    assert loss(-target) == pytest.approx(0.0, abs=1e-9)  # other direction, same speed
    assert loss(0.5 * target) > 0.2  # the averaged, half-speed move is what it punishes
    assert loss(torch.zeros_like(target)) > loss(0.5 * target)


def test_temporal_latent_moves_single_frames_and_the_encoder_sees_order():
    """With ``temporal``, z shifts window frames differently, and the encoder tells a window from
    its time-reversed copy (mean/max pooling over time could not)."""
    torch.manual_seed(0)
    cfg = ModelConfig(style=8, temporal=True, **SMALL)
    model = DanceCVAE(cfg).eval()
    for p in model.out.parameters():
        torch.nn.init.normal_(p, std=0.1)
    hist = torch.randn(2, cfg.history, cfg.features)
    style, beat = torch.rand(2, 8), torch.randn(2, cfg.window, 2)
    z = torch.randn(2, cfg.latent)
    with torch.no_grad():
        base = model.decode(hist, style, beat, z)
        moved = model.decode(hist, style, beat, z + torch.randn_like(z))
        per_frame = (moved - base).abs().mean(dim=(0, 2))
        assert per_frame.std() > 0.05 * per_frame.mean()  # not one offset for the whole window
        win = torch.randn(2, cfg.window, cfg.features)
        fwd, _ = model.encode(hist, win, style, beat)
        rev, _ = model.encode(hist, win.flip(1), style, beat.flip(1))
        assert (fwd - rev).abs().max() > 1e-4
    # the prior reads the beat phase of the window (its last layer starts at zero: wake it up)
    torch.nn.init.normal_(model.prior_head[2].weight, std=0.1)
    with torch.no_grad():
        mu_a, _ = model.prior(hist, style, beat)
        mu_b, _ = model.prior(hist, style, -beat)
    assert (mu_a - mu_b).abs().max() > 1e-4


def test_beat_modulation_is_negative_on_beat_and_flips_off_beat():
    """Speed minima on the beat give a negative cos component; half a beat later, a positive one."""
    from training.train import _beat_modulation

    frames, period = 48, 16
    t = torch.arange(frames + 1, dtype=torch.float64)
    phase = (t[1:] / period) % 1.0
    beat = torch.stack([torch.sin(2 * torch.pi * phase), torch.cos(2 * torch.pi * phase)], -1)

    def walk(shift: float) -> torch.Tensor:
        # x advances fastest half a beat after `shift`: speed 1 - cos(2 pi (t/period - shift))
        speed = 1.0 - torch.cos(2 * torch.pi * (t / period - shift)) + 0.1
        x = torch.cumsum(speed, 0)
        pos = torch.zeros(1, frames + 1, 2, 3, dtype=torch.float64)
        pos[0, :, :, 0] = x.view(-1, 1)
        return pos

    on, off = _beat_modulation(walk(0.0), beat[None]), _beat_modulation(walk(0.5), beat[None])
    assert on[0, 1] < -0.3 and off[0, 1] > 0.3
    assert abs(on[0, 0]) < 0.1


def test_rollout_with_a_history_longer_than_the_step_and_beat_sync(data):
    """A 24-frame history (longer than the 20-frame step) rolls out on own predictions, and the
    beat-sync term is computed and logged."""
    mcfg = ModelConfig(features=148, style=data.style_size, history=24, temporal=True, **SMALL)
    cfg = TrainConfig(
        steps=4, epoch_steps=2, batch=8, own_start=0.0, own_end=0.0, own_max=1.0, w_beat=10.0
    )
    _, rows = train(data, mcfg, cfg, None, verbose=False)
    assert rows and rows[-1]["beat"] > 0.0 and np.isfinite(rows[-1]["loss"])


def test_energy_gap_wants_the_target_amount_of_motion_not_jitter(data):
    """Zero for the target itself, large for a frozen window, small for frame-to-frame trembling
    of the right pose (the 4-frame steps average it out); and training logs the term."""
    from training.train import Losses, _contact_heights

    fk = SkeletonFK(smpl24_skeleton())
    losses = Losses(TrainConfig(), fk, data.mean, data.std, _contact_heights(data, fk))
    xn = (data.features[:40] - data.mean) / data.std
    hist = torch.from_numpy(xn[None, :12].astype(np.float32))
    target = torch.from_numpy(xn[None, 12:36].astype(np.float32))
    frozen = hist[:, -1:].expand_as(target)
    tremble = target + 0.02 * torch.tensor([1.0, -1.0]).repeat(12).view(1, 24, 1)
    assert losses.energy_gap(target, target, hist).item() == pytest.approx(0.0, abs=1e-9)
    assert losses.energy_gap(frozen, target, hist).item() > 0.3
    assert losses.energy_gap(tremble, target, hist).item() < 0.05
    mcfg = ModelConfig(features=148, style=data.style_size, temporal=True, **SMALL)
    cfg = TrainConfig(steps=2, epoch_steps=2, batch=8, w_energy=2.0)
    _, rows = train(data, mcfg, cfg, None, verbose=False)
    assert rows[-1]["energy"] > 0.0 and np.isfinite(rows[-1]["loss"])


def test_upper_body_energy_ignores_the_legs(data):
    """With energy_upper_body, motion of the legs alone (the feet sliding) does not count."""
    from training.train import UPPER_BODY, Losses, _contact_heights

    fk = SkeletonFK(smpl24_skeleton())
    legs = [i for i in range(24) if i not in UPPER_BODY]
    assert legs == [1, 2, 4, 5, 7, 8, 10, 11]
    cfg = TrainConfig(energy_upper_body=True)
    losses = Losses(cfg, fk, data.mean, data.std, _contact_heights(data, fk))
    whole = Losses(TrainConfig(), fk, data.mean, data.std, _contact_heights(data, fk))
    xn = (data.features[:40] - data.mean) / data.std
    hist = torch.from_numpy(xn[None, :12].astype(np.float32))
    target = torch.from_numpy(xn[None, 12:36].astype(np.float32))
    # swing the left knee's rotation channels only: leg motion, upper body unchanged
    kicking = target.clone()
    knee = 4 + 6 * 4
    kicking[0, :, knee : knee + 6] += 3.0 * torch.sin(torch.arange(24.0)).view(24, 1)
    assert losses.energy_gap(kicking, target, hist).item() == pytest.approx(0.0, abs=1e-9)
    assert whole.energy_gap(kicking, target, hist).item() > 1e-4


def test_absolute_root_velocities_do_not_integrate_the_history():
    """With ``root_absolute`` the velocity channels ignore the last history frame's value (a
    spin in the history is not carried into the window for free); pose channels still do."""
    torch.manual_seed(0)
    cfg = ModelConfig(style=8, temporal=True, root_absolute=True, **SMALL)
    model = DanceCVAE(cfg)
    hist = torch.randn(2, cfg.history, cfg.features)
    style, beat, z = torch.rand(2, cfg.style), torch.randn(2, cfg.window, 2), torch.zeros(2, 8)
    shifted = hist.clone()
    shifted[:, -1, :] += 5.0  # only the last frame moves; the output layer starts near zero
    with torch.no_grad():
        a = model.decode(hist, style, beat, z)
        b = model.decode(shifted, style, beat, z)
    step = (b - a).mean(dim=(0, 1))
    assert torch.allclose(step[1:4], torch.zeros(3), atol=0.05)  # vel_x, vel_z, yaw_rate
    assert torch.allclose(step[0], torch.tensor(5.0), atol=0.05)  # root height: residual
    assert torch.allclose(step[4:], torch.full_like(step[4:], 5.0), atol=0.05)  # rotations
    plain = DanceCVAE(ModelConfig(style=8, temporal=True, **SMALL))
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        moved = plain.decode(shifted, style, beat, z) - plain.decode(hist, style, beat, z)
    assert moved.mean(dim=(0, 1))[1:4].min() > 4.9  # without it, velocities carry over
