"""Notebook 05: the KL weight's trade-off, read off the sweep."""

from __future__ import annotations

from scipy import stats

from ._run import result


def kl_tradeoff(run) -> dict[str, float]:
    """Spearman correlations over the sweep of ``05_kl_sweep.csv`` between the KL weight and
    the KL per image (a heavier KL term squeezes the codes: expect it negative), the
    reconstruction error and the samples' FD_rand, and the number of weights swept."""
    sweep = result(run, "05_kl_sweep", "05_vae").sort_values("kl_weight")
    out = {"n_weights": float(len(sweep))}
    for column in ("KL_per_image", "recon_MSE", "sample_FD_rand"):
        out[column] = float(stats.spearmanr(sweep["kl_weight"], sweep[column]).statistic)
    return out
