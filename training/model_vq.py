"""The VQ variant of the dance network: a codebook of moves and a categorical prior over it.

Why: the continuous CVAE (:class:`training.model.DanceCVAE`) reconstructs well from its
encoder's latent, but its Gaussian prior never matches that posterior closely (KL ~40 nats at
the end of training), so at generation time the decoder is fed latents it was not trained on
and answers with the average of what they could mean: slow, style-less, seed-independent motion.
Here each window's latent is one of ``K`` learned code vectors (vector quantisation, EMA
codebook, dead codes restarted from live encodings) and the prior is a classifier
``p(code | history, style, beat)`` trained with cross-entropy on the codes the encoder actually
picked. A categorical prior fitted that way has no holes: every sampled code is a move the
decoder has reconstructed, and which moves are likely is what the style input selects.

Generation in the graph is Gumbel-max sampling driven by the contract's standard-normal noise:
the first ``K`` numbers of the window's noise (flattened) become uniforms through the normal CDF
(``Erf``), then Gumbel variates, added to the prior's logits; ``ArgMax`` picks the code and a
``Gather`` reads its vector. The runtime's noise scale therefore acts as a sampling temperature
knob (0 = always the most likely move, 1 = exact sampling from the prior).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from training.model import DanceCVAE, ModelConfig

__all__ = ["DanceVQ", "gumbel_from_normal"]

COMMIT_WEIGHT = 0.25
PRIOR_WEIGHT = 0.1
EMA_DECAY = 0.99
DEAD_CODE_SHARE = 0.1  # a code used less than this share of the average use is restarted


def gumbel_from_normal(noise: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel variates from standard-normal ones (normal CDF, then -log(-log u))."""
    u = 0.5 * (1.0 + torch.erf(noise * (1.0 / math.sqrt(2.0))))
    u = torch.clamp(u, 1e-6, 1.0 - 1e-6)
    return -torch.log(-torch.log(u))


