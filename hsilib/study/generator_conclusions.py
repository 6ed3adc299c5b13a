"""The generated text of the generator notebooks (02-05), from their tables.

Every sentence is built from measured numbers and says what an interval covers; a difference
is called one only when two intervals do not overlap. One function per notebook section:

====================================  ======================================================
notebook 02, section 8                :func:`ablation_summary` (besides
                                      :func:`hsilib.study.ablation.critic_conclusion`)
notebook 03, section 4                :func:`spectral_choice` (spectral losses on or off)
notebook 03, section 11               :func:`copies_and_detectability` (checks 5 and 7)
notebook 03, section 20               :func:`gan_summary`
notebook 04, section 9                :func:`conditional_summary`
notebook 05, section 4                :func:`kl_sweep_text`
notebook 05, section 11               :func:`likelihood_text`
notebook 05, section 13               :func:`vae_summary`
====================================  ======================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ..metrics.intervals import NOT_DISTINGUISHABLE, comparison_verdict
from .ablation import SEED_NOTE, critic_conclusion, reconstruction_conclusion, seed_intervals


def _overlap(a, b) -> bool:
    """Whether the intervals ``[a.ci_low, a.ci_high]`` and ``[b.ci_low, b.ci_high]`` meet."""
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high


@dataclass(frozen=True)
class SpectralChoice:
    """The choice of notebook 03, section 4: the setting with the lower validation Frechet
    distance, its ``spectral_loss_weight``, whether the two intervals overlap, and the text."""

    chosen: str
    weight: float
    overlap: bool
    fd: str
    text: str


def spectral_choice(tables: Mapping[str, pd.DataFrame], weights: Mapping[str, float]
                    ) -> SpectralChoice:
    """Pick ``"default"`` or ``"spectral"`` by the lower Frechet distance (the tables' first
    metric) of the two comparison runs; ties go to ``"default"``."""
    fd = tables["default"].metric.iloc[0]
    rows = {k: t.set_index("metric").loc[fd] for k, t in tables.items()}
    chosen = min(rows, key=lambda k: rows[k].value)
    other = next(k for k in rows if k != chosen)
    overlap = bool(rows[chosen].ci_high >= rows[other].ci_low)
    d, s = rows["default"], rows["spectral"]
    text = (f"Validation {fd}: default {d.value:.4f} [{d.ci_low:.4f}, {d.ci_high:.4f}], with "
            f"spectral losses {s.value:.4f} [{s.ci_low:.4f}, {s.ci_high:.4f}] (floor "
            f"{d.floor:.4f}). **Chosen: {chosen}** (spectral_loss_weight = {weights[chosen]}) "
            "for every generator below"
            + (" -- the intervals overlap, so this is a weak preference, not a finding."
               if overlap else "; the intervals do not overlap."))
    return SpectralChoice(chosen, weights[chosen], overlap, fd, text)


def copies_and_detectability(checks: pd.DataFrame, column: str,
                             tag: Callable[[int], str] = str) -> str:
    """Checks 5 and 7 in words, from :func:`~hsilib.study.generators.tables.checks_table`
    (replicates in ``column``): each detectability AUROC against chance, and the range of the
    memorisation ratios."""
    lines = []
    for _, r in checks[checks.metric == "detectability_AUROC"].iterrows():
        verdict = ("not distinguishable from real (interval covers 0.5)" if r.ci_low <= 0.5
                   else "distinguishable from real")
        lines.append(f"- {r['class']} {tag(r[column])}: detectability AUROC {r.value:.2f} "
                     f"[{r.ci_low:.2f}, {r.ci_high:.2f}] (real-vs-real floor {r.floor:.2f}): "
                     f"{verdict}.")
    mem = checks[checks.metric == "NN_train_dist_ratio"]
    lines.append(f"- Memorisation ratios range from {mem.value.min():.2f} to "
                 f"{mem.value.max():.2f} "
                 + ("(no sign of copying: all near or above 1)." if mem.value.min() > 0.8 else
                    "(below 0.8 for at least one generator: look for copies of training "
                    "crops)."))
    return "\n".join(lines)


def gan_summary(choice: SpectralChoice, tables: Mapping[tuple[str, int], pd.DataFrame],
                pairs: pd.DataFrame, *, classes: Sequence[str], replicates: Sequence[int],
                tag: Callable[[int], str], folds: bool, profile: str, steps: int,
                image_size: int, budget: pd.DataFrame | None = None) -> str:
    """Notebook 03's summary: the spectral-loss choice, each class's validation Frechet
    distance per replicate against the floor, the profile's budget, and FastGAN against
    StyleGAN2-ADA (``pairs``: :func:`~hsilib.study.generators.tables.fd_pairs`) at the
    training seconds the run measured (``budget``:
    :func:`~hsilib.study.generators.tables.budget_table`; without it, "about equal", as
    the profile intends)."""
    fd = choice.fd
    rows = {k: t.set_index("metric").loc[fd] for k, t in tables.items()}
    strength = ("weak preference, intervals overlap" if choice.overlap else
                "intervals do not overlap")
    lines = [f"- Spectral losses: **{choice.chosen}** chosen on validation {fd} ({strength})."]
    for c in classes:
        vals = ", ".join(f"{tag(r)} {rows[c, r].value:.3f}" for r in replicates)
        lines.append(f"- {c}: validation {fd} {vals} against a real-vs-real floor of "
                     f"{rows[c, replicates[0]].floor:.3f}"
                     + (" (each fold against its own validation crops)" if folds else "")
                     + f"; the spread between {'folds' if folds else 'generator seeds'} is part "
                     "of the uncertainty notebook 06 carries forward.")
    lines.append(f"- Under `{profile}` the generators train for {steps} steps at {image_size} px: "
                 "the numbers show the protocol, not the quality that the `full` profile "
                 "(256 x 256, batch 16, up to 100k steps) can reach.")
    ratio = ({(r["class"], r.replicate): r["time ratio"] for _, r in budget.iterrows()}
             if budget is not None else {})
    for _, row in pairs.iterrows():
        key = (row["class"], row.replicate)
        when = (f"with StyleGAN2-ADA at {ratio[key]:.2f} x FastGAN's training seconds"
                if key in ratio else "at about equal training seconds")
        lines.append(f"- {row['class']} {row.replicate} {when}: "
                     f"FastGAN {fd} {row['FastGAN value']:.3f}, StyleGAN2-ADA "
                     f"{row['StyleGAN2 value']:.3f} (floor {row.floor:.3f}; "
                     + ("intervals overlap: no difference shown)." if row["intervals overlap"]
                        else "intervals do not overlap)."))
    return "\n".join(lines)


def ablation_summary(long: pd.DataFrame, recon: pd.DataFrame, per_arm: pd.Series, *,
                     classes: Sequence[str], profile: str, shsgan_steps: int, classic_steps: int,
                     image_size: int, n_seeds: int, full_only: Sequence[str] = ()) -> str:
    """Notebook 02's conclusion: the critic ladder on the Frechet distance and on
    detectability with intervals over training seeds (:data:`~hsilib.study.ablation.SEED_NOTE`
    says what they cover; one seed: no verdict), the RGB-to-HS reconstruction against the
    linear baseline, the best arm per class, the cost per 1000 steps (``per_arm``), the
    profile's budget and the arms that run under ``full`` only (``full_only``)."""
    fd = long.metric.iloc[0]
    text = [f"Intervals in this section: {SEED_NOTE}; with one seed an arm gets no verdict.",
            "", "**Critic ladder, Fréchet distance of the features:**",
            critic_conclusion(long, fd, lower_is_better=True)]
    if "detectability_AUROC" in set(long.metric):
        text += ["", "**Critic ladder, detectability AUROC (0.5: a probe cannot tell them from "
                     "real):**", critic_conclusion(long, "detectability_AUROC",
                                                   lower_is_better=True)]
    text += ["", "**RGB-to-HS reconstruction against the truth:**",
             reconstruction_conclusion(recon)]
    fd_rows = seed_intervals(long, fd).set_index(["class", "arm"])
    for c in classes:
        if c in fd_rows.index.get_level_values(0):
            best = fd_rows.loc[c].value.idxmin()
            r, n = fd_rows.loc[(c, best)], int(fd_rows.loc[(c, best), "n_seeds"])
            text.append(f"- Lowest mean {fd} for {c} over all arms: **{best}** "
                        f"({r.value:.3g} over {n} seed{'s' if n > 1 else ''}).")
    fastest, slowest = per_arm.idxmin(), per_arm.idxmax()
    text.append(f"- Cost: {fastest} {per_arm[fastest]:.0f} s to {slowest} {per_arm[slowest]:.0f} "
                "s per 1000 steps on this machine (timings vary with what else it runs).")
    text.append(f"- Under `{profile}` every arm trains for {shsgan_steps} (WGAN-GP) / "
                f"{classic_steps} (classic) steps at {image_size} px with {n_seeds} seed(s): "
                "the table shows the protocol at work, not what the `full` settings reach.")
    if full_only:
        text.append(f"- Not run under `{profile}` (the `full` profile runs them): "
                    + ", ".join(full_only) + ".")
    return "\n".join(text)


