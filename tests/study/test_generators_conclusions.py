"""The generated text of the generator notebooks (hsilib.study.generator_conclusions), checked
by value on hand-made tables: the numbers, the choices and the verdict words."""

import numpy as np
import pandas as pd

from hsilib.study import generator_conclusions as gc


def _table(rows):
    """Metric table from ``{metric: (value, ci_low, ci_high, floor)}``."""
    return pd.DataFrame([{"metric": m, "value": v, "ci_low": lo, "ci_high": hi, "floor": f}
                         for m, (v, lo, hi, f) in rows.items()])


def test_spectral_choice_takes_the_lower_fd_and_says_if_it_is_close():
    weights = {"default": 0.0, "spectral": 1.0}
    tables = {"default": _table({"FD_rand": (0.3, 0.2, 0.5, 0.1)}),
              "spectral": _table({"FD_rand": (0.25, 0.15, 0.45, 0.1)})}
    choice = gc.spectral_choice(tables, weights)
    assert (choice.chosen, choice.weight, choice.overlap, choice.fd) == ("spectral", 1.0, True,
                                                                         "FD_rand")
    assert choice.text.startswith("Validation FD_rand: default 0.3000 [0.2000, 0.5000], with "
                                  "spectral losses 0.2500 [0.1500, 0.4500] (floor 0.1000). "
                                  "**Chosen: spectral** (spectral_loss_weight = 1.0)")
    assert choice.text.endswith("weak preference, not a finding.")
    apart = {"default": _table({"FID": (0.1, 0.05, 0.15, 0.1)}),
             "spectral": _table({"FID": (0.9, 0.8, 1.0, 0.1)})}
    choice = gc.spectral_choice(apart, weights)
    assert (choice.chosen, choice.weight, choice.overlap, choice.fd) == ("default", 0.0, False,
                                                                         "FID")
    assert choice.text.endswith("; the intervals do not overlap.")
    tie = {"default": tables["default"], "spectral": tables["default"]}
    assert gc.spectral_choice(tie, weights).chosen == "default"


def test_copies_and_detectability_verdicts():
    checks = pd.DataFrame([
        {"class": "MM", "fold": 0, "metric": "detectability_AUROC", "value": 0.55,
         "ci_low": 0.45, "ci_high": 0.65, "floor": 0.5},
        {"class": "DN", "fold": 0, "metric": "detectability_AUROC", "value": 0.97,
         "ci_low": 0.93, "ci_high": 1.0, "floor": 0.48},
        {"class": "MM", "fold": 0, "metric": "NN_train_dist_ratio", "value": 0.75,
         "ci_low": 0.6, "ci_high": 0.9, "floor": 1.0},
        {"class": "DN", "fold": 0, "metric": "NN_train_dist_ratio", "value": 1.2,
         "ci_low": 1.0, "ci_high": 1.3, "floor": 1.0}])
    lines = gc.copies_and_detectability(checks, "fold", lambda r: f"f{r}").split("\n")
    assert lines == [
        "- MM f0: detectability AUROC 0.55 [0.45, 0.65] (real-vs-real floor 0.50): not "
        "distinguishable from real (interval covers 0.5).",
        "- DN f0: detectability AUROC 0.97 [0.93, 1.00] (real-vs-real floor 0.48): "
        "distinguishable from real.",
        "- Memorisation ratios range from 0.75 to 1.20 (below 0.8 for at least one generator: "
        "look for copies of training crops)."]


def test_gan_summary_lines():
    choice = gc.SpectralChoice("default", 0.0, False, "FD_rand", "")
    tables = {("MM", 0): _table({"FD_rand": (0.28, 0.1, 0.7, 0.114)}),
              ("MM", 1): _table({"FD_rand": (0.207, 0.1, 0.7, 0.114)})}
    pairs = pd.DataFrame([{"class": "MM", "replicate": "g0", "FastGAN value": 0.28,
                           "StyleGAN2 value": 2.66, "floor": 0.114, "intervals overlap": False}])
    text = gc.gan_summary(choice, tables, pairs, classes=("MM",), replicates=(0, 1),
                          tag=lambda r: f"g{r}", folds=False, profile="quick", steps=300,
                          image_size=64).split("\n")
    assert text[0] == ("- Spectral losses: **default** chosen on validation FD_rand (intervals "
                       "do not overlap).")
    assert text[1].startswith("- MM: validation FD_rand g0 0.280, g1 0.207 against a "
                              "real-vs-real floor of 0.114; the spread between generator seeds")
    assert "Under `quick` the generators train for 300 steps at 64 px" in text[2]
    assert text[3] == ("- MM g0 at about equal training seconds: FastGAN FD_rand 0.280, "
                       "StyleGAN2-ADA 2.660 (floor 0.114; intervals do not overlap).")
    # with the run's budget table the line states the measured time ratio instead
    budget = pd.DataFrame([{"class": "MM", "replicate": "g0", "time ratio": 0.66}])
    text = gc.gan_summary(choice, tables, pairs, classes=("MM",), replicates=(0, 1),
                          tag=lambda r: f"g{r}", folds=False, profile="quick", steps=300,
                          image_size=64, budget=budget).split("\n")
    assert text[3].startswith("- MM g0 with StyleGAN2-ADA at 0.66 x FastGAN's training seconds: ")


