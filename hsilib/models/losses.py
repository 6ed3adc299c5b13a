"""Losses shared by the generator families: adversarial, reconstruction and spectral.

- Hinge loss with a random margin, as in FastGAN's official training code (Liu et al. 2021):
  the discriminator pays ``relu(m - D(real))`` and ``relu(m + D(fake))`` with ``m ~ U(0.8, 1.0)``
  drawn per logit; the generator pays ``-D(fake)``. WGAN-GP's gradient penalty (the SHS-GAN
  critics of notebook 02) and R1 (StyleGAN2).
- Reconstruction loss of the self-supervised decoders: 16-band LPIPS (Zhang et al., CVPR 2018)
  whose first convolution is widened from RGB by repeating its kernels over the bands and scaling
  by 3 / n_bands (as the study did), when a local backbone file is given; otherwise L1 + (1 - SSIM)
  with a warning (a random backbone is no perceptual metric).
- Spectral losses (off by default): spectral angle (SAM, Kruse et al. 1993) and spectral
  information divergence (SID, Chang 2000) between reconstructions and targets, and between the
  mean spectra of generated and real batches.

The torch cores of the spectral angle, SID and SSIM live here (:func:`angle_between`,
:func:`sid_per_pixel`, :func:`ssim_per_image`); the paired metrics of
:mod:`hsilib.metrics.spectral` call the same functions (one implementation for losses and
metrics). Objectives (e.g. :class:`hsilib.models.fastgan.FastGANObjective`) combine these.
Introduced in notebook 03.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..quiet import expected_warnings
from .checkpoint import CheckpointError, check_state_dict, safe_load
from .layers import widen_rgb_conv

# --------------------------------------------------------------------------------------------
# Adversarial losses
# --------------------------------------------------------------------------------------------


def hinge_d_real(logits: torch.Tensor) -> torch.Tensor:
    """``mean(relu(m - logits))`` with a random margin ``m ~ U(0.8, 1.0)`` per logit."""
    margin = 0.8 + 0.2 * torch.rand_like(logits)
    return F.relu(margin - logits).mean()


def hinge_d_fake(logits: torch.Tensor) -> torch.Tensor:
    """``mean(relu(m + logits))`` with a random margin ``m ~ U(0.8, 1.0)`` per logit."""
    margin = 0.8 + 0.2 * torch.rand_like(logits)
    return F.relu(margin + logits).mean()


def hinge_g(logits: torch.Tensor) -> torch.Tensor:
    """Generator's hinge loss: ``-mean(D(fake))``."""
    return -logits.mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``mean((||grad_x D(x_hat)||_2 - 1)^2)`` at
    ``x_hat = a real + (1 - a) fake``.

    ``alpha`` (one value per image) is drawn from U(0, 1) when not given. The gradient is taken
    with ``create_graph=True`` so that the penalty itself trains the critic.
    """
    if alpha is None:
        alpha = torch.rand(len(real), device=real.device)
    a = alpha.to(real.dtype).view(-1, *([1] * (real.dim() - 1)))
    x_hat = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    grad, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(real: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``E_x ||grad_x D(x)||^2`` over the batch (``real`` must
    require grad; ``logits`` = D(real), one per image). Differentiable (create_graph) so it
    trains D (StyleGAN2's regulariser)."""
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


# --------------------------------------------------------------------------------------------
# Spectral angle, SID and SSIM of tensors (shared with hsilib.metrics.spectral)
# --------------------------------------------------------------------------------------------
def angle_between(p: torch.Tensor, t: torch.Tensor, dim: int) -> torch.Tensor:
    """Angle (radians) between the vectors along ``dim`` of ``p`` and ``t``.

    Zero vectors get a defined angle instead of NaN: two zero vectors 0 (identical), a zero
    vector against a non-zero one pi/2 (no shared direction). Differentiable with finite
    gradients everywhere, so the angle is also a loss.
    """
    dot = (p * t).sum(dim)
    norms = p.norm(dim=dim) * t.norm(dim=dim)
    both_zero = (p.norm(dim=dim) == 0) & (t.norm(dim=dim) == 0)
    cos = torch.where(norms > 0, dot / norms.clamp_min(torch.finfo(norms.dtype).tiny), 0.0)
    cos = torch.where(both_zero, 1.0, cos)
    # acos has an infinite slope at +-1: evaluate it a float epsilon inside, and return the exact
    # 0 / pi there
    eps = torch.finfo(cos.dtype).eps
    inner = cos.clamp(-1 + eps, 1 - eps).acos()
    return torch.where(cos >= 1, 0.0, torch.where(cos <= -1, torch.pi, inner))