def conditional_summary(dice_table: pd.DataFrame, recon: pd.DataFrame, hs_to_rgb: pd.DataFrame,
                        shared: Mapping[tuple[str, str], pd.DataFrame], *,
                        classes: Sequence[str], profile: str, steps: int, image_size: int,
                        cyclegan_steps: int) -> str:
    """Notebook 04's summary: shape fidelity of the mask models against the segmentation of
    the real crops, the all-zero mask, each RGB-to-16-band model against the linear baseline
    on each RGB input (``recon``'s ``input`` column: CIE rendering, camera photograph),
    CycleGAN's RGB against the CIE rendering, and one class-conditional generator against one
    per class (``shared``: tables by ``(class, "shared" | "per_class")``)."""
    fd = shared[classes[0], "shared"].metric.iloc[0]
    floor = dice_table[dice_table.model == "real validation crop (floor)"]
    lines = []
    for v in ("cfastgan_mask", "spade_mask"):
        dd = dice_table[dice_table.model == v]
        lines.append(f"- {v}: Dice between held-out masks and the segmented samples "
                     + ", ".join(f"{r['class']} {r.dice:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
                                 for _, r in dd.iterrows())
                     + " (segmentation of the real crops: "
                     + ", ".join(f"{r['class']} {r.dice:.2f}" for _, r in floor.iterrows())
                     + ").")
    zero = dice_table[dice_table.model.str.contains("all-zero")]
    lines.append("- All-zero masks: segmented lesion share "
                 + ", ".join(f"{r['class']} {r.dice:.3f}" for _, r in zero.iterrows()) + ".")
    recon = recon if "input" in recon.columns else recon.assign(input="")
    for source, rec in recon.groupby("input", sort=False):
        rec = rec.set_index("model")
        base = rec.loc["linear RGB -> 16 bands (training pairs)"]
        on = f" ({source} in)" if source else ""
        for k in ("SPADE-FastGAN (RGB map)", "CycleGAN G_hs"):
            r = rec.loc[k]
            verdict = comparison_verdict((r.rmse_lo, r.rmse_hi), (base.rmse_lo, base.rmse_hi))
            verdict = {"better": "better than", "worse": "worse than"}.get(
                verdict, "not distinguishable from")
            lines.append(f"- {k}{on}: RMSE {r.rmse:.4f} [{r.rmse_lo:.4f}, {r.rmse_hi:.4f}], SAM "
                         f"{r.sam_deg:.2f} deg; {verdict} the linear baseline (RMSE "
                         f"{base.rmse:.4f} [{base.rmse_lo:.4f}, {base.rmse_hi:.4f}]).")
    lines.append(f"- CycleGAN HSI -> RGB vs the CIE rendering: sRGB RMSE "
                 f"{hs_to_rgb.rgb_rmse[0]:.3f}, mean CIEDE2000 {hs_to_rgb.mean_CIEDE2000[0]:.1f}.")
    for c in classes:
        a = shared[c, "shared"].set_index("metric").loc[fd]
        b = shared[c, "per_class"].set_index("metric").loc[fd]
        lines.append(f"- {c} {fd}: shared class-conditional {a.value:.3f} [{a.ci_low:.3f}, "
                     f"{a.ci_high:.3f}], per-class {b.value:.3f} [{b.ci_low:.3f}, "
                     f"{b.ci_high:.3f}] (floor {a.floor:.3f}): "
                     + ("intervals overlap, no difference shown." if _overlap(a, b) else
                        f"{'shared' if a.value < b.value else 'per-class'} lower."))
    lines.append(f"- Under `{profile}` every generator trains {steps} steps at {image_size} px "
                 f"(CycleGAN {cyclegan_steps}), one generator seed: these numbers show the "
                 "protocol, not the quality the `full` profile can reach.")
    return "\n".join(lines)


