"""A new generator family needs only its own file: this one lives entirely in this test.

It registers a tiny critic-based family (two critic updates per generator update, no EMA of the
critic) that declares its optimisers and writes one batch of samples and of scores, then trains
it, resumes it exactly, exports it through ``synth`` with critic filtering, and records its
evaluation in the generator-results table, all through the project's generic machinery (the
base class batches, seeds and concatenates).
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from hsilib import config
from hsilib.data.datasets import BandNormaliser, CropDataset, read_index
from hsilib.metrics import protocol
from hsilib.models import registry
from hsilib.models.objective import Objective, Step, mean_logs
from hsilib.synth import export_synthetic
from hsilib.train.trainer import make_trainer

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
