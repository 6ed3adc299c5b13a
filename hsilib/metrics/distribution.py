"""Distribution metrics: how close is a *set* of synthetic images to a set of real ones?

- :class:`Inception16`: InceptionV3 pool features (2048-d) for 16-band images, its first
  convolution widened from RGB by repeating the kernels and scaling by 3/16. With standard FID
  Inception weights from a local file the Frechet distance is reported as ``FID``; without them
  the network is randomly initialised with a fixed seed and the score is ``FD_rand``.
- :func:`frechet_distance` (FD, Heusel et al. 2017), :func:`kid` (Binkowski et al. 2018),
  :func:`precision_recall` (Kynkaanniemi et al. 2019), :func:`density_coverage` (Naeem et al.
  2020) on any features, and :func:`spectral_frechet_distance` on per-pixel spectra (no network),
  by region: :func:`region_masks` (lesion and skin, inside the dermoscope's field) from drawn
  masks or :func:`lesion_masks`.
- :func:`extract_features` streams images through a feature module in batches, so memory grows
  with the features (2048 floats per image), not with the images.

Every score is a :class:`Score` that carries the number of real and synthetic images it used:
with tens to hundreds of images these estimates are biased and noisy (notebook 03, section 8).

Introduced in notebook 03.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.segmentation import otsu_threshold
from ..models.layers import widen_rgb_conv
from .spectral import as_images

#: Environment variable naming a local 3-channel FID Inception checkpoint.
WEIGHTS_ENV = "HSILIB_FID_WEIGHTS"


@dataclass
class Score:
    """One distribution score and the sample sizes behind it."""

    metric: str
    value: float
    n_real: int
    n_fake: int
    std: float | None = None  # spread over subsets where the metric has one (KID)
    extra: dict = field(default_factory=dict)
    #: the per-sample terms whose mean is ``value`` (k-NN metrics), for bootstrap intervals
    per_sample: np.ndarray | None = None


# --------------------------------------------------------------------------------------------
# Inception feature network for B bands
# --------------------------------------------------------------------------------------------
def _load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    from ..models.checkpoint import safe_load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FID Inception weights not found: {path}")
    state = safe_load(path, "cpu", "FID Inception weight file")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


class Inception16(nn.Module):
    """InceptionV3 (torchvision) returning 2048-d pool features of ``N x B x H x W`` images.

    Images in [0, 1] are resized (bilinear) to ``feature_size`` (299 is the standard; torchvision
    accepts >= 75, and smaller inputs are much faster on a CPU) and mapped to [-1, 1].

    ``weights``: a local 3-channel Inception state dict (torchvision's ``inception_v3`` weights or
    pytorch-fid's ``pt_inception-2015-12-05``; its ``fc``/``AuxLogits`` entries are ignored); when
    None the environment variable ``HSILIB_FID_WEIGHTS`` is read. With weights,
    ``score_name == "FID"`` (the adapted, 16-band FID: not comparable with RGB FIDs, and computed
    with torchvision's blocks, which differ slightly from the TensorFlow FID graph). Without,
    every convolution is He-initialised from a local generator seeded with ``seed`` (the global RNG
    is neither used nor changed) and ``score_name == "FD_rand"``: a Frechet distance on random
    features, useful to compare generators with each other, never to be reported as FID.
    Nothing is ever downloaded.
    """

    num_features = 2048  # read by torchmetrics' FrechetInceptionDistance(feature=...)

    def __init__(self, n_bands: int = 16, *, weights: str | os.PathLike | None = None,
                 feature_size: int = 299, seed: int = 0):
        super().__init__()
        from torchvision.models import inception_v3

        if feature_size < 75:
            raise ValueError(f"feature_size must be >= 75 for InceptionV3, got {feature_size}")
        weights = weights if weights is not None else os.environ.get(WEIGHTS_ENV) or None
        self.n_bands, self.feature_size, self.weights = n_bands, feature_size, weights
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG
            net = inception_v3(weights=None, aux_logits=False, init_weights=False)
            stem = net.Conv2d_1a_3x3.conv
            wide = nn.Conv2d(n_bands, stem.out_channels, stem.kernel_size, stem.stride, bias=False)
        net.fc, net.dropout = nn.Identity(), nn.Identity()
        if weights is None:
            self._random_init(net, seed)
        else:
            self._load(net, weights)
        wide.weight.data.copy_(widen_rgb_conv(stem.weight.data, n_bands))
        net.Conv2d_1a_3x3.conv = wide
        # channels_last: about 2x faster convolutions on CPU (oneDNN), same values
        self.net = net.eval().requires_grad_(False).to(memory_format=torch.channels_last)
        self.score_name = "FD_rand" if weights is None else "FID"

    @staticmethod
    def _random_init(net: nn.Module, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                # He (fan-in) init keeps activations O(1) through the 90+ layers, where batch norm
                # in eval mode is an identity.
                fan_in = m.in_channels * math.prod(m.kernel_size) // m.groups
                m.weight.data.normal_(0.0, math.sqrt(2.0 / fan_in), generator=g)

    @staticmethod
    def _load(net: nn.Module, path: str | os.PathLike) -> None:
        state = _load_state_dict(path)
        own = net.state_dict()
        keep = {k: v for k, v in state.items() if k in own and not k.startswith("fc.")}
        missing = [k for k in own if k not in keep and not k.endswith("num_batches_tracked")]
        if missing:
            raise ValueError(f"{path} is not an InceptionV3 state dict; missing e.g. {missing[:3]}")
        stem = keep["Conv2d_1a_3x3.conv.weight"]
        if stem.shape[1] != 3:
            raise ValueError(f"{path}: expected a 3-channel first conv, got {tuple(stem.shape)}")
        net.load_state_dict(keep, strict=False)

    def train(self, mode: bool = True) -> Inception16:
        # A feature extractor: batch norm always uses its stored statistics.
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != self.n_bands:
            raise ValueError(f"expected N x {self.n_bands} x H x W images, got "
                             f"{tuple(images.shape)}")
        x = images.float()
        if x.shape[-2:] != (self.feature_size, self.feature_size):
            x = F.interpolate(x, size=(self.feature_size,) * 2, mode="bilinear",
                              align_corners=False)
        return self.net((2.0 * x - 1.0).contiguous(memory_format=torch.channels_last))


# --------------------------------------------------------------------------------------------
# Streaming feature extraction
# --------------------------------------------------------------------------------------------
def iter_batches(source, batch_size: int = 50) -> Iterable[torch.Tensor]:
    """Yield ``n x B x H x W`` float batches from a tensor/array, a Dataset of dicts (``image``)
    or tensors, or any iterable of images or batches. Only one batch is in memory at a time
    (for tensors, only views of the input)."""
    if isinstance(source, (torch.Tensor, np.ndarray)):
        x = as_images(source)
        for i in range(0, x.shape[0], batch_size):
            yield x[i:i + batch_size]
        return
    if hasattr(source, "__getitem__") and hasattr(source, "__len__"):
        source = map(source.__getitem__, range(len(source)))
    buf: list[torch.Tensor] = []
    for item in source:
        img = item["image"] if isinstance(item, dict) else item
        img = as_images(img)
        if img.shape[0] > 1:  # already a batch
            yield img
            continue
        buf.append(img)
        if len(buf) == batch_size:
            yield torch.cat(buf)
            buf = []
    if buf:
        yield torch.cat(buf)


@torch.no_grad()
def extract_features(source, extractor: nn.Module, *, batch_size: int = 50,
                     device: str | torch.device = "auto") -> np.ndarray:
    """Features (``N x D`` float64) of every image in ``source`` (see :func:`iter_batches`),
    computed on ``device`` ("auto": CUDA, else MPS, else CPU)."""
    from ..runtime import device as pick_device

    device = pick_device(device) if isinstance(device, str) else device
    extractor = extractor.to(device).eval()
    feats = [extractor(b.to(device)).double().cpu().numpy()
             for b in iter_batches(source, batch_size)]
    if not feats:
        raise ValueError("no images to extract features from")
    return np.concatenate(feats)


# --------------------------------------------------------------------------------------------
# Frechet distance
# --------------------------------------------------------------------------------------------
def _features(x, name: str) -> np.ndarray:
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must be an N x D feature matrix with N >= 2, got {x.shape}")
    bad = ~np.isfinite(x.astype(np.float64, copy=False))
    if bad.any():
        raise ValueError(f"{name}: the features of {int(bad.any(1).sum())} of {len(x)} images "
                         "hold NaN/inf (NaN/inf in the images themselves?); no distance is "
                         "computed from them")
    return x.astype(np.float64)


def _trace_sqrt_product(x1: np.ndarray, x2: np.ndarray) -> float:
    """``tr sqrt(S1 S2)`` for the sample covariances S of the rows of ``x1`` and ``x2``.

    The eigenvalues of ``S1 S2`` are real and >= 0 (S1, S2 are PSD), but ``sqrtm`` of the
    non-symmetric product is fragile with few samples (rank-deficient covariances give complex
    noise). Two exact, symmetric routes instead: with centred data ``X``, ``S = X^T X / (n-1)``
    and the non-zero eigenvalues of ``S1 S2`` are the squared singular values of
    ``X1 X2^T / sqrt((n1-1)(n2-1))`` (small n); otherwise ``eig(S1^1/2 S2 S1^1/2)`` by ``eigh``.
    """
    n1, n2, d = x1.shape[0], x2.shape[0], x1.shape[1]
    c1, c2 = x1 - x1.mean(0), x2 - x2.mean(0)
    if n1 * n2 <= d * d:
        sv = np.linalg.svd(c1 @ c2.T, compute_uv=False)
        return float(sv.sum() / math.sqrt((n1 - 1) * (n2 - 1)))
    return _trace_sqrt_cov_product(np.cov(c1, rowvar=False), np.cov(c2, rowvar=False))


def _trace_sqrt_cov_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """``tr sqrt(S1 S2)`` of two covariance matrices, as ``sum sqrt eig(S1^1/2 S2 S1^1/2)``."""
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(w.clip(min=0))) @ v.T
    lam = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(np.sqrt(lam.clip(min=0)).sum())


def gaussian_frechet_distance(mean1, cov1, mean2, cov2) -> float:
    """Frechet distance between two Gaussians given by their means and covariances:
    ``|m1 - m2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)`` (what :func:`frechet_distance` computes
    from samples). For low-dimensional data pooled from per-image moments, e.g. pixel spectra."""
    m1, m2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
    s1, s2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    value = (float(((m1 - m2) ** 2).sum()) + float(np.trace(s1)) + float(np.trace(s2))
             - 2.0 * _trace_sqrt_cov_product(s1, s2))
    return max(value, 0.0)


def frechet_distance(real, fake, *, name: str = "FD") -> Score:
    """Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):
    ``|mu_r - mu_f|^2 + tr(S_r) + tr(S_f) - 2 tr sqrt(S_r S_f)``, with unbiased covariances.

    Biased upwards for small sets (Chong & Forsyth 2020): compare only values computed with the
    same numbers of images, and read them against the real-vs-real floor.
    """
    r, f = _features(real, "real"), _features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature sizes differ: {r.shape[1]} vs {f.shape[1]}")
    mean_term = float(((r.mean(0) - f.mean(0)) ** 2).sum())
    tr_r = float(((r - r.mean(0)) ** 2).sum() / (r.shape[0] - 1))
    tr_f = float(((f - f.mean(0)) ** 2).sum() / (f.shape[0] - 1))
    value = mean_term + tr_r + tr_f - 2.0 * _trace_sqrt_product(r, f)
    return Score(name, max(value, 0.0), r.shape[0], f.shape[0])


# --------------------------------------------------------------------------------------------
# Kernel inception distance
# --------------------------------------------------------------------------------------------
def _mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    m = kxx.shape[0]
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2.0 * kxy.mean())


def kid(real, fake, *, n_subsets: int = 100, subset_size: int = 1000, seed: int = 0,
        name: str = "KID") -> Score:
    """Kernel inception distance (Binkowski et al. 2018): the unbiased MMD^2 with the cubic
    polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over ``n_subsets`` random subsets
    of ``min(subset_size, n_real, n_fake)`` images each (drawn without replacement, seeded).
    Unbiased, so it can be slightly negative; ``std`` is its spread over subsets.
    """
    r, f = _features(real, "real"), _features(fake, "fake")
    m = min(subset_size, r.shape[0], f.shape[0])
    d = r.shape[1]
    if m < 2:
        raise ValueError(f"KID needs subsets of >= 2 images, got subset_size={subset_size}")
    rng = np.random.default_rng(seed)
    # kernel matrices once (N x N: small sets), subsets index into them
    k_rr, k_ff, k_rf = ((a @ b.T / d + 1) ** 3 for a, b in ((r, r), (f, f), (r, f)))
    vals = []
    for _ in range(n_subsets):
        i = rng.choice(r.shape[0], m, replace=False)
        j = rng.choice(f.shape[0], m, replace=False)
        vals.append(_mmd2_unbiased(k_rr[np.ix_(i, i)], k_ff[np.ix_(j, j)], k_rf[np.ix_(i, j)]))
    return Score(name, float(np.mean(vals)), r.shape[0], f.shape[0], std=float(np.std(vals)),
                 extra={"subset_size": m, "n_subsets": n_subsets})


# --------------------------------------------------------------------------------------------
# k-NN manifold metrics
# --------------------------------------------------------------------------------------------
def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest *other* row."""
    if x.shape[0] <= k:
        raise ValueError(f"need more than k = {k} samples, got {x.shape[0]}")
    d = _pairwise(x, x)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself (distance 0)