def kl_sweep_text(sweep: pd.DataFrame, fd: str) -> str:
    """Notebook 05's reading of the KL-weight sweep (columns ``kl_weight``,
    ``recon_SAM_deg``, ``KL_per_image``, ``sample_<fd>``): which weight gives the sharpest
    reconstructed spectra and which the samples closest to real."""
    best_rec = sweep.loc[sweep.recon_SAM_deg.idxmin()]
    best_fd = sweep.loc[sweep[f"sample_{fd}"].idxmin()]
    return (f"On the validation crops the sharpest spectra in reconstruction come with KL weight "
            f"{best_rec.kl_weight:g} (SAM {best_rec.recon_SAM_deg:.2f} deg) and the samples "
            f"closest to real ones ({fd}) with {best_fd.kl_weight:g} "
            f"({best_fd[f'sample_{fd}']:.3f}); the KL per validation image is "
            f"{sweep.KL_per_image.iloc[0]:.2f} nats at the smallest weight and "
            f"{sweep.KL_per_image.iloc[-1]:.2f} at the largest. One run per weight: a difference "
            "smaller than the spread between generator seeds (section 11) is not a finding.")


def _likelihood_verdict(a: pd.DataFrame, b: pd.DataFrame, fd: str, names: list[str]) -> str:
    """Whether the ``fd`` intervals of two likelihoods (rows by replicate) are apart for every
    replicate (:func:`~hsilib.metrics.intervals.comparison_verdict`), and which is lower."""
    verdicts = {comparison_verdict((b.loc[r, f"{fd}_lo"], b.loc[r, f"{fd}_hi"]),
                                   (a.loc[r, f"{fd}_lo"], a.loc[r, f"{fd}_hi"]))
                for r in a.index.intersection(b.index)}
    if not verdicts or NOT_DISTINGUISHABLE in verdicts:
        return ("The sample intervals overlap for at least one replicate: no difference shown "
                "between the likelihoods on this metric.")
    if len(verdicts) > 1:
        return "The sample intervals are apart for every replicate, but not in one direction."
    lower = names[1] if verdicts == {"better"} else names[0]
    return f"The sample intervals are apart for every replicate: {lower} lower."