def test_kl_sweep_text_names_the_best_weights():
    sweep = pd.DataFrame({"kl_weight": [0.001, 0.01, 0.1], "recon_SAM_deg": [18.8, 19.1, 19.7],
                          "KL_per_image": [15.4, 1.7, 0.05],
                          "sample_FD_rand": [3.5, 2.91, 3.42]})
    text = gc.kl_sweep_text(sweep, "FD_rand")
    assert text.startswith("On the validation crops the sharpest spectra in reconstruction come "
                           "with KL weight 0.001 (SAM 18.80 deg) and the samples closest to "
                           "real ones (FD_rand) with 0.01 (2.910); the KL per validation image "
                           "is 15.40 nats at the smallest weight and 0.05 at the largest.")


def test_vae_summary_lines():
    tables = {("MM", g): _table({"FD_rand": (3.0 + g, 2.5, 3.5, 0.114),
                                 "detectability_AUROC": (1.0, 0.99, 1.0, 0.46)}) for g in (0, 1)}
    recon = pd.DataFrame([{"class": "MM", "SAM_deg_lesion": 18.81, "SAM_mean_spectra_deg": 1.5}])
    compare = pd.DataFrame({"fastgan": [0.243], "vae": [3.5], "floor": [0.114]},
                           index=pd.MultiIndex.from_tuples([("FD_rand", "MM")]))
    checks = pd.DataFrame({"metric": ["NN_train_dist_ratio"] * 2, "value": [0.7, 0.72]})
    sweep = pd.DataFrame({"kl_weight": [0.001, 0.01], "recon_SAM_deg": [18.8, 19.1],
                          "sample_FD_rand": [3.5, 2.91]})
    lines = gc.vae_summary(tables, recon, {"MM": -0.61}, compare, checks, sweep,
                           classes=("MM",), seeds=(0, 1), tag=lambda g: f"g{g}",
                           fd_sweep="FD_rand", kl_weight=0.01, profile="quick", steps=300,
                           image_size=64).split("\n")
    assert lines[0] == (
        "- **MM**: validation FD_rand g0 3.000, g1 4.000 (real-vs-real floor 0.114; FastGAN mean "
        "0.243). Detectability AUROC g0 1.00 [0.99, 1.00], g1 1.00 [0.99, 1.00] (floor 0.46): a "
        "small CNN tells every VAE set from real crops. Reconstructions of validation crops: SAM "
        "18.81 deg on lesion pixels, 1.50 deg between mean spectra; samples have 61 % less "
        "total variation than real crops (smoother: the blur a squared-error likelihood "
        "produces).")
    assert lines[1].startswith("- Memorisation ratios from 0.70 to 0.72 (below 0.8")
    assert lines[2] == ("- KL weight sweep (0.001, 0.01, melanoma, one run each): reconstruction "
                        "SAM from 18.80 to 19.10 deg, sample FD_rand from 2.910 to 3.500; lowest "
                        "sample FD_rand at 0.01, the study's weight is 0.01.")


def test_conditional_summary_lines():
    dice = pd.DataFrame([
        {"model": "real validation crop (floor)", "class": "MM", "dice": 0.45, "ci_low": 0.23,
         "ci_high": 0.67},
        {"model": "cfastgan_mask", "class": "MM", "dice": 0.0, "ci_low": 0.0, "ci_high": 0.0},
        {"model": "spade_mask", "class": "MM", "dice": 0.04, "ci_low": 0.0, "ci_high": 0.1},
        {"model": "cfastgan_mask, all-zero mask: lesion share", "class": "MM", "dice": 0.011,
         "ci_low": np.nan, "ci_high": np.nan}])
    recon = pd.DataFrame([
        {"model": "linear RGB -> 16 bands (training pairs)", "rmse": 0.04, "rmse_lo": 0.038,
         "rmse_hi": 0.042, "sam_deg": 4.4},
        {"model": "SPADE-FastGAN (RGB map)", "rmse": 0.055, "rmse_lo": 0.054, "rmse_hi": 0.057,
         "sam_deg": 7.5},
        {"model": "CycleGAN G_hs", "rmse": 0.041, "rmse_lo": 0.035, "rmse_hi": 0.05,
         "sam_deg": 7.6}])
    hs = pd.DataFrame([{"rgb_rmse": 0.1234, "mean_CIEDE2000": 13.46}])
    shared = {("MM", "shared"): _table({"FD_rand": (2.06, 1.5, 2.5, 0.1)}),
              ("MM", "per_class"): _table({"FD_rand": (0.22, 0.1, 0.4, 0.1)})}
    lines = gc.conditional_summary(dice, recon, hs, shared, classes=("MM",), profile="quick",
                                   steps=150, image_size=64, cyclegan_steps=150).split("\n")
    assert lines[0] == ("- cfastgan_mask: Dice between held-out masks and the segmented samples "
                        "MM 0.00 [0.00, 0.00] (segmentation of the real crops: MM 0.45).")
    assert lines[2] == "- All-zero masks: segmented lesion share MM 0.011."
    assert "; worse than the linear baseline" in lines[3]
    assert "; not distinguishable from the linear baseline" in lines[4]
    assert lines[5] == ("- CycleGAN HSI -> RGB vs the CIE rendering: sRGB RMSE 0.123, mean "
                        "CIEDE2000 13.5.")
    assert lines[6].endswith("(floor 0.100): per-class lower.")


