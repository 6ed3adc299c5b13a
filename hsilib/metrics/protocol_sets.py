"""What the generator protocol measures on a set of images, read once in batches.

A set is a tensor or array ``N x B x H x W`` in [0, 1] (normalised) or an indexable dataset
yielding dicts with ``image``, such as :class:`hsilib.data.datasets.CropDataset`.
:func:`summarise` reads it in one pass into a :class:`Summary` of per-image terms (network
features, downsampled copies, sampled lesion and skin spectra (every set's lesions found by one
rule, :func:`lesion_and_skin`), in-field spectrum sums,
chromophore fits); :func:`set_scores` turns two summaries (any selection of their images,
bootstrap resamples included) into the set-level scores (Frechet distances, KID, spectral FD,
mean-spectrum angle, TV, chromophore distances); :func:`paired_terms` pairs each image with its
nearest held-out image (SSIM, PSNR, SAM, SID; MS-GMSD, MDSI, HaarPSI of the renderings).

Used by :func:`hsilib.metrics.protocol.evaluate_generator` (notebook 03).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from . import distribution as dist
from . import physics
from . import spectral as sp
from .perceptual import PERCEPTUAL, perceptual_terms

SMALL = 16  # side of the downsampled images used for nearest-neighbour search


# --------------------------------------------------------------------------------------------
# Reading the sets
# --------------------------------------------------------------------------------------------
def set_length(source) -> int:
    if isinstance(source, (torch.Tensor, np.ndarray)):
        return sp.as_images(source).shape[0]
    if hasattr(source, "__len__") and hasattr(source, "__getitem__"):
        return len(source)
    raise TypeError("sets must be tensors/arrays N x B x H x W or indexable datasets, got "
                    f"{type(source).__name__}")


def fingerprint(source) -> tuple | None:
    """Shape, dtype and a digest of the content of a tensor or array (None for a dataset):
    what the protocol keys the summaries it keeps by."""
    if not isinstance(source, (torch.Tensor, np.ndarray)):
        return None
    array = source.detach().cpu().numpy() if isinstance(source, torch.Tensor) else source
    array = np.ascontiguousarray(array)
    return array.shape, str(array.dtype), hashlib.blake2b(array.data, digest_size=16).hexdigest()


def take(source, idx, name: str = "") -> torch.Tensor:
    """Images at ``idx`` of a tensor or dataset (any masks the items carry are not read: the
    protocol finds every set's lesions by one rule, :func:`lesion_and_skin`); a NaN/inf image
    is an error that names the set ``name``."""
    idx = [int(i) for i in idx]
    if isinstance(source, (torch.Tensor, np.ndarray)):
        images = sp.as_images(source)[idx].float()
    else:
        items = [source[i] for i in idx]
        if isinstance(items[0], dict):
            images = torch.stack([torch.as_tensor(it["image"]) for it in items]).float()
        else:
            images = torch.stack([torch.as_tensor(it) for it in items]).float()
    bad = (~torch.isfinite(images)).flatten(1).any(1).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"the {name or 'image'} set: images {[idx[i] for i in bad][:5]} hold "
                         "NaN/inf values; no metric is computed from them")
    return images


def lesion_and_skin(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(lesion, skin) masks, ``N x H x W`` bool, by the protocol's one rule for every set:
    lesion = in-field pixels darker than Otsu's threshold of the in-field band means
    (:func:`~hsilib.metrics.distribution.lesion_masks`), skin = the rest of the field. The
    same rule for synthetic, training and held-out images, because it is the only one that
    applies to a synthetic image: with drawn or segmented masks for the real sets and Otsu for
    the synthetic one, an exact copy of the training crops scored several times the floor on
    the lesion spectra (``docs/protocol.md``)."""
    return dist.region_masks(images)


def reflectance(images: torch.Tensor, to_reflectance: Callable | None) -> torch.Tensor:
    """``images`` mapped by ``to_reflectance`` (the images themselves when it is None)."""
    if to_reflectance is None:
        return images
    out = to_reflectance(images)
    return (out if torch.is_tensor(out) else torch.from_numpy(np.asarray(out))).float()


# --------------------------------------------------------------------------------------------
# One pass over a set: per-image summaries
# --------------------------------------------------------------------------------------------
@dataclass
class Summary:
    """Per-image summaries of the images ``index`` of a set (rows follow ``index``)."""

    index: np.ndarray  # positions in the set, sorted
    feats: np.ndarray  # network features, one row per image
    small: np.ndarray  # downsampled images (B x 16 x 16, flattened) for nearest neighbours
    small_all: np.ndarray  # the same for every image of the set (memorisation reference)
    tv: np.ndarray  # per-pixel total variation
    #: region -> per image: (count, sum, sum of outer products) of sampled normalised spectra
    moments: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    spectrum_sum: np.ndarray  # per image: sum of its in-field spectra (reflectance if given)
    n_field: np.ndarray  # per image: number of in-field pixels
    fits: list[np.ndarray] = field(default_factory=list)  # per image: chromophore fits
    fit_names: tuple[str, ...] = ()  # the fitted parameters (columns of ``fits``)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Rows of the images at set ``positions``."""
        return np.searchsorted(self.index, positions)


def summarise(source, name, extractor, to_reflectance, *, batch_size: int,
              keep: np.ndarray | None, pixels_per_image: int, physics_per_image: int,
              seed: int) -> Summary:
    """One pass: downsampled copies of every image; features, TV, moments of sampled lesion
    and skin spectra, in-field spectrum sums and (with ``physics_per_image``) chromophore fits of
    sampled reflectance spectra of the images in ``keep`` (all when None), so that unused
    training images cost no network pass."""
    rng = np.random.default_rng(seed)
    n = set_length(source)
    index = np.arange(n) if keep is None else np.unique(keep)
    selected = np.zeros(n, bool)
    selected[index] = True
    device = next(extractor.parameters(), torch.zeros(())).device
    feats, small_all, tv, sums, counts, phys = [], [], [], [], [], []
    spectra: dict[str, list] = {"lesion": [], "skin": []}
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        images = take(source, idx, name)
        small_all.append(F.adaptive_avg_pool2d(images, SMALL).flatten(1).double().numpy())
        sel = torch.from_numpy(selected[idx])
        if not sel.any():
            continue
        images = images[sel]
        feats.append(extractor(images.to(device)).double().cpu().numpy())
        tv.append(sp.total_variation(images, per_pixel=True, reduction="none").numpy())
        lesion, skin = lesion_and_skin(images)
        pix = images.permute(0, 2, 3, 1).double()
        refl = reflectance(images, to_reflectance).permute(0, 2, 3, 1).double()
        for j in range(len(images)):
            for region, inside in (("lesion", lesion[j]), ("skin", skin[j])):
                px = pix[j][inside].numpy()
                px = px[rng.choice(len(px), min(len(px), pixels_per_image), replace=False)]
                spectra[region].append((len(px), px.sum(0), px.T @ px))
            rf = refl[j][lesion[j] | skin[j]].numpy()
            sums.append(rf.sum(0))
            counts.append(len(rf))
            if physics_per_image:
                phys.append(rf[rng.choice(len(rf), min(len(rf), physics_per_image),
                                          replace=False)])
    small_all = np.concatenate(small_all)
    moments = {region: tuple(np.array([m[i] for m in v], np.float64) for i in range(3))
               for region, v in spectra.items()}
    summary = Summary(index, np.concatenate(feats), small_all[index], small_all,
                      np.concatenate(tv), moments, np.stack(sums), np.asarray(counts))
    if physics_per_image:
        fitted = physics.invert_spectra(np.concatenate(phys))
        summary.fit_names = tuple(c for c in fitted.columns if c in physics.BOUNDS)
        # melanin, blood and scattering span decades: compared in log10, as chromophore_distance
        values = np.stack([np.log10(fitted[c].to_numpy()) if physics.BOUNDS[c][2] == "log"
                           else fitted[c].to_numpy() for c in summary.fit_names], axis=1)
        summary.fits = np.split(values, np.cumsum([len(p) for p in phys])[:-1])
    return summary


# --------------------------------------------------------------------------------------------
# Per-image terms: paired metrics against the nearest held-out image
# --------------------------------------------------------------------------------------------
def nearest(query: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and L2 distance of each query row's nearest row of ``ref``."""
    d = torch.cdist(torch.from_numpy(query), torch.from_numpy(ref))
    dmin, idx = d.min(1)
    return idx.numpy(), dmin.numpy()


#: statistic of each paired metric over images (PSNR of an exact copy is +inf: the median
#: keeps the summary finite and robust; SAM and SID are NaN for an image with no in-field pixel)
PAIRED = {"SSIM": np.nanmean, "PSNR": np.nanmedian, "SAM_rad": np.nanmean, "SID": np.nanmean}


def paired_terms(source, idx, name, heldout, nn_idx, batch_size,
                 to_reflectance) -> dict[str, np.ndarray]:
    """Per image of ``source[idx]``: SSIM and PSNR (normalised values) and the mean SAM and SID
    over pixels inside both fields (reflectance when ``to_reflectance`` is given) against its
    nearest held-out image ``heldout[nn_idx]``; with ``to_reflectance``, also the perceptual
    scores of the two CIE renderings (:mod:`hsilib.metrics.perceptual`)."""
    vals: dict[str, list] = {k: [] for k in PAIRED}
    if to_reflectance is not None:
        vals.update({k: [] for k in PERCEPTUAL})
    for i in range(0, len(idx), batch_size):
        a = take(source, idx[i:i + batch_size], name)
        b = take(heldout, nn_idx[i:i + batch_size], "real_heldout")
        vals["SSIM"].append(sp.ssim(a, b, data_range=1.0, reduction="none"))
        vals["PSNR"].append(sp.psnr(a, b, data_range=1.0, reduction="none"))
        inside = dist.field_masks(a) & dist.field_masks(b)
        ra, rb = reflectance(a, to_reflectance), reflectance(b, to_reflectance)
        vals["SAM_rad"].append(sp.sam(ra, rb, mask=inside, reduction="none"))
        vals["SID"].append(sp.sid(ra, rb, mask=inside, reduction="none"))
        if to_reflectance is not None:
            for k, v in perceptual_terms(ra, rb).items():
                vals[k].append(v)
    return {k: torch.cat(v).double().numpy() for k, v in vals.items()}


# --------------------------------------------------------------------------------------------
# Set-level scores of one (candidate, held-out) pair of image selections
# --------------------------------------------------------------------------------------------
def gaussian(moments: tuple[np.ndarray, ...], rows: np.ndarray):
    """(count, mean, unbiased covariance) of the pixels pooled over the images ``rows``."""
    n, s1, s2 = (m[rows].sum(0) for m in moments)
    mean = s1 / max(n, 1)
    return n, mean, (s2 - n * np.outer(mean, mean)) / max(n - 1, 1)


def set_scores(cand: Summary, c_rows: np.ndarray, real: Summary, r_rows: np.ndarray, *,
               fd_name: str, seed: int) -> dict[str, float]:
    """Set-level scores of the candidate images ``c_rows`` against the held-out images
    ``r_rows`` (rows may repeat: bootstrap resamples)."""
    out = {fd_name: dist.frechet_distance(real.feats[r_rows], cand.feats[c_rows]).value,
           "KID": dist.kid(real.feats[r_rows], cand.feats[c_rows], n_subsets=50,
                           subset_size=100, seed=seed).value}
    for region in ("lesion", "skin"):
        (n_a, *a), (n_b, *b) = (gaussian(v.moments[region], rows)
                                for v, rows in ((real, r_rows), (cand, c_rows)))
        out[f"FD_spectral_{region}"] = (dist.gaussian_frechet_distance(*a, *b)
                                        if min(n_a, n_b) > 16 else float("nan"))
    mean_a, mean_b = (v.spectrum_sum[rows].sum(0) / max(v.n_field[rows].sum(), 1)
                      for v, rows in ((real, r_rows), (cand, c_rows)))
    out["SAM_mean_spectra_deg"] = float(sp.sam_mean_spectra(
        torch.from_numpy(mean_a).view(1, -1, 1, 1), torch.from_numpy(mean_b).view(1, -1, 1, 1),
        degrees=True))
    tv_real = real.tv[r_rows].mean()
    out["TV_rel_diff"] = float(abs(cand.tv[c_rows].mean() - tv_real) / tv_real)
    if cand.fits and real.fits:
        from scipy.stats import wasserstein_distance

        fa, fb = (np.concatenate([v.fits[i] for i in rows])
                  for v, rows in ((cand, c_rows), (real, r_rows)))
        for j, name in enumerate(cand.fit_names):
            out[f"W1_{name}"] = float(wasserstein_distance(fa[:, j], fb[:, j]))
    return out


def mean_of_dicts(dicts: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([d[k] for d in dicts])) for k in dicts[0]}
