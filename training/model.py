"""The default dance engine's network: an autoregressive conditional VAE over windows.

One step maps the previous ``H`` frames of motion features (``root_heading_v1``), a style vector
``S`` (category weights + continuous descriptors) and per-frame beat features ``(sin, cos)`` of the
next ``W`` frames to those ``W`` frames. A per-window latent ``z`` (``Z`` numbers) carries what the
conditioning leaves open (which step, which arm, how big), which is what keeps it generative: the
decoder cannot lower its loss by averaging over moves, because the encoder tells it which move the
training window made.

- ``encode`` (training only): q(z | history, window, style, beat), a strided 1-D conv net.
- ``decode``: p(window | history, style, beat, z), a 1-D conv net over the ``H + W`` frames
  (history frames embedded from their features, window frames from the context), so the frames
  right after the seam see the frames right before it. It predicts the window in normalised
  feature units as an offset from the last history frame (with ``root_absolute``, the root's
  three velocity channels outright: as offsets they integrate into spins over long runs).
- ``prior``: a learned conditional prior p(z | history, style) (an MLP giving mean and
  log-variance), trained by the KL term, so generation samples the latents the decoder knows.
- :class:`ExportWrapper` is what goes into the ONNX file: raw features in, raw features out (the
  normalisation is baked in), ``z = mu_p + sigma_p * noise[:, 0, :]`` (the runtime's
  standard-normal noise for the window's first frame; the other frames' noise is not read), and
  the output is projected onto valid features (:func:`project_features`).

Only Conv1d, Linear, SiLU, Sigmoid, Exp, Clip, elementwise ops, Concat, Slice, Reshape and
Transpose reach the graph: operators both ONNX Runtime and TensorRT 10 build at opset 17 with
static shapes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = [
    "ModelConfig",
    "DanceCVAE",
    "ExportWrapper",
    "build_model",
    "kl_divergence",
    "project_features",
]


@dataclass
class ModelConfig:
    """Shapes and widths; saved next to the weights so export rebuilds the same network."""

    features: int = 148
    history: int = 12
    window: int = 24
    style: int = 8
    latent: int = 32
    channels: int = 160
    blocks: int = 4
    kernel: int = 5
    hist_hidden: int = 384
    enc_channels: int = 128
    kind: str = "cvae"  # "cvae" (Gaussian latent) or "vq" (codebook, training.model_vq)
    codes: int = 0  # codebook size of the "vq" kind
    # temporal latent (recipe v9+): the encoder keeps the window's time axis (no pooling) and z
    # sets a per-frame offset of the window tokens, so z can say *when* a move happens, not just
    # which; the prior then also sees the beat phase of the window
    temporal: bool = False
    # descriptor guidance (recipe v22+): the style input grows two presence flags (categories,
    # descriptors) so "no descriptor request" is its own input, apart from a slider at 0; the
    # trainer drops the descriptors alone, and the graph guides categories and descriptors with
    # their own scales (DanceCVAE.sample_guided). ``categories`` counts the leading category axes.
    style_flags: bool = False
    categories: int = 0
    # absolute root velocities (recipe v28+): the decoder predicts the window as an offset from
    # the last history frame, which for the three root *velocity* channels (vel_x, vel_z,
    # yaw_rate) makes an integrator: a small bias in each window's offset adds up over a long
    # run, and v11-v23 drift into spins (yaw rate 8-10 rad/s within a minute). With this flag
    # those channels are predicted around the data's mean instead, so a spin has to be asked for
    root_absolute: bool = False

    @property
    def style_in(self) -> int:
        """Width of the network's style input: the style vector, plus the flags when used."""
        return self.style + (2 if self.style_flags else 0)

    def to_dict(self) -> dict:
        return asdict(self)