def likelihood_text(table: pd.DataFrame, fd: str, names: Mapping[str, str]) -> str:
    """Notebook 05's reading of the two likelihoods (``table``:
    :func:`~hsilib.study.generators.vae.likelihood_table`; ``names``: prefix -> short name):
    per class, each one's mean KL per image and reconstruction SAM, and the sample ``fd`` per
    replicate, a difference only where both replicates' intervals are apart."""
    lines = []
    arms = list(dict.fromkeys(table.likelihood))
    for c, rows in table.groupby("class", sort=False):
        parts = []
        for arm in arms:
            a = rows[rows.likelihood == arm]
            parts.append(f"{names[arm]}: KL {a.KL_per_image.mean():.1f} nats per image, "
                         f"reconstruction SAM {a.recon_SAM_deg.mean():.2f} deg, {fd} "
                         + ", ".join(f"{r.replicate} {r[fd]:.3f} [{r[f'{fd}_lo']:.3f}, "
                                     f"{r[f'{fd}_hi']:.3f}]" for _, r in a.iterrows()))
        line = f"- **{c}** ({fd} floor {rows[f'{fd}_floor'].mean():.3f}): " + "; ".join(parts)
        if len(arms) == 2:
            line += ". " + _likelihood_verdict(*(rows[rows.likelihood == arm]
                                                 .set_index("replicate") for arm in arms),
                                               fd, [names[arm] for arm in arms])
        lines.append(line)
    return "\n".join(lines)