def test_ablation_summary_adds_best_arm_cost_and_budget():
    long = pd.DataFrame([
        {"arm": a, "class": "MM", "seed": s, "metric": "FD_rand", "value": v + 0.01 * (s - 1),
         "ci_low": v - 0.05, "ci_high": v + 0.05, "floor": 0.01}
        for a, v in (("critic_2d", 0.19), ("critic_3d", 0.4), ("dcgan", 0.1)) for s in range(3)])
    recon = pd.DataFrame([{"model": "linear", "rmse": 0.037, "rmse_lo": 0.035, "rmse_hi": 0.039,
                           "sam_deg": 4.1, "sam_deg_lo": 3.9, "sam_deg_hi": 4.3}])
    per_arm = pd.Series({"critic_2d": 17.2, "critic_3d": 50.4, "dcgan": 9.6})
    text = gc.ablation_summary(long, recon, per_arm, classes=("MM", "DN"), profile="quick",
                               shsgan_steps=100, classic_steps=100, image_size=32, n_seeds=3,
                               full_only=("g3d", "attention"))
    lines = text.split("\n")
    assert lines[0].startswith("Intervals in this section: 95% Student-t intervals over each "
                               "arm's training seeds: they cover the spread between training "
                               "runs")
    assert lines[2] == "**Critic ladder, Fréchet distance of the features:**"
    assert ("2-D -> 3-D convolutions: 0.19 -> 0.4 [0.375, 0.425] over 3 seeds, worse, intervals "
            "over seeds apart") in text
    assert "- Lowest mean FD_rand for MM over all arms: **dcgan** (0.1 over 3 seeds)." in lines
    assert not any("for DN" in line for line in lines)  # no DN rows, no DN line
    assert "- Cost: dcgan 10 s to critic_3d 50 s per 1000 steps on this machine" in text
    assert lines[-2].startswith("- Under `quick` every arm trains for 100 (WGAN-GP) / 100 "
                                "(classic) steps at 32 px with 3 seed(s)")
    assert lines[-1] == "- Not run under `quick` (the `full` profile runs them): g3d, attention."


def test_likelihood_text_reads_both_likelihoods_per_replicate():
    def row(arm, rep, fd, lo, hi):
        return {"likelihood": arm, "class": "MM", "replicate": rep, "KL_per_image": 2.0,
                "recon_SAM_deg": 10.0, "FD_rand": fd, "FD_rand_lo": lo, "FD_rand_hi": hi,
                "FD_rand_floor": 0.1}

    names = {"vae": "MSE", "vae_gauss": "Gaussian"}
    apart = pd.DataFrame([row("vae", "g0", 3.0, 2.8, 3.2), row("vae", "g1", 2.9, 2.7, 3.1),
                          row("vae_gauss", "g0", 1.0, 0.9, 1.1),
                          row("vae_gauss", "g1", 1.2, 1.1, 1.3)])
    text = gc.likelihood_text(apart, "FD_rand", names)
    assert text.startswith("- **MM** (FD_rand floor 0.100): MSE: KL 2.0 nats per image, "
                           "reconstruction SAM 10.00 deg, FD_rand g0 3.000 [2.800, 3.200], "
                           "g1 2.900 [2.700, 3.100]; Gaussian:")
    assert text.endswith("The sample intervals are apart for every replicate: Gaussian lower.")
    overlap = apart.assign(FD_rand_hi=lambda t: t.FD_rand_hi.where(
        ~((t.likelihood == "vae_gauss") & (t.replicate == "g1")), 2.8))
    assert gc.likelihood_text(overlap, "FD_rand", names).endswith(
        "The sample intervals overlap for at least one replicate: no difference shown between "
        "the likelihoods on this metric.")