def precision_recall(real, fake, *, k: int = 3) -> tuple[Score, Score]:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    Each set's manifold is the union of balls around its samples with radius the distance to the
    k-th nearest neighbour in the same set. Precision = share of synthetic samples inside the real
    manifold (fidelity); recall = share of real samples inside the synthetic manifold (diversity).
    """
    r, f = _features(real, "real"), _features(fake, "fake")
    d_fr = _pairwise(f, r)
    in_real = (d_fr <= _knn_radius(r, k)[None, :]).any(1)  # per synthetic sample
    in_fake = (d_fr.T <= _knn_radius(f, k)[None, :]).any(1)  # per real sample
    n = (r.shape[0], f.shape[0])
    return (Score("precision", float(in_real.mean()), *n, extra={"k": k},
                  per_sample=in_real.astype(float)),
            Score("recall", float(in_fake.mean()), *n, extra={"k": k},
                  per_sample=in_fake.astype(float)))


def density_coverage(real, fake, *, k: int = 3) -> tuple[Score, Score]:
    """Density and coverage (Naeem et al. 2020), with balls around *real* samples only.

    Density = mean number of real balls containing each synthetic sample, divided by k (about 1
    when the distributions match; > 1 when samples crowd dense real regions). Coverage = share of
    real balls that contain at least one synthetic sample (robust to real outliers).
    """
    r, f = _features(real, "real"), _features(fake, "fake")
    inside = _pairwise(r, f) <= _knn_radius(r, k)[:, None]  # n_real x n_fake
    n = (r.shape[0], f.shape[0])
    density, covered = inside.sum(0) / k, inside.any(1).astype(float)
    return (Score("density", float(density.mean()), *n, extra={"k": k}, per_sample=density),
            Score("coverage", float(covered.mean()), *n, extra={"k": k}, per_sample=covered))


# --------------------------------------------------------------------------------------------
# Weight-free spectral Frechet distance (per-pixel spectra)
# --------------------------------------------------------------------------------------------
#: A pixel is outside the dermoscope's field when its band mean is at most this fraction of the
#: image's bright level (the 95th percentile of band means): out-of-field pixels are (near) zero.
FIELD_FRACTION = 0.05


def field_masks(images, *, fraction: float = FIELD_FRACTION) -> torch.Tensor:
    """The inside of the dermoscope's field per image (``N x H x W`` bool): pixels whose band
    mean exceeds ``fraction`` of the image's bright level (95th percentile of band means), so
    (near) zero spectra, which carry no colour, are left out. Images in [0, 1] or reflectance."""
    x = as_images(images).mean(1)
    bright = torch.quantile(x.flatten(1).double(), 0.95, dim=1).to(x.dtype)
    return x > (fraction * bright).clamp_min(torch.finfo(x.dtype).tiny).view(-1, 1, 1)


def lesion_masks(images, *, fraction: float = FIELD_FRACTION) -> torch.Tensor:
    """A rough lesion mask (``N x H x W`` bool) per image: in-field pixels (:func:`field_masks`)
    darker than Otsu's threshold of the band-mean image (lesions absorb more than the
    surrounding skin). Out-of-field pixels take part in neither the threshold nor the mask, so
    a dark corner outside the dermoscope's field is never counted as lesion. For images without
    drawn masks, e.g. synthetic ones."""
    x = as_images(images).mean(1)
    field = field_masks(images, fraction=fraction)
    out = torch.zeros_like(field)
    for i, (img, inside) in enumerate(zip(x, field, strict=True)):
        values = img[inside].double().numpy()
        if values.size >= 2 and values.min() < values.max():
            out[i] = (img < otsu_threshold(values, bins=128)) & inside
    return out


def region_masks(images, drawn=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(lesion, skin) masks, ``N x H x W`` bool, both inside the field (:func:`field_masks`):
    lesion = the drawn mask (``N x [1 x] H x W``, > 0.5) where an image has a non-empty one,
    else :func:`lesion_masks`; skin = the rest of the field."""
    x = as_images(images)
    field = field_masks(x)
    lesion = (torch.zeros_like(field) if drawn is None else
              torch.as_tensor(np.asarray(drawn)).reshape(field.shape) > 0.5)
    empty = ~lesion.flatten(1).any(1)
    if empty.any():
        lesion[empty] = lesion_masks(x[empty])
    lesion &= field
    return lesion, field & ~lesion