def vae_summary(tables: Mapping[tuple[str, int], pd.DataFrame], recon: pd.DataFrame,
                tv: Mapping[str, float], compare: pd.DataFrame, checks: pd.DataFrame,
                sweep: pd.DataFrame, *, classes: Sequence[str], seeds: Sequence[int],
                tag: Callable[[int], str], fd_sweep: str, kl_weight: float, profile: str,
                steps: int, image_size: int) -> str:
    """Notebook 05's summary: per class the validation Frechet distance per seed against the
    floor and FastGAN's mean (``compare``: the family means), detectability against chance,
    reconstruction angles and the change of total variation (``tv``: mean over seeds, per
    class); the memorisation ratios; the KL sweep; the profile's budget."""
    def row(c, g, metric):
        return tables[c, g].set_index("metric").loc[metric]

    fd = tables[classes[0], seeds[0]].metric.iloc[0]
    lines = []
    for c in classes:
        fds = ", ".join(f"{tag(g)} {row(c, g, fd).value:.3f}" for g in seeds)
        det = [row(c, g, "detectability_AUROC") for g in seeds]
        dets = ", ".join(f"{tag(g)} {d.value:.2f} [{d.ci_low:.2f}, {d.ci_high:.2f}]"
                         for g, d in zip(seeds, det, strict=True))
        rec = recon.set_index("class").loc[c]
        gan = compare.loc[(fd, c)] if (fd, c) in compare.index else None
        lines.append(
            f"- **{c}**: validation {fd} {fds} (real-vs-real floor {row(c, seeds[0], fd).floor:.3f}"
            + (f"; FastGAN mean {gan['fastgan']:.3f}" if gan is not None and "fastgan" in gan
               else "") + f"). Detectability AUROC {dets} (floor {det[0].floor:.2f}): "
            + ("a small CNN tells every VAE set from real crops"
               if all(d.ci_low > 0.5 for d in det) else
               "for at least one seed the probe cannot tell the samples from real crops")
            + f". Reconstructions of validation crops: SAM {rec.SAM_deg_lesion:.2f} deg on lesion "
            f"pixels, {rec.SAM_mean_spectra_deg:.2f} deg between mean spectra; samples have "
            f"{abs(tv[c]) * 100:.0f} % {'less' if tv[c] < 0 else 'more'} total variation than "
            "real crops"
            + (" (smoother: the blur a squared-error likelihood produces)." if tv[c] < 0
               else "."))
    mem = checks[checks.metric == "NN_train_dist_ratio"].value
    lines.append(
        f"- Memorisation ratios from {mem.min():.2f} to {mem.max():.2f} "
        + ("(all near or above 1: no sign of copying)." if mem.min() > 0.8 else
           "(below 0.8 for at least one VAE: its samples lie nearer to training crops than "
           "validation crops do; a smooth average image is near many crops at once, so look at "
           "the samples and the interpolations above before reading this as copying)."))
    best = sweep.loc[sweep[f"sample_{fd_sweep}"].idxmin()]
    weights = ", ".join(f"{w:g}" for w in sweep.kl_weight)
    lines.append(
        f"- KL weight sweep ({weights}, melanoma, one run each): reconstruction SAM from "
        f"{sweep.recon_SAM_deg.min():.2f} to {sweep.recon_SAM_deg.max():.2f} deg, sample "
        f"{fd_sweep} from {sweep[f'sample_{fd_sweep}'].min():.3f} to "
        f"{sweep[f'sample_{fd_sweep}'].max():.3f}; lowest sample {fd_sweep} at "
        f"{best.kl_weight:g}, the study's weight is {kl_weight:g}.")
    lines.append(f"- Under `{profile}` the VAEs train for {steps} steps at {image_size} px: the "
                 "numbers show the protocol and the direction of the trade-off, not the quality "
                 "the `full` profile can reach.")
    return "\n".join(lines)

