"""The arms of notebook 02's ablation run through the generator study: one generator per arm,
class and seed (the AC-GAN: one per seed for both classes), trained, drawn from, measured,
exported.

:class:`Arms` builds each arm's config (:func:`hsilib.study.ablation.arm_config`; the
RGB-to-HS arm also gets the normaliser's reflectance range for its rendering loss), trains the
arms on the study's data (the RGB-to-HS arm on unpaired RGB images, the AC-GAN on both
classes with their labels) and keeps the runs by ``(arm, class, seed)``, ``class`` None for the
AC-GAN. The tables of the notebook (parameters, timing, the arm x class table per seed and
over seeds, the RGB-to-HS reconstruction from CIE renderings and camera photographs) are
methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch

from ...data.samplers import TensorSampler, UnpairedSampler, augmentation
from ...metrics.reconstruction import LinearRGBToHS, band_rmse, reconstruction_summary
from ...models import registry
from ...models.shsgan import n_parameters
from ..ablation import ARMS, arm_config, seed_intervals
from .camera import CAMERA, CIE
from .study import GeneratorRun, GeneratorStudy

RGB_ARM, AC_ARM = "shsgan_rgb", "acgan"
#: the rows of the arm x class table
SHOWN = ("KID", "FD_spectral_lesion", "SAM_mean_spectra_deg", "NN_train_dist_ratio",
         "detectability_AUROC")


def run_name(arm: str, cls: str | None, seed: int) -> str:
    """``shsgan_<arm>_<cls>_g<seed>``, or ``shsgan_<arm>_g<seed>`` for both classes."""
    return f"shsgan_{arm}_g{seed}" if cls is None else f"shsgan_{arm}_{cls.lower()}_g{seed}"


def _cell(r) -> str:
    return f"{r.value:.3g} [{r.ci_low:.3g}, {r.ci_high:.3g}] (floor {r.floor:.3g})"


class Arms(dict):
    """Runs of notebook 02 by ``(arm, class, seed)`` (see the module docstring).

    ``study``: the generator study (its seeds are the ablation's); ``cfg``: the
    ``ablation_study`` section; ``sections``: the resolved profile (its ``shsgan`` and
    ``classic`` sections); ``rgb``: unpaired RGB images per class (N x 3 x S x S in [0, 1])."""

    def __init__(self, study: GeneratorStudy, cfg: Any, sections: Any,
                 rgb: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        self.study, self.cfg, self.sections, self.rgb = study, cfg, sections, rgb
        norm = study.normaliser()
        self.reflectance_range = dict(reflectance_min=tuple(float(v) for v in norm.band_min),
                                      reflectance_max=tuple(float(v) for v in norm.band_max))

    def config(self, arm: str) -> Any:
        """The generator config of ``arm``."""
        return arm_config(self.sections, arm,
                          **(self.reflectance_range if arm == RGB_ARM else {}))

    def parameters(self) -> pd.DataFrame:
        """One row per arm: family, description, parameters of G and D, steps, batch, lr."""
        rows = []
        for arm in self.cfg.arms:
            cfg = self.config(arm)
            params = n_parameters(registry.build(cfg, seed=0))
            rows.append({"arm": arm, "family": cfg.family, "what": ARMS[arm][2],
                         "G params": params["G"], "D params": params["D"], "steps": cfg.steps,
                         "batch": cfg.batch_size, "lr": cfg.lr})
        return pd.DataFrame(rows).set_index("arm")

    def trained(self, arm: str, cls: str | None) -> bool:
        """Whether ``arm`` trains a generator of ``cls`` (DN only for ``dn_arms``)."""
        return not (cls == "DN" and self.cfg.dn_arms is not None and arm not in self.cfg.dn_arms)

    def train(self) -> Arms:
        """Train every arm, seed and class in turn; each run's losses are saved as
        ``losses_<run name>``."""
        for arm in self.cfg.arms:
            for seed in self.cfg.seeds:
                for cls in (None,) if arm == AC_ARM else self.study.classes:
                    if self.trained(arm, cls):
                        run = self._train(arm, cls, seed)
                        self[arm, cls, seed] = run
                        self.study.nb.save_table(run.history(), f"losses_{run.name}")
        return self

    def _train(self, arm: str, cls: str | None, seed: int) -> GeneratorRun:
        cfg, d, name = self.config(arm), self.study.data(seed), run_name(arm, cls, seed)
        if arm == AC_ARM:  # one generator for both classes: labels 1 = MM, 0 = DN
            both = d.stacked("train", self.study.classes)
            sampler = TensorSampler({"image": both.images, "label": both.labels},
                                    cfg.batch_size, seed=seed,
                                    augment=augmentation(cfg.train_augment))
            return self.study.train(cfg, name, sampler=sampler, data_ids=both.ids,
                                    replicate=seed)
        if arm == RGB_ARM:
            sampler = UnpairedSampler(d.images(cls, "train"), self.rgb[cls], cfg.batch_size,
                                      seed=seed, augment=augmentation(cfg.train_augment))
            return self.study.train(cfg, name, sampler=sampler, data_ids=d.ids(cls, "train"),
                                    replicate=seed)
        return self.study.train(cfg, name, cls=cls, replicate=seed)

    def run(self, arm: str, cls: str, seed: int) -> GeneratorRun | None:
        """The run that draws ``cls`` for ``arm`` (the AC-GAN's for both classes)."""
        return self.get((arm, None if arm == AC_ARM else cls, seed))

    def draw(self, arm: str, cls: str, seed: int, n: int) -> torch.Tensor:
        """``n`` images of class ``cls`` (in [-1, 1], the master seed): the AC-GAN is told the
        class, the RGB-to-HS arm translates the class's unpaired RGB images."""
        condition = ({"cls": cls} if arm == AC_ARM else
                     {"rgb": self.rgb[cls]} if arm == RGB_ARM else {})
        return self.run(arm, cls, seed).objective.sample(n, seed=self.study.seed, **condition)

    def samples(self, n: int) -> dict[tuple[str, str, int], torch.Tensor]:
        """``n`` samples of every arm, class and seed that has a run, in reflectance."""
        return {(a, c, s): self.study.to_reflectance(self.draw(a, c, s, n))
                for a in self.cfg.arms for c in self.study.classes for s in self.cfg.seeds
                if self.run(a, c, s) is not None}

    def evaluate(self, fakes: Mapping, extractor: Any) -> pd.DataFrame:
        """The metric protocol of every evaluated arm x class x seed (DN for ``dn_arms``),
        recorded as variant ``<arm>``; all rows in one long table (columns ``arm``,
        ``class``, ``seed`` added)."""
        tables = {}
        for (a, c, s), refl in fakes.items():
            if self.trained(a, c):
                tables[a, c, s] = self.study.evaluate(c, self.study.unit(refl), s,
                                                      extractor=extractor)
                self.study.record(tables[a, c, s], self.run(a, c, s), variant=a, cls=c)
        return pd.concat([t.assign(arm=a, **{"class": c}, seed=s)
                          for (a, c, s), t in tables.items()], ignore_index=True)

    def timing(self) -> pd.DataFrame:
        """Training seconds of every run and per 1000 steps."""
        return pd.DataFrame([{"run": run.name, "arm": a, "steps": run.step, "wall_s": run.wall_s,
                              "s_per_1000_steps": 1000 * run.wall_s / run.step}
                             for (a, _, _), run in self.items()])

    def wide_table(self, long: pd.DataFrame, params: pd.DataFrame, per_arm: pd.Series
                   ) -> pd.DataFrame:
        """The arm x class table: per arm, class and seed the shown metrics as
        ``value [interval] (floor)``, the parameters of G + D and seconds per 1000 steps."""
        shown = [m for m in (long.metric.iloc[0], *SHOWN) if m in set(long.metric)]
        wide = (long[long.metric.isin(shown)].assign(text=lambda t: t.apply(_cell, axis=1))
                .pivot_table(index=["arm", "class", "seed"], columns="metric", values="text",
                             aggfunc="first")[shown])
        wide["G+D params"] = [int(params.loc[a, "G params"] + params.loc[a, "D params"])
                              for a, _, _ in wide.index]
        wide["s per 1000 steps"] = [round(per_arm[a], 1) for a, _, _ in wide.index]
        order = list(self.cfg.arms)
        return wide.reindex(sorted(wide.index, key=lambda k: (order.index(k[0]), k[1], k[2])))

    def seed_table(self, long: pd.DataFrame) -> pd.DataFrame:
        """The arm x class table over training seeds: per arm and class the shown metrics as
        ``mean [interval over seeds] (n seeds)`` (:func:`~hsilib.study.ablation.seed_intervals`;
        one seed: the value alone) beside the mean real-vs-real floor."""
        shown = [m for m in (long.metric.iloc[0], *SHOWN) if m in set(long.metric)]
        parts = []
        for m in shown:
            t = seed_intervals(long, m)
            t[m] = [f"{r.value:.3g} [{r.ci_low:.3g}, {r.ci_high:.3g}] ({r.n_seeds} seeds)"
                    if r.n_seeds > 1 else f"{r.value:.3g} (1 seed)" for r in t.itertuples()]
            t[f"{m} floor"] = t.floor.map(lambda v: f"{v:.3g}")
            parts.append(t.set_index(["arm", "class"])[[m, f"{m} floor"]])
        wide = pd.concat(parts, axis=1)
        order = list(self.cfg.arms)
        return wide.reindex(sorted(wide.index, key=lambda k: (order.index(k[0]), k[1])))

    def reconstruction(self, project: Any, n_recon: int | None, n_pixels: int,
                       camera: Mapping[str, torch.Tensor] | None = None
                       ) -> tuple[pd.DataFrame, dict[tuple[str, str], Any], int]:
        """The RGB-to-HS arm against the truth: the validation cubes of every class whose
        RGB-to-HS generators were trained for every seed, reconstructed from each of two inputs
        by each seed's generator and by a linear map fitted on the CIE renderings of the
        training crops: their CIE renderings (``project``) and, with ``camera`` (per class, the
        camera photographs of the same validation crops, :mod:`~.camera`; None on real data),
        their camera photographs. Returns the table (column ``input``; band RMSE, SAM,
        chromophore errors with intervals), the RMSE per band by ``(model, input)`` and the
        number of cubes."""
        study, d = self.study, self.study.data()
        classes = tuple(c for c in study.classes
                        if all(self.run(RGB_ARM, c, s) is not None for s in self.cfg.seeds))
        with torch.no_grad():
            truth = {c: study.to_reflectance(d.images(c, "val", "symmetric"))[:n_recon]
                     for c in classes}
            inputs = {CIE: {c: project(truth[c]).clamp(0, 1) for c in classes}}
            if camera is not None:
                inputs[CAMERA] = {c: camera[c][:n_recon] for c in classes}
            train_refl = torch.cat([study.to_reflectance(d.images(c, "train"))
                                    for c in study.classes])
            linear = LinearRGBToHS().fit(project(train_refl).clamp(0, 1), train_refl)
        truth_all = torch.cat([truth[c] for c in classes])
        rows, per_band = [], {}
        for name, rgb in inputs.items():
            preds = {"linear": linear.predict(torch.cat([rgb[c] for c in classes]))}
            for s in self.cfg.seeds:  # each class's images through its own generator
                preds[f"{RGB_ARM}_g{s}"] = torch.cat([study.to_reflectance(
                    self[RGB_ARM, c, s].objective.translate(rgb[c])) for c in classes])
            for model, pred in preds.items():
                rows.append({"model": model, "input": name, "classes": "+".join(classes),
                             **reconstruction_summary(pred, truth_all, n_pixels=n_pixels,
                                                      seed=study.seed,
                                                      n_boot=study.metrics.n_boot)})
                per_band[model, name] = band_rmse(pred, truth_all)
        return pd.DataFrame(rows), per_band, len(truth_all)

    def export(self, fakes: Sequence[tuple[str, str, int]], n: int) -> dict[str, pd.DataFrame]:
        """``n`` crops of every drawn arm, class and seed into ``synthetic/<run name with
        class>/`` (the RGB-to-HS arm's translations written directly)."""
        out = {}
        for a, c, s in fakes:
            name, run = run_name(a, c, s), self.run(a, c, s)
            if a == RGB_ARM:
                out[name] = self.study.write(self.draw(a, c, s, n), run, name, cls=c,
                                             generator=f"shsgan_{a}_g{s}")
            else:
                out[name] = self.study.export(run, name, cls=c, n=n, generator=f"shsgan_{a}_g{s}",
                                              condition={"cls": c} if a == AC_ARM else None)
        return out