def _region_spectra(images, masks, region: str, n_pixels: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Up to ``n_pixels`` spectra (rows) sampled from the ``region`` of all images, streamed."""
    chunks = []
    for i, batch in enumerate(iter_batches(images, 50)):
        drawn = None if masks is None else np.asarray(masks[i * 50:i * 50 + batch.shape[0]])
        lesion, skin = region_masks(batch, drawn)
        m = lesion if region == "lesion" else skin
        spectra = batch.permute(0, 2, 3, 1)[m].double().numpy()
        keep = min(len(spectra), n_pixels)  # cap what is held per batch
        chunks.append(spectra[rng.choice(len(spectra), keep, replace=False)])
    spectra = np.concatenate(chunks)
    if len(spectra) > n_pixels:
        spectra = spectra[rng.choice(len(spectra), n_pixels, replace=False)]
    return spectra


def spectral_frechet_distance(real, fake, *, real_masks=None, fake_masks=None,
                              n_pixels: int = 20_000, seed: int = 0) -> list[Score]:
    """Frechet distance between the distributions of per-pixel spectra (B-D), for lesion and
    skin pixels separately (``FD_spectral_lesion``, ``FD_spectral_skin``).

    No network and no weights: it asks whether the synthetic images contain the right spectra
    (colours) in the right proportions, not whether they are arranged like lesions. Masks
    (``N x [1 x] H x W``, 1 = lesion) are used where given, else computed with
    :func:`lesion_masks`; both regions stay inside the field (:func:`region_masks`).
    ``n_pixels`` spectra per set and region are sampled with ``seed``.
    """
    n_real, n_fake = len(real), len(fake)
    out = []
    for region in ("lesion", "skin"):
        rng = np.random.default_rng(seed)
        r = _region_spectra(real, real_masks, region, n_pixels, rng)
        f = _region_spectra(fake, fake_masks, region, n_pixels, rng)
        score = frechet_distance(r, f, name=f"FD_spectral_{region}")
        score.n_real, score.n_fake = n_real, n_fake
        score.extra = {"n_pixels_real": len(r), "n_pixels_fake": len(f)}
        out.append(score)
    return out
