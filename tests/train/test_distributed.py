"""Data-parallel training under torchrun (gloo, 2 CPU processes) equals single-process training on
the concatenated batch, and resumes exactly."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]

# A deterministic family (no noise, no batch statistics): a per-band affine map trained to
# reproduce its input, so data parallelism must reproduce the single-process update exactly.
FAMILY = textwrap.dedent('''
    from dataclasses import dataclass
    from typing import ClassVar

    import torch
    from torch import nn

    from hsilib import config
    from hsilib.models import registry
    from hsilib.models.objective import Objective


    @dataclass(frozen=True)
    class AffineConfig(config.GeneratorConfig):
        family: ClassVar[str] = "affine_test"
        image_size: int = 4
        n_bands: int = 3
        batch_size: int = 4
        lr: float = 0.05
        amp: bool = False
        log_every: int = 1
        checkpoint_every: int = 0
        sample_every: int = 0
        noise: float = 0.0  # > 0: the step draws random numbers (per-rank RNG matters)


    class AffineObjective(Objective):
        family = "affine_test"
        ema_nets = ("G",)

        def __init__(self, cfg):
            super().__init__(cfg, {"G": nn.Conv2d(3, 3, 1)})

        def configure_optimizers(self):
            return {"G": torch.optim.Adam(self.nets["G"].parameters(), lr=self.cfg.lr)}

        def train_step(self, step):
            x = step.batch(0)["image"]
            x = x + self.cfg.noise * torch.randn_like(x)
            loss = (self.nets["G"](x) - x.flip(1)).pow(2).mean()
            step.update("G", loss)
            return {"loss": loss.item()}

        def sample(self, n, *, seed, batch_size=None, ema=True, **condition):
            return torch.zeros(n, 3, 4, 4)


    if "affine_test" not in registry._FAMILIES:
        registry.register("affine_test", AffineConfig, AffineObjective)
    ''')

SCRIPT = textwrap.dedent('''
    import os
    import sys
    import torch
    sys.path.insert(0, sys.argv[1])
    from affine_family import AffineConfig
    from hsilib.train.distributed import make_distributed_trainer

    data = torch.load(sys.argv[2], weights_only=True)
    cfg = AffineConfig(noise=float(os.environ.get("AFFINE_NOISE", "0")))
    trainer = make_distributed_trainer(cfg, {"image": data}, seed=0)
    if sys.argv[3] == "resume":  # resume <checkpoint> <steps> <out>
        trainer.load(sys.argv[4])
        trainer.fit(int(sys.argv[5]), checkpoint=sys.argv[6])
    else:  # <steps>:<out> ...: one uninterrupted run, a checkpoint at each given step
        for item in sys.argv[3:]:
            steps, out = item.split(":", 1)
            trainer.fit(int(steps), checkpoint=out)
    ''')


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("ddp")
    (tmp_path / "affine_family.py").write_text(FAMILY)
    (tmp_path / "ddp_script.py").write_text(SCRIPT)
    data = torch.rand(16, 3, 4, 4) * 2 - 1
    torch.save(data, tmp_path / "data.pt")
    sys.path.insert(0, str(tmp_path))
    yield tmp_path, data
    sys.path.remove(str(tmp_path))


def torchrun(tmp_path, *args, nproc=2, noise=0.0):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", str(tmp_path / "ddp_script.py"), str(tmp_path),
           str(tmp_path / "data.pt"), *map(str, args)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), AFFINE_NOISE=str(noise))
    if Path("/sys/class/net/lo").exists():  # both ranks on this host: talk over loopback
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    errors = []
    for _ in range(2):  # a rank killed by a signal is the launcher's problem: one retry
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if r.returncode == 0:
            return
        errors.append(r.stderr[:2000] + "\n[...]\n" + r.stderr[-2000:])
        if "Signal" not in r.stderr:
            break
    raise AssertionError("torchrun failed:\n" + "\n=== next attempt ===\n".join(errors))


class ConcatSampler:
    """Single-process reference: the concatenation of what the ranks draw at each step."""

    def __init__(self, inner, world):
        self.inner, self.world = inner, world

    def batch(self, step, k=0):
        parts = [self.inner.batch(step * self.world + r, k) for r in range(self.world)]
        return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}

    def __len__(self):
        return len(self.inner)


def test_two_gloo_processes_match_one_process_on_the_concatenated_batch(setup):
    from affine_family import AffineConfig

    from hsilib.data.samplers import TensorSampler
    from hsilib.models import registry
    from hsilib.train.trainer import Trainer

    tmp_path, data = setup
    torchrun(tmp_path, f"2:{tmp_path / 'part.pt'}", f"5:{tmp_path / 'ddp.pt'}")
    _, ddp = registry.load(tmp_path / "ddp.pt")
    assert ddp["world_size"] == 2 and len(ddp["rng_per_rank"]) == 2

    cfg = AffineConfig()
    ref = Trainer(registry.build(cfg, seed=0), ConcatSampler(TensorSampler(data, 2, seed=0), 2),
                  amp=False, log_every=1)
    ref.fit(5)
    for name, value in ref.objective.state_dict()["nets"].items():
        torch.testing.assert_close(ddp["objective"]["nets"][name], value, atol=1e-6, rtol=1e-5)
    got = [h["loss"] for h in ddp["history"]]
    want = [h["loss"] for h in ref.history]
    assert got == pytest.approx(want, rel=1e-5)  # logged losses: means over the ranks


def test_resumed_parallel_run_equals_an_uninterrupted_one(setup):
    from hsilib.models import registry

    tmp_path, _ = setup
    # with noise in every step: each rank's random state must be restored
    torchrun(tmp_path, f"2:{tmp_path / 'npart.pt'}", f"5:{tmp_path / 'nfull.pt'}", noise=0.1)
    torchrun(tmp_path, "resume", tmp_path / "npart.pt", 5, tmp_path / "resumed.pt", noise=0.1)
    _, full = registry.load(tmp_path / "nfull.pt")
    _, resumed = registry.load(tmp_path / "resumed.pt")
    assert resumed["step"] == 5
    for name, value in full["objective"]["nets"].items():
        assert torch.equal(resumed["objective"]["nets"][name], value), name
    assert resumed["history"] == full["history"]


def test_single_process_launch_equals_make_trainer(setup):
    from affine_family import AffineConfig

    from hsilib.train.distributed import make_distributed_trainer
    from hsilib.train.trainer import make_trainer

    _, data = setup
    a = make_distributed_trainer(AffineConfig(), {"image": data}, seed=0)
    a.fit(3)
    b = make_trainer(AffineConfig(), {"image": data}, seed=0, device="cpu")
    b.fit(3)
    for (k, x), y in zip(a.objective.state_dict()["nets"].items(),
                         b.objective.state_dict()["nets"].values(), strict=True):
        assert torch.equal(x, y), k