class DanceVQ(DanceCVAE):
    """Encoder and decoder of :class:`DanceCVAE`; a codebook instead of the Gaussian latent.

    ``cfg.latent`` is the code vector size, ``cfg.codes`` the codebook size ``K`` (at most
    ``window * latent``, the noise numbers one window gets).
    """

    noise_use = (
        "categorical move code per window: Gumbel-max over the prior's logits with Gumbel "
        "variates from the first `codes` numbers of noise[b] flattened (normal CDF, -log(-log u))"
    )

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        if not 2 <= cfg.codes <= cfg.window * cfg.latent:
            raise ValueError(f"codes must be in 2..{cfg.window * cfg.latent}, got {cfg.codes}")
        k, z = cfg.codes, cfg.latent
        del self.prior_head
        g = torch.Generator().manual_seed(0)
        self.register_buffer("codebook", torch.randn(k, z, generator=g) * 0.5)
        self.register_buffer("ema_count", torch.zeros(k))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("started", torch.zeros(()))
        # the prior has its own history and style embeddings: its cross-entropy gradient must not
        # pull on the decoder's features (and the decoder's losses not on the prior's)
        hh = cfg.hist_hidden
        self.prior_hist = nn.Sequential(
            nn.Linear(cfg.history * cfg.features, hh), nn.SiLU(), nn.Linear(hh, hh), nn.SiLU()
        )
        self.prior_logits = nn.Sequential(
            nn.Linear(hh + cfg.style + 4, 512), nn.SiLU(), nn.Linear(512, k)
        )
        nn.init.zeros_(self.prior_logits[2].weight)
        nn.init.zeros_(self.prior_logits[2].bias)

    # ------------------------------------------------------------------ prior
    def prior_logits_of(
        self, hist: torch.Tensor, style: torch.Tensor, beat: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``(B, K)`` of the next window's code; beat = phase at its first and mid frame."""
        cfg = self.cfg
        h = self.prior_hist(hist.reshape(hist.shape[0], cfg.history * cfg.features))
        b = torch.cat([beat[:, 0], beat[:, cfg.window // 2]], dim=-1)
        return self.prior_logits(torch.cat([h, style, b], dim=-1))

    def sample_from_noise(
        self, hist: torch.Tensor, style: torch.Tensor, beat: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """Generation: Gumbel-max code choice from the window's ``noise (B, W, Z)``."""
        cfg = self.cfg
        logits = self.prior_logits_of(hist, style, beat)
        flat = noise.reshape(noise.shape[0], cfg.window * cfg.latent)[:, : cfg.codes]
        idx = torch.argmax(logits + gumbel_from_normal(flat), dim=-1)
        return self.decode(hist, style, beat, self.codebook[idx])

    # ------------------------------------------------------------------ quantiser
    def quantise(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest code index ``(B,)`` and the straight-through quantised vectors ``(B, Z)``."""
        d = (
            e.pow(2).sum(-1, keepdim=True)
            - 2.0 * e @ self.codebook.t()
            + self.codebook.pow(2).sum(-1)[None, :]
        )
        idx = torch.argmin(d, dim=-1)
        q = self.codebook[idx]
        return idx, e + (q - e).detach()

    @torch.no_grad()
    def _start_codebook(self, e: torch.Tensor) -> None:
        """First training batch: codes = its encodings (jittered), each at the average use."""
        k = self.cfg.codes
        pick = torch.randint(0, e.shape[0], (k,))
        jitter = 0.05 * e.std() * torch.randn(k, e.shape[1])
        self.codebook.copy_(e[pick] + jitter)
        self.ema_count.fill_(e.shape[0] / k)
        self.ema_sum.copy_(self.codebook * self.ema_count[:, None])
        self.started.fill_(1.0)

    @torch.no_grad()
    def _ema_update(self, e: torch.Tensor, idx: torch.Tensor) -> None:
        onehot = torch.zeros(e.shape[0], self.cfg.codes).scatter_(1, idx[:, None], 1.0)
        self.ema_count.mul_(EMA_DECAY).add_(onehot.sum(0), alpha=1.0 - EMA_DECAY)
        self.ema_sum.mul_(EMA_DECAY).add_(onehot.t() @ e, alpha=1.0 - EMA_DECAY)
        n = self.ema_count.sum()
        count = (self.ema_count + 1e-5) / (n + self.cfg.codes * 1e-5) * n  # Laplace smoothing
        self.codebook.copy_(self.ema_sum / count[:, None])
        average = e.shape[0] / self.cfg.codes
        dead = torch.nonzero(self.ema_count < DEAD_CODE_SHARE * average).flatten()
        if dead.numel():
            pick = torch.randint(0, e.shape[0], (dead.numel(),))
            self.codebook[dead] = e[pick]
            self.ema_count[dead] = average
            self.ema_sum[dead] = e[pick] * average

    # ------------------------------------------------------------------ training
    def forward(
        self,
        hist: torch.Tensor,
        window: torch.Tensor,
        style: torch.Tensor,
        beat: torch.Tensor,
        hist_in: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Training pass: reconstruction, encoder output, its quantised code, prior logits."""
        if hist_in is None:
            hist_in = hist
        e, _ = self.encode(hist, window, style, beat)
        if self.training and not bool(self.started):
            self._start_codebook(e.detach())
        idx, q = self.quantise(e)
        if self.training:
            self._ema_update(e.detach(), idx)
        logits = self.prior_logits_of(hist_in.detach(), style, beat)
        return self.decode(hist_in, style, beat, q), e, idx, logits

    def latent_loss(
        self, outputs: tuple[torch.Tensor, ...], beta: float, free_bits: float
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Commitment of the encoder to its code plus the prior's cross-entropy on that code."""
        e, idx, logits = outputs
        commit = (e - self.codebook[idx].detach()).pow(2).sum(-1).mean()
        ce = nn.functional.cross_entropy(logits, idx)
        with torch.no_grad():
            acc = (logits.argmax(-1) == idx).float().mean()
            use = torch.bincount(idx, minlength=self.cfg.codes).float()
            p = use / use.sum()
            perplexity = torch.exp(-(p * torch.log(p + 1e-10)).sum())
        parts = {
            "commit": commit.item(),
            "prior_ce": ce.item(),
            "prior_acc": acc.item(),
            "perplexity": perplexity.item(),
        }
        return COMMIT_WEIGHT * commit + PRIOR_WEIGHT * ce, parts
