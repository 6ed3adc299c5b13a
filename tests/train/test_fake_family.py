"""A new generator family needs only its own file: this one lives entirely in this test.

It registers a tiny critic-based family (two critic updates per generator update, no EMA of the
critic) that declares its optimisers and writes one batch of samples and of scores, then trains
it, resumes it exactly, exports it through ``synth`` with critic filtering, and records its
evaluation in the generator-results table, all through the project's generic machinery (the
base class batches, seeds and concatenates); and it runs a whole generator study of that family
through the notebooks' layer (:mod:`hsilib.study.generators`): train one generator per class and
seed, sample, evaluate, record, export and audit.
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import write_fake_run
from torch import nn

from hsilib import config
from hsilib.data.datasets import BandNormaliser, CropDataset, read_index
from hsilib.metrics import protocol
from hsilib.models import registry
from hsilib.models.objective import Objective, Step, mean_logs
from hsilib.notebook import setup
from hsilib.study.generators import GeneratorStudy
from hsilib.synth import export_synthetic
from hsilib.train.trainer import make_trainer, snapshot_path

SIZE, BANDS = 8, 16


@dataclass(frozen=True)
class TinyConfig(config.GeneratorConfig):
    family: ClassVar[str] = "tiny"

    image_size: int = SIZE
    batch_size: int = 4
    lr: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    n_critic: int = 2


class TinyObjective(Objective):
    """G: a learnt image plus scaled noise; D: a linear critic of the band means (WGAN loss)."""

    family = "tiny"
    ema_nets = ("G",)
    optimizer_nets = {"G": ("G",), "D": ("D",)}

    def __init__(self, cfg: TinyConfig) -> None:
        G = nn.ParameterDict({"mean": nn.Parameter(torch.zeros(1, BANDS, SIZE, SIZE)),
                              "scale": nn.Parameter(torch.ones(1))})
        super().__init__(cfg, {"G": G, "D": nn.Linear(BANDS, 1)})

    def sample_batch(self, G, n, gen=None):
        noise = torch.randn(n, BANDS, SIZE, SIZE, generator=gen)
        return torch.tanh(G["mean"] + G["scale"] * noise)

    def score_batch(self, images):
        return self.nets["D"](images.mean((2, 3))).squeeze(1)

    def train_step(self, step: Step) -> dict[str, float]:
        logs = []
        for k in range(self.cfg.n_critic):
            real = step.batch(k)["image"]
            fake = self.sample_batch(self.nets["G"], len(real)).detach()
            loss = self.score_batch(fake).mean() - self.score_batch(real).mean()
            step.update("D", loss)
            logs.append({"d_loss": loss.item()})
        loss_g = -self.score_batch(self.sample_batch(self.nets["G"], len(real))).mean()
        step.update("G", loss_g)
        return mean_logs(logs) | {"g_loss": loss_g.item()}


registry.register("tiny", TinyConfig, TinyObjective)


def _images(n=12, seed=0):
    return torch.rand(n, BANDS, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


class _BandMoments(nn.Module):
    """A feature extractor for the metrics: per-band means and standard deviations."""

    def forward(self, x):
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


def test_tiny_family_trains_resumes_exports_and_is_recorded(tmp_path):
    cfg = TinyConfig()
    trainer = make_trainer(cfg, _images(), seed=0, device="cpu")
    assert set(trainer.optimizers) == {"G", "D"} and trainer.desc == "tiny"
    assert trainer.optimizers["D"].param_groups[0]["lr"] == 1e-2
    trainer.fit(2, checkpoint=tmp_path / "tiny.pt")
    trainer.fit(4)
    # resume: a fresh run (other weights, other global state) continues bit-identically
    torch.manual_seed(99)
    resumed = make_trainer(cfg, _images(), seed=5, device="cpu").load(tmp_path / "tiny.pt")
    resumed.fit(4, checkpoint=tmp_path / "tiny.pt")
    assert resumed.history == trainer.history
    assert resumed.history[0].keys() == {"step", "d_loss", "g_loss"}  # critic logs averaged
    for a, b in zip(resumed.objective.state_dict()["ema"].values(),
                    trainer.objective.state_dict()["ema"].values(), strict=True):
        assert torch.equal(a, b)

    # export through synth: the checkpoint names its family, the critic filters
    rng = np.random.default_rng(0)
    norm = BandNormaliser().fit([rng.uniform(0.1, 0.5, (4, 4, BANDS)).astype(np.float32)])
    out = tmp_path / "synthetic" / "tiny_mm"
    export_synthetic(tmp_path / "tiny.pt", out, n=6, cls="MM", normaliser=norm, seed=1,
                     filter_top_fraction=0.5, device="cpu")
    index = read_index(out)
    assert len(index) == 6 and (index.generator == "tiny").all() and (index.label == 1).all()
    objective, ckpt = registry.load(tmp_path / "tiny.pt")
    drawn = objective.sample(12, seed=1)
    best = np.sort(np.argsort(-objective.score(drawn).numpy(), kind="stable")[:6])
    assert ckpt["step"] == 4
    side = pd.read_json(out / "export.json", typ="series")
    assert side["family"] == "tiny" and side["kept_indices"] == best.tolist()
    first = CropDataset(out, normaliser=norm, value_range="symmetric")[0]["image"]
    assert torch.allclose(first, drawn[best[0]], atol=1e-5)  # the best-scored sample, stored

    # evaluation lands in the generator-results table, once per key
    unit = (drawn[:6] + 1) / 2
    table = protocol.evaluate_generator(unit, (_images() + 1) / 2, (_images(8, seed=1) + 1) / 2,
                                        cfg=config.MetricsConfig(batch_size=4, n_pixels=500),
                                        extractor=_BandMoments())
    csv = tmp_path / "generator_metrics.csv"
    for _ in range(2):  # a rerun replaces its rows
        protocol.record_generator_metrics(csv, table, notebook="99", family="tiny",
                                          variant="test", cls="MM", seed=0, step=4, wall_s=1.5)
    results = protocol.read_generator_metrics(csv)
    assert len(results) == len(table) and (results.family == "tiny").all()
    assert list(results.columns) == protocol.RESULT_COLUMNS
    np.testing.assert_allclose(results.value, table.value)
    assert (results.step == 4).all() and (results.wall_s == 1.5).all()


def test_tiny_family_runs_a_whole_study(tmp_path):
    index, splits = write_fake_run(tmp_path, n_per_class=12)
    nb = setup("03", "smoke", seed=0, run_dir=tmp_path)  # snapshot_steps (1,), smoke metrics
    study = GeneratorStudy(nb, image_size=SIZE, seeds=(0, 1))
    data = study.data()

    # train: one run per class and seed, checkpoint, snapshot, losses table, wall time
    runs = study.train_family(TinyConfig(steps=3), "tiny")
    assert list(runs) == [("MM", 0), ("MM", 1), ("DN", 0), ("DN", 1)]
    for (c, r), run in runs.items():
        assert run.checkpoint == tmp_path / "checkpoints" / f"tiny_{c.lower()}_g{r}.pt"
        assert run.step == 3 and run.wall_s > 0 and len(run.history()) == 3
        assert snapshot_path(run.checkpoint, 1).is_file()
        assert (tmp_path / "artifacts" / "results" / f"03_losses_{run.name}.csv").is_file()
        ckpt = registry.read_checkpoint(run.checkpoint)
        assert ckpt["data_ids"] == list(data.ids(c, "train")) and ckpt["step"] == 3
    assert not torch.equal(runs["MM", 0].objective.nets["G"]["mean"],
                           runs["MM", 1].objective.nets["G"]["mean"])  # seeds differ

    # sample: the EMA generator's images at the master seed, in reflectance
    fake = runs.sample(6)
    torch.testing.assert_close(fake["DN", 1], study.normaliser().inverse(
        runs["DN", 1].objective.sample(6, seed=0), value_range="symmetric", band_axis=1))

    # evaluate and record: the protocol against the validation crops, one table per run
    tables = runs.evaluate(fake, extractor=_BandMoments())
    direct = protocol.evaluate_generator(
        study.unit(fake["MM", 0]), (data.images("MM", "train") + 1) / 2,
        data.images("MM", "val"), cfg=nb.study.metrics, extractor=_BandMoments(), seed=0,
        groups={"real_train": splits.set_index("id").source[list(data.ids("MM", "train"))]
                .to_numpy(),
                "real_heldout": splits.set_index("id").source[list(data.ids("MM", "val"))]
                .to_numpy()},
        to_reflectance=lambda x: study.normaliser().inverse(x, value_range="unit", band_axis=1),
        device="cpu")
    pd.testing.assert_frame_equal(tables["MM", 0], direct)
    recorded = protocol.read_generator_metrics(nb.run.generator_metrics)
    assert len(recorded) == sum(len(t) for t in tables.values())
    assert set(recorded.family) == {"tiny"} and set(recorded.variant) == {"final"}
    assert set(recorded.notebook) == {"03"} and (recorded.step == 3).all()
    mine = recorded[(recorded["class"] == "DN") & (recorded.seed == 1)].set_index("metric")
    np.testing.assert_allclose(mine.value[tables["DN", 1].metric], tables["DN", 1].value)
    assert mine.wall_s.iloc[0] == pytest.approx(runs["DN", 1].wall_s)  # through the CSV

    # export: one crop folder per run, the generator named by family and replicate
    exported = runs.export(4, batch_size=4)
    folder = tmp_path / "artifacts" / "synthetic" / "tiny_dn_g1"
    written = read_index(folder)
    assert len(exported["DN", 1]) == 4 and len(written) == 4
    assert (written.generator == "tiny_g1").all() and written.is_synthetic.all()
    assert (written["class"] == "DN").all()

    # audit: every checkpoint trained on training crops of its class only
    audit = study.audit("tiny_*.pt")
    assert list(audit.checkpoint) == sorted(f"{r.name}.pt" for r in runs.values())
    n_train = {c: len(data.ids(c, "train")) for c in ("MM", "DN")}
    assert list(audit.train) == [n_train[n.split("_")[1].upper()] for n in audit.checkpoint]
    assert (audit[["val", "test", "unknown"]] == 0).all().all()