class _ResBlock(nn.Module):
    """Conv -> FiLM(context) -> SiLU -> Conv, residual. No normalisation layers (export-simple)."""

    def __init__(self, channels: int, kernel: int, ctx: int):
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding=pad)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=pad)
        self.film = nn.Linear(ctx, 2 * channels)
        self.act = nn.SiLU()
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        nn.init.normal_(self.conv2.weight, std=1e-3)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(x))
        scale, shift = self.film(ctx).unsqueeze(-1).chunk(2, dim=1)
        h = h * (1.0 + scale) + shift
        h = self.conv2(self.act(h))
        return x + h


class DanceCVAE(nn.Module):
    """Encoder + decoder; all tensors in normalised feature units (see :class:`ExportWrapper`)."""

    noise_use = "per-window latent z = prior_mean + prior_std * noise[:, 0, :]"

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c, f, h, w = cfg.channels, cfg.features, cfg.history, cfg.window
        ctx = cfg.hist_hidden + cfg.latent + 64
        # decoder
        hh = cfg.hist_hidden
        self.hist_mlp = nn.Sequential(nn.Linear(h * f, hh), nn.SiLU(), nn.Linear(hh, hh))
        self.style_mlp = nn.Sequential(nn.Linear(cfg.style_in, 64), nn.SiLU(), nn.Linear(64, 64))
        self.frame_in = nn.Linear(f, c)
        self.ctx_in = nn.Linear(ctx, c)
        self.beat_in = nn.Linear(2, c)
        self.pos = nn.Parameter(torch.randn(1, c, h + w) * 0.02)
        self.blocks = nn.ModuleList([_ResBlock(c, cfg.kernel, ctx) for _ in range(cfg.blocks)])
        # learned conditional prior p(z | history, style): z = mu + sigma * noise at generation
        prior_in = cfg.hist_hidden + 64 + (4 if cfg.temporal else 0)
        self.prior_head = nn.Sequential(
            nn.Linear(prior_in, 256), nn.SiLU(), nn.Linear(256, 2 * cfg.latent)
        )
        nn.init.zeros_(self.prior_head[2].weight)
        nn.init.zeros_(self.prior_head[2].bias)
        if cfg.temporal:
            self.z_time = nn.Linear(cfg.latent, w * c)
            nn.init.normal_(self.z_time.weight, std=0.02)
        if cfg.root_absolute:
            mask = torch.ones(1, 1, f)
            mask[..., 1:4] = 0.0  # vel_x, vel_z, yaw_rate (root_heading_v1)
            self.register_buffer("residual_mask", mask, persistent=False)
        self.out = nn.Conv1d(c, f, 1)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)
        # encoder (training only)
        e = cfg.enc_channels
        self.enc_in = nn.Conv1d(f + 2, e, 3, padding=1)
        self.enc_convs = nn.Sequential(
            nn.SiLU(),
            nn.Conv1d(e, e, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv1d(e, e, 4, stride=2, padding=1),
            nn.SiLU(),
        )
        enc_out = e * self._enc_steps() if cfg.temporal else e * 2
        self.enc_head = nn.Sequential(
            nn.Linear(enc_out + 64, 256), nn.SiLU(), nn.Linear(256, 2 * cfg.latent)
        )

    def _enc_steps(self) -> int:
        """Time steps left after the encoder's two stride-2 convolutions."""
        n = self.cfg.history + self.cfg.window
        for _ in range(2):
            n = (n + 2 - 4) // 2 + 1
        return n

    # ------------------------------------------------------------------ encoder
    def encode(
        self, hist: torch.Tensor, window: torch.Tensor, style: torch.Tensor, beat: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance ``(B, Z)`` of a training window."""
        seq = torch.cat([hist, window], dim=1)  # (B, H+W, F)
        b = torch.cat([torch.zeros_like(beat[:, :1]).expand(-1, hist.shape[1], -1), beat], dim=1)
        x = torch.cat([seq, b], dim=-1).transpose(1, 2)
        x = self.enc_convs(self.enc_in(x))
        if self.cfg.temporal:
            pooled = x.reshape(x.shape[0], -1)
        else:
            pooled = torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=-1)
        mu, logvar = self.enc_head(torch.cat([pooled, self.style_mlp(style)], dim=-1)).chunk(2, -1)
        return mu, logvar.clamp(-8.0, 4.0)

    # ------------------------------------------------------------------ prior
    def prior(
        self, hist: torch.Tensor, style: torch.Tensor, beat: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditional prior mean and log-variance ``(B, Z)`` given history, style (and beat)."""
        n_b = hist.shape[0]
        hist_ctx = self.hist_mlp(hist.reshape(n_b, self.cfg.history * self.cfg.features))
        parts = [hist_ctx, self.style_mlp(style)]
        if self.cfg.temporal:
            parts.append(torch.cat([beat[:, 0], beat[:, self.cfg.window // 2]], dim=-1))
        mu, logvar = self.prior_head(torch.cat(parts, -1)).chunk(2, -1)
        return mu, logvar.clamp(-8.0, 4.0)

    def condition(self, style: torch.Tensor) -> torch.Tensor:
        """The network's style input ``(B, style_in)`` for a requested style vector ``(B, S)``:
        with ``style_flags``, the vector plus both presence flags set (categories and
        descriptors both requested). The sampling methods take the network's input."""
        if not self.cfg.style_flags:
            return style
        return torch.cat([style, torch.ones_like(style[..., :2])], dim=-1)

    def sample(
        self, hist: torch.Tensor, style: torch.Tensor, beat: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """Generation: z from the conditional prior driven by standard-normal ``noise (B, Z)``."""
        mu, logvar = self.prior(hist, style, beat)
        return self.decode(hist, style, beat, mu + torch.exp(0.5 * logvar) * noise)

    def sample_from_noise(
        self, hist: torch.Tensor, style: torch.Tensor, beat: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """Generation from the contract's ``noise (B, W, Z)``: its first frame drives ``z``."""
        return self.sample(hist, style, beat, noise[:, 0, :])

    def latent_loss(
        self, outputs: tuple[torch.Tensor, ...], beta: float, free_bits: float
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``beta`` x KL(posterior || conditional prior) with free bits; logs the raw KL."""
        mu, logvar, mu_p, logvar_p = outputs
        kl = kl_divergence(mu, logvar, free_bits, mu_p, logvar_p)
        with torch.no_grad():
            raw_kl = kl_divergence(mu, logvar, 0.0, mu_p, logvar_p)
        return beta * kl, {"kl": raw_kl.item()}

    # ------------------------------------------------------------------ decoder
    def decode(
        self, hist: torch.Tensor, style: torch.Tensor, beat: torch.Tensor, z: torch.Tensor
    ) -> torch.Tensor:
        """The next ``W`` frames ``(B, W, F)`` (normalised units)."""
        cfg = self.cfg
        n_b = hist.shape[0]
        hist_ctx = self.hist_mlp(hist.reshape(n_b, cfg.history * cfg.features))
        ctx = torch.cat([hist_ctx, self.style_mlp(style), z], dim=-1)
        hist_tokens = self.frame_in(hist)  # (B, H, C)
        win_tokens = self.ctx_in(ctx).unsqueeze(1) + self.beat_in(beat)  # (B, W, C)
        if cfg.temporal:
            win_tokens = win_tokens + self.z_time(z).reshape(n_b, cfg.window, cfg.channels)
        x = torch.cat([hist_tokens, win_tokens], dim=1).transpose(1, 2) + self.pos
        for blk in self.blocks:
            x = blk(x, ctx)
        delta = self.out(x[:, :, cfg.history :]).transpose(1, 2)
        if cfg.root_absolute:
            return hist[:, -1:, :] * self.residual_mask + delta
        return hist[:, -1:, :] + delta

    def sample_guided(
        self,
        hist: torch.Tensor,
        style: torch.Tensor,
        beat: torch.Tensor,
        noise: torch.Tensor,
        guidance: float,
        guidance_desc: float | None = None,
    ) -> torch.Tensor:
        """Classifier-free guidance in one batched decoder pass: ``u + g * (c - u)``.

        ``c`` decodes with the requested style, ``u`` with the all-zero "unconditional" style the
        trainer drops to; both share the latent drawn from the conditional prior. With
        ``style_flags`` a third pass ``d`` decodes the categories without the descriptors, and the
        result is ``u + g * (d - u) + g_desc * (c - d)``: the descriptor sliders get their own
        push (``guidance_desc``, default ``guidance``, which gives back ``u + g * (c - u)``). The
        passes are stacked on the batch axis and split with a constant-shaped reshape so the
        exported graph keeps a dynamic batch.
        """
        cfg = self.cfg
        mu, logvar = self.prior(hist, style, beat)
        z = mu + torch.exp(0.5 * logvar) * noise
        n = 3 if cfg.style_flags else 2
        # ops in the order v11 was exported with, so its graph re-exports byte for byte
        hists = torch.cat([hist] * n, dim=0)
        styles = [style, torch.zeros_like(style)]
        if cfg.style_flags:
            keep = torch.ones(cfg.style_in)
            keep[cfg.categories : cfg.style] = 0.0  # descriptor values
            keep[-1] = 0.0  # descriptor presence flag
            styles.append(style * keep)
        out = self.decode(
            hists,
            torch.cat(styles, dim=0),
            torch.cat([beat] * n, dim=0),
            torch.cat([z] * n, dim=0),
        ).reshape(n, -1, cfg.window, cfg.features)
        c, u = out[0], out[1]
        if n == 2:
            return u + guidance * (c - u)
        g_desc = guidance if guidance_desc is None else guidance_desc
        d = out[2]
        return u + guidance * (d - u) + g_desc * (c - d)

    def forward(
        self,
        hist: torch.Tensor,
        window: torch.Tensor,
        style: torch.Tensor,
        beat: torch.Tensor,
        hist_in: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Training pass: reconstruction (B, W, F), posterior and prior (mean, log-variance).

        ``hist`` (clean) feeds the encoder; ``hist_in`` (the corrupted history, default ``hist``)
        feeds the prior and the decoder, so the decoder cannot just continue its input and has to
        read style, beat and ``z``.
        """
        if hist_in is None:
            hist_in = hist
        mu, logvar = self.encode(hist, window, style, beat)
        mu_p, logvar_p = self.prior(hist_in, style, beat)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(hist_in, style, beat, z), mu, logvar, mu_p, logvar_p


def build_model(cfg: ModelConfig) -> DanceCVAE:
    """The network of ``cfg.kind`` (weights files record the kind in their config)."""
    if cfg.kind == "vq":
        from training.model_vq import DanceVQ

        return DanceVQ(cfg)
    if cfg.kind != "cvae":
        raise ValueError(f"unknown model kind {cfg.kind!r}")
    return DanceCVAE(cfg)


def kl_divergence(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    free_bits: float,
    mu_p: torch.Tensor | None = None,
    logvar_p: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL(q || p) per sample summed over dims, each dim floored at ``free_bits`` nats.

    ``p`` is N(mu_p, exp(logvar_p)) (the learned conditional prior), N(0, I) when not given. The
    floor is applied to the batch mean of each dimension, so dims below it get no gradient
    (they are free to carry information) -- the usual guard against posterior collapse.
    """
    if mu_p is None:
        mu_p = torch.zeros_like(mu)
    if logvar_p is None:
        logvar_p = torch.zeros_like(logvar)
    kl = 0.5 * (
        logvar_p - logvar + (logvar.exp() + (mu - mu_p).pow(2)) / logvar_p.exp() - 1.0
    )  # (B, Z)
    per_dim = kl.mean(dim=0)
    return torch.clamp(per_dim, min=free_bits).sum()


def project_features(
    raw: torch.Tensor, root_lo: torch.Tensor, root_hi: torch.Tensor
) -> torch.Tensor:
    """Put raw features ``(B, W, F)`` back on the set real motion lives on.

    Each joint's 6D pair is re-orthonormalised (Gram-Schmidt: unit first column, unit second
    column orthogonal to it) and the 4 root channels are clamped to the training data's range.
    Fed back as history over thousands of windows, unprojected outputs let small errors in the
    6D magnitudes compound until they overflow; projected outputs stay bounded by construction.
    """
    n_b, n_w, n_f = raw.shape[0], raw.shape[1], raw.shape[2]
    root = torch.minimum(torch.maximum(raw[..., :4], root_lo), root_hi)
    rot = raw[..., 4:].reshape(n_b, n_w, (n_f - 4) // 6, 6)
    a1, a2 = rot[..., 0:3], rot[..., 3:6]
    b1 = a1 / torch.sqrt((a1 * a1).sum(-1, keepdim=True) + 1e-8)
    a2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = a2 / torch.sqrt((a2 * a2).sum(-1, keepdim=True) + 1e-8)
    rot6 = torch.cat([b1, b2], dim=-1).reshape(n_b, n_w, n_f - 4)
    return torch.cat([root, rot6], dim=-1)


class ExportWrapper(nn.Module):
    """The contract's graph: (history, style, noise, beat) raw -> motion raw.

    ``mean``/``std`` are the training set's per-channel feature statistics, baked in as constants;
    ``root_lo``/``root_hi`` the range of the root channels (see :func:`project_features`);
    ``guidance`` != 1 bakes classifier-free guidance into the graph
    (:meth:`DanceCVAE.sample_guided`; ``guidance_desc`` the descriptors' own scale for networks
    with style flags). ``hist_lo``/``hist_hi`` (all channels, raw units) clamp the
    history the network reads to the range it was trained on: channels the data barely moves
    (the hands) otherwise random-walk window after window, and once they leave the data's range
    the network's output runs away (minutes into a long run).
    """

    def __init__(
        self,
        model: DanceCVAE,
        mean: torch.Tensor,
        std: torch.Tensor,
        root_lo: torch.Tensor | None = None,
        root_hi: torch.Tensor | None = None,
        guidance: float = 1.0,
        hist_lo: torch.Tensor | None = None,
        hist_hi: torch.Tensor | None = None,
        guidance_desc: float | None = None,
    ):
        super().__init__()
        self.model = model
        self.guidance_desc = None if guidance_desc is None else float(guidance_desc)
        self.clamp_history = hist_lo is not None and hist_hi is not None
        if self.clamp_history:
            self.register_buffer("hist_lo", torch.as_tensor(hist_lo).reshape(1, 1, -1).float())
            self.register_buffer("hist_hi", torch.as_tensor(hist_hi).reshape(1, 1, -1).float())
        self.guidance = float(guidance)
        self.register_buffer("mean", mean.reshape(1, 1, -1).float())
        self.register_buffer("std", std.reshape(1, 1, -1).float())
        if root_lo is None:
            root_lo = self.mean[0, 0, :4] - 6.0 * self.std[0, 0, :4]
        if root_hi is None:
            root_hi = self.mean[0, 0, :4] + 6.0 * self.std[0, 0, :4]
        self.register_buffer("root_lo", torch.as_tensor(root_lo).reshape(1, 1, 4).float())
        self.register_buffer("root_hi", torch.as_tensor(root_hi).reshape(1, 1, 4).float())

    def forward(
        self, history: torch.Tensor, style: torch.Tensor, noise: torch.Tensor, beat: torch.Tensor
    ) -> torch.Tensor:
        if self.clamp_history:
            history = torch.minimum(torch.maximum(history, self.hist_lo), self.hist_hi)
        hist_n = (history - self.mean) / self.std
        style = self.model.condition(style)
        if self.guidance == 1.0 and self.guidance_desc in (None, 1.0):
            out_n = self.model.sample_from_noise(hist_n, style, beat, noise)
        else:
            out_n = self.model.sample_guided(
                hist_n, style, beat, noise[:, 0, :], self.guidance, self.guidance_desc
            )
        return project_features(out_n * self.std + self.mean, self.root_lo, self.root_hi)
