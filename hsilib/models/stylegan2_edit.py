"""Reading a trained StyleGAN2 generator without labels: SeFa directions and inversion.

Two tools for :class:`hsilib.models.stylegan2.Generator` (notebook 03, the StyleGAN2-ADA part):

- :func:`sefa_directions` (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs",
  CVPR 2021): the top eigenvectors of ``A^T A`` for the style-modulation weights ``A`` of the first
  layer(s) are the directions in W that change those layers' styles most; :func:`w_spread` gives
  the unit of a move along them and :func:`traverse` renders the moves;
- :func:`project`: optimisation-based inversion of real images into W or W+, scored with
  :func:`reconstruction_errors` (per-band RMSE and spectral angle)::

    directions, eigenvalues = sefa_directions(G, k=5)
    images = traverse(G, w, directions[0], alphas=[-2, 0, 2])     # A x B x C x S x S
    inverted = project(G, targets, steps=200, space="w+")
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .stylegan2 import Generator


# --------------------------------------------------------------------------------------------
# SeFa: closed-form latent directions
# --------------------------------------------------------------------------------------------
def style_weights(G: Generator, layers: tuple[int, ...] = (0,)) -> torch.Tensor:
    """The style-modulation weights ``A`` (rows: style channels, columns: w_dim) of the
    modulated convolutions ``layers`` (indices of :meth:`Generator.style_layers`), stacked."""
    convs = G.style_layers()
    bad = [i for i in layers if not 0 <= i < len(convs)]
    if bad or not layers:
        raise ValueError(f"layers must be indices in [0, {len(convs)}), got {layers}")
    return torch.cat([convs[i].affine.effective_weight().detach() for i in layers]).cpu()


def sefa(weight: torch.Tensor, k: int, normalize: bool = True
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` eigenvectors (rows, unit norm) and eigenvalues of ``A^T A`` for ``weight`` =
    ``A`` (C x w_dim), the directions ``n`` maximising ``||A n||`` (Shen & Zhou 2021). With
    ``normalize`` each row of ``A`` is scaled to unit norm first (as SeFa does, so no style
    channel dominates by scale). Signs: each direction's largest-magnitude entry is positive."""
    a = weight.double()
    if normalize:
        a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    if not 1 <= k <= a.shape[1]:
        raise ValueError(f"k must be in [1, {a.shape[1]}], got {k}")
    values, vectors = torch.linalg.eigh(a.T @ a)  # ascending
    values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k].T
    idx = vectors.abs().argmax(1)
    vectors = vectors * torch.sign(vectors[torch.arange(k), idx])[:, None]
    return vectors.float(), values.float()


