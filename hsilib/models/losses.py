"""Losses shared by the generator families: adversarial, reconstruction and spectral.

- Hinge loss with a random margin, as in FastGAN's official training code (Liu et al. 2021):
  the discriminator pays ``relu(m - D(real))`` and ``relu(m + D(fake))`` with ``m ~ U(0.8, 1.0)``
  drawn per logit; the generator pays ``-D(fake)``.
- Reconstruction loss of the self-supervised decoders: 16-band LPIPS (Zhang et al., CVPR 2018)
  whose first convolution is widened from RGB by repeating its kernels over the bands and scaling
  by 3 / n_bands (as the study did), when a local backbone file is given; otherwise L1 + (1 - SSIM)
  with a warning (a random backbone is no perceptual metric).
- Spectral losses (off by default): spectral angle (SAM, Kruse et al. 1993) and spectral
  information divergence (SID, Chang 2000) between reconstructions and targets, and between the
  mean spectra of generated and real batches.

Spectral angle, SID and SSIM are those of :mod:`hsilib.metrics.spectral` (one implementation
for losses and metrics). Objectives (e.g. :class:`hsilib.models.fastgan.FastGANObjective`)
combine these. Introduced in notebook 03.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..metrics import spectral as sp
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


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||grad D(x_hat)|| - 1)^2]`` on random interpolates (Gulrajani 2017).

    A hook for the WGAN-GP ablations: add ``weight * gradient_penalty(...)`` to a D loss.
    """
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = D(x_hat)
    grad, = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


# --------------------------------------------------------------------------------------------
# Spectral losses (images in [-1, 1], bands on dim 1)
# --------------------------------------------------------------------------------------------
def spectral_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean spectral angle (radians) between the spectra (dim 1) of images ``a`` and ``b`` in
    [-1, 1], taken as reflectance-like values ``(x + 1) / 2`` (angles of spectra, not of the
    zero-centred values)."""
    return sp.sam((a + 1) / 2, (b + 1) / 2)


def spectral_information_divergence(a: torch.Tensor, b: torch.Tensor,
                                    eps: float = 1e-4) -> torch.Tensor:
    """Mean SID (Chang 2000) between the spectra of images ``a`` and ``b`` in [-1, 1], as
    ``(x + 1) / 2``; ``eps`` per band keeps the gradient finite for dark spectra."""
    return sp.sid((a + 1) / 2, (b + 1) / 2, eps=eps)


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
        return (a - b).abs().mean() + (1 - sp.ssim(a, b, data_range=2.0, sigma=sigma,
                                                   padding="valid"))


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
        with warnings.catch_warnings():  # torchvision's 'pretrained' deprecation noise
            warnings.simplefilter("ignore")
            # pnet_rand=True: build a random backbone, never download; heads load from the package
            self.lpips = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False)
        from .checkpoint import safe_load

        state = safe_load(weights, "cpu", "LPIPS backbone weight file")
        state = state.get("state_dict", state)
        self._load_backbone(state, net, weights)
        self._widen(n_bands)
        self.lpips.eval().requires_grad_(False)

    def _load_backbone(self, state: dict, net: str, path: Path) -> None:
        mapped = {}
        for key, value in state.items():
            parts = key.split(".")
            if parts[0] != "features":
                continue
            idx = int(parts[1])
            for s, (lo, hi) in enumerate(_LPIPS_SLICES[net]):
                if lo <= idx < hi:
                    mapped[f"slice{s + 1}.{idx}.{parts[2]}"] = value
        target = self.lpips.net.state_dict()
        missing = sorted(set(target) - set(mapped))
        if missing:
            raise ValueError(f"{path} is not a torchvision {net} state dict: missing {missing[:3]}")
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