def sid_per_pixel(p: torch.Tensor, t: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Spectral information divergence (Chang 2000) of every pixel of two ``N x B x H x W``
    tensors, ``N x H x W``: each spectrum becomes a distribution ``x_b / sum x`` (negative
    values clipped to 0, ``eps`` added per band so zero spectra stay finite), then the
    symmetric KL divergence ``sum (p - q)(log p - log q)`` in nats."""
    p = p.clamp_min(0) + eps
    t = t.clamp_min(0) + eps
    p = p / p.sum(1, keepdim=True)
    t = t / t.sum(1, keepdim=True)
    return ((p - t) * (p.log() - t.log())).sum(1)


def _gaussian_1d(size: int, sigma: float, dtype, device) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def ssim_per_image(p: torch.Tensor, t: torch.Tensor, *, data_range: float, sigma: float = 1.5,
                   k1: float = 0.01, k2: float = 0.03,
                   padding: Literal["reflect", "valid"] = "reflect") -> torch.Tensor:
    """SSIM (Wang et al. 2004) of two ``N x B x H x W`` tensors, averaged over the bands and
    pixels of each image (``N`` values); :func:`hsilib.metrics.spectral.ssim` documents the
    window, the padding conventions and the constants."""
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    n, b, h, w = p.shape
    size = int(3.5 * sigma + 0.5) * 2 + 1
    pad = (size - 1) // 2
    if padding not in ("reflect", "valid"):
        raise ValueError(f"padding must be 'reflect' or 'valid', got {padding!r}")
    if (pad >= min(h, w)) if padding == "reflect" else (size > min(h, w)):
        raise ValueError(f"images {h} x {w} are too small for an SSIM window of {size}")
    g = _gaussian_1d(size, sigma, p.dtype, p.device)
    if padding == "reflect":
        p = F.pad(p, (pad, pad, pad, pad), mode="reflect")
        t = F.pad(t, (pad, pad, pad, pad), mode="reflect")
    # the 2-D Gaussian window is separable: two 1-D passes, size/2 times fewer operations
    stats = F.conv2d(torch.cat([p, t, p * p, t * t, p * t]), g.view(1, 1, size, 1).expand(
        b, 1, size, 1), groups=b)
    stats = F.conv2d(stats, g.view(1, 1, 1, size).expand(b, 1, 1, size), groups=b).split(n)
    mu_p, mu_t = stats[0], stats[1]
    var_p = (stats[2] - mu_p**2).clamp_min(0)
    var_t = (stats[3] - mu_t**2).clamp_min(0)
    cov = stats[4] - mu_p * mu_t
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / (
        (mu_p**2 + mu_t**2 + c1) * (var_p + var_t + c2))
    return ssim_map.flatten(1).mean(1)


# --------------------------------------------------------------------------------------------
# Spectral losses (images in [-1, 1], bands on dim 1)
# --------------------------------------------------------------------------------------------
def spectral_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean spectral angle (radians) between the spectra (dim 1) of images ``a`` and ``b`` in
    [-1, 1], taken as reflectance-like values ``(x + 1) / 2`` (angles of spectra, not of the
    zero-centred values)."""
    return angle_between((a + 1) / 2, (b + 1) / 2, dim=1).flatten(1).mean(1).mean()


def spectral_information_divergence(a: torch.Tensor, b: torch.Tensor,
                                    eps: float = 1e-4) -> torch.Tensor:
    """Mean SID (Chang 2000) between the spectra of images ``a`` and ``b`` in [-1, 1], as
    ``(x + 1) / 2``; ``eps`` per band keeps the gradient finite for dark spectra."""
    return sid_per_pixel((a + 1) / 2, (b + 1) / 2, eps=eps).flatten(1).mean(1).mean()


def spectral_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SAM + SID between two images of the same shape."""
    return spectral_angle(a, b) + spectral_information_divergence(a, b)


def mean_spectrum_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """SAM + SID between the batch-mean spectra of generated and real images (B x C x H x W)."""
    mf = fake.mean(dim=(0, 2, 3))[None, :, None, None]
    mr = real.mean(dim=(0, 2, 3))[None, :, None, None]
    return spectral_loss(mf, mr)


# --------------------------------------------------------------------------------------------
# Reconstruction losses
# --------------------------------------------------------------------------------------------
class L1SSIMLoss(nn.Module):
    """Fallback reconstruction loss: ``L1 + (1 - SSIM)`` on images in [-1, 1]."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        sigma = 1.5 if min(a.shape[-2:]) >= 11 else 0.5  # an 11-px window, 5 px for tiny images
        return (a - b).abs().mean() + (1 - ssim_per_image(a, b, data_range=2.0, sigma=sigma,
                                                          padding="valid").mean())


# torchvision layer index -> lpips slice holding it, for VGG16 and AlexNet feature stacks
_LPIPS_SLICES = {
    "vgg": [(0, 4), (4, 9), (9, 16), (16, 23), (23, 30)],
    "alex": [(0, 2), (2, 5), (5, 8), (8, 10), (10, 12)],
}


class MultibandLPIPS(nn.Module):
    """LPIPS over ``n_bands`` channels: the backbone's first conv widened from RGB.

    ``weights`` is a LOCAL torchvision VGG16 / AlexNet state dict (keys ``features.N.*``). The
    linear heads are the ones shipped inside the ``lpips`` package (no download). The RGB kernels
    of the first conv are repeated over the bands (band k uses kernel channel k mod 3) and scaled
    by 3 / n_bands, which keeps the first layer's response to a flat spectrum on the scale of
    the RGB network's; the input shift/scale of LPIPS is repeated the same way.
    """

    def __init__(self, weights: str | Path, n_bands: int = 16, net: str = "vgg") -> None:
        super().__init__()
        import lpips  # heavy import, only when LPIPS is asked for

        if net not in _LPIPS_SLICES:
            raise ValueError(f"lpips_net must be 'vgg' or 'alex', got {net!r}")
        weights = Path(weights)
        if not weights.is_file():
            raise FileNotFoundError(f"LPIPS backbone weights {weights} do not exist "
                                    "(FastGANConfig.lpips_weights)")
        with expected_warnings("torchvision_pretrained"):  # lpips' use of torchvision
            # pnet_rand=True: build a random backbone, never download; heads load from the package
            self.lpips = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False)

        state = safe_load(weights, "cpu", "LPIPS backbone weight file")
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise CheckpointError(f"LPIPS backbone weight file {weights}: expected a state dict "
                                  f"(name -> tensor), got {type(state).__name__}")
        self._load_backbone(state, net, weights)
        self._widen(n_bands)
        self.lpips.eval().requires_grad_(False)

    def _load_backbone(self, state: dict, net: str, path: Path) -> None:
        """Copy the ``features.N.weight/bias`` tensors of a torchvision state dict into the
        LPIPS slices; every key, type and shape is checked first (CheckpointError naming the
        file), so a malformed file changes nothing."""
        mapped = {}
        for key, value in state.items():
            parts = str(key).split(".")
            if parts[0] != "features":
                continue
            if len(parts) != 3 or not parts[1].isdigit() or not isinstance(value, torch.Tensor):
                raise CheckpointError(f"LPIPS backbone weight file {path}: entry {key!r} is not "
                                      "a torchvision 'features.N.weight/bias' tensor")
            idx = int(parts[1])
            for s, (lo, hi) in enumerate(_LPIPS_SLICES[net]):
                if lo <= idx < hi:
                    mapped[f"slice{s + 1}.{idx}.{parts[2]}"] = value
        if not mapped:
            raise CheckpointError(f"LPIPS backbone weight file {path} is not a torchvision {net} "
                                  "state dict (no 'features.N' entries)")
        check_state_dict(self.lpips.net, mapped, f"LPIPS backbone weight file {path} ({net})")
        self.lpips.net.load_state_dict(mapped)

    def _widen(self, n_bands: int) -> None:
        conv = self.lpips.net.slice1[0]
        idx = torch.arange(n_bands) % 3
        wide = nn.Conv2d(n_bands, conv.out_channels, conv.kernel_size, conv.stride, conv.padding)
        wide.weight.data = widen_rgb_conv(conv.weight.data, n_bands)
        wide.bias.data = conv.bias.data.clone()
        self.lpips.net.slice1[0] = wide
        sl = self.lpips.scaling_layer
        sl.shift = sl.shift[:, idx].clone()
        sl.scale = sl.scale[:, idx].clone()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.lpips(a, b).mean()


def reconstruction_loss(n_bands: int, weights: str | None, net: str = "vgg") -> nn.Module:
    """16-band LPIPS when ``weights`` (a local backbone file) is given, else L1 + (1 - SSIM)."""
    if weights:
        return MultibandLPIPS(weights, n_bands, net)
    warnings.warn(
        "FastGANConfig.lpips_weights is not set: the discriminator's reconstruction loss falls "
        "back to L1 + (1 - SSIM) instead of the perceptual LPIPS loss of the paper. Give a local "
        "VGG16/AlexNet state dict to use LPIPS.", stacklevel=2)
    return L1SSIMLoss()