def sefa_directions(G: Generator, k: int = 5, layers: tuple[int, ...] = (0,)
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """SeFa directions of generator ``G`` from the style weights of ``layers`` (default the
    first modulated convolution): (k x w_dim unit vectors, eigenvalues)."""
    return sefa(style_weights(G, layers), k)


@torch.no_grad()
def w_spread(G: Generator, directions: torch.Tensor, n: int = 2000, seed: int = 0
             ) -> torch.Tensor:
    """Standard deviation of ``w`` (mapped from ``n`` seeded latents) along each direction:
    the unit of a traversal (steps of ``alpha * sd``)."""
    gen = torch.Generator().manual_seed(seed)
    p = next(G.parameters())
    w = G.mapping(torch.randn(n, G.z_dim, generator=gen).to(p.device)).cpu()
    return (w @ directions.T).std(0)


@torch.no_grad()
def traverse(G: Generator, w: torch.Tensor, direction: torch.Tensor, alphas, *,
             layers: tuple[int, ...] | None = None) -> torch.Tensor:
    """Images (A x B x C x S x S, CPU) of latents ``w`` (B x w_dim, or B x n_ws x w_dim for
    W+) moved by ``alpha * direction`` for each alpha, on every layer or only ``layers``;
    noise off, so only the move changes the images."""
    p = next(G.parameters())
    ws = w[:, None].repeat(1, G.n_ws, 1) if w.dim() == 2 else w.clone()
    ws = ws.to(p.device)
    mask = torch.zeros(G.n_ws, 1, device=p.device)
    mask[list(range(G.n_ws)) if layers is None else list(layers)] = 1
    d = direction.to(p.device)
    return torch.stack([G.synthesis(ws + float(a) * mask * d, noise="none").float().cpu()
                        for a in alphas])


# --------------------------------------------------------------------------------------------
# Inversion
# --------------------------------------------------------------------------------------------
def project(G: Generator, targets: torch.Tensor, *, steps: int = 200, lr: float = 0.05,
            space: str = "w", seed: int = 0, n_avg: int = 1000) -> dict[str, Any]:
    """Find latents whose images match ``targets`` (B x C x S x S in [-1, 1]) by gradient
    descent on the per-value mean squared error (noise inputs off).

    Starts at ``w_avg`` (the mean of ``n_avg`` mapped latents drawn with ``seed``); ``space``
    "w": one latent per image (B x w_dim), "w+": one per layer (B x n_ws x w_dim). Adam with
    ``lr`` in units of the spread of w, cosine-decayed. Returns ``ws`` (B x n_ws x w_dim, CPU),
    ``images`` (the reconstructions, CPU) and ``loss`` (per step, a list).
    """
    if space not in ("w", "w+"):
        raise ValueError(f"space must be 'w' or 'w+', got {space!r}")
    if targets.dim() != 4 or targets.shape[1:] != (G.n_bands, G.image_size, G.image_size):
        raise ValueError(f"targets must be B x {G.n_bands} x {G.image_size} x {G.image_size}, "
                         f"got {tuple(targets.shape)}")
    p = next(G.parameters())
    G = G.eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w_samples = G.mapping(torch.randn(n_avg, G.z_dim, generator=gen).to(p.device))
        w_avg, w_std = w_samples.mean(0), w_samples.std(0).mean()
    b = len(targets)
    shape = (b, G.w_dim) if space == "w" else (b, G.n_ws, G.w_dim)
    w = (w_avg.expand(shape) if space == "w" else w_avg.expand(shape)).clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr * float(w_std), betas=(0.9, 0.999))
    target = targets.to(p.device, p.dtype)
    losses = []
    for i in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * float(w_std) * 0.5 * (1 + math.cos(math.pi * i / steps))
        ws = w[:, None].expand(-1, G.n_ws, -1) if space == "w" else w
        loss = F.mse_loss(G.synthesis(ws, noise="none"), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        ws = (w[:, None].expand(-1, G.n_ws, -1) if space == "w" else w).detach()
        images = G.synthesis(ws, noise="none").float().cpu()
    return {"ws": ws.cpu(), "images": images, "loss": losses}


def reconstruction_errors(reconstructed: np.ndarray | torch.Tensor,
                          target: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
    """Per-band RMSE (B) and per-image mean spectral angle in radians (N) between two sets of
    N x B x H x W images (reflectance: angles of normalised values are not spectral angles).
    A pixel with a zero spectrum in either image is left out of the angle."""
    a = torch.as_tensor(np.asarray(reconstructed), dtype=torch.float64)
    t = torch.as_tensor(np.asarray(target), dtype=torch.float64)
    if a.shape != t.shape or a.dim() != 4:
        raise ValueError(f"need two N x B x H x W sets of equal shape, got {tuple(a.shape)} and "
                         f"{tuple(t.shape)}")
    rmse = (a - t).square().mean(dim=(0, 2, 3)).sqrt()
    na, nt = a.norm(dim=1), t.norm(dim=1)
    ok = (na > 0) & (nt > 0)
    cos = ((a * t).sum(1) / (na * nt).clamp_min(1e-12)).clamp(-1, 1)
    angle = torch.where(ok, torch.arccos(cos), torch.zeros_like(cos))
    sam = (angle.flatten(1).sum(1) / ok.flatten(1).sum(1).clamp_min(1)).numpy()
    return {"rmse_band": rmse.numpy(), "sam_image": sam}
