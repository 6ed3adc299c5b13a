"""Benchmarks: GAN training steps per second (batch 8, 16 bands) at 64, 128 and 256 px.

Two variants at the published widths (ngf = ndf = 64, z_dim = 256) on the same machine:

- ``gan.fastgan_<S>_<dev>``: this repository's step, from the trainer notebook 03 uses
  (:func:`hsilib.train.trainer.make_trainer`: :class:`~hsilib.train.trainer.Trainer` +
  :class:`hsilib.models.fastgan.FastGANObjective`: one generator pass shared by the D and G
  updates, D frozen during the G update, bf16 autocast + channels_last on CUDA);
- ``gan.reference_<S>_<dev>``: the published training loop's order of work, written here from
  the paper's description: float32, contiguous tensors, the generator's outputs reused as in the
  official loop, but the discriminator's gradients also computed during the generator update and
  the EMA kept as a separate parameter list. Same networks and losses, so the difference is
  purely the loop.

A third, ``gan.stylegan2_<S>_<dev>``, times this repository's StyleGAN2-ADA step
(:class:`hsilib.models.stylegan2.StyleGAN2Objective`, the ``full`` widths: 16384 / resolution up to
512, 8 mapping layers) through the same trainer; its lazy R1 (every 16 steps) and path-length
(every 4 steps) updates run on some steps only, so a short run's time depends on which steps it
covers.

The FastGAN variants use the L1 + (1 - SSIM) reconstruction loss (no LPIPS backbone file
offline). CUDA variants are registered only when a CUDA device is present.
"""

from __future__ import annotations

import warnings

import torch

from .. import config
from . import register

SIZES = (64, 128, 256)
BATCH = 8


def train_steps(trainer, steps: int, device: str):
    """The timed part of a training-step benchmark: ``steps`` trainer steps (synchronised on
    CUDA), returning the step count."""
    def run():
        for _ in range(steps):
            trainer.train_step()
        if device == "cuda":
            torch.cuda.synchronize()
        return steps

    return run


def _config(size: int, device: str):
    return config.resolve("full", "fastgan", image_size=size, batch_size=BATCH,
                          amp=device == "cuda", lpips_weights=None)


def _images(cfg) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(32, cfg.n_bands, cfg.image_size, cfg.image_size) * 2 - 1


def _ours(size: int, device: str, steps: int):
    from ..train.trainer import make_trainer

    cfg = _config(size, device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no LPIPS backbone offline: L1 + (1 - SSIM)
        trainer = make_trainer(cfg, _images(cfg), seed=0, device=device)
        trainer.objective.recon  # the loss module, built inside the warning filter  # noqa: B018
    trainer.sampler.augment = None  # the reference loop has no flip/rotate either: equal work

    return train_steps(trainer, steps, device)


def _reference(size: int, device: str, steps: int):
    from ..models import fastgan, losses
    from ..models.diffaug import diff_augment
    from ..models.fastgan import reconstruction_targets

    cfg = _config(size, device)
    images = _images(cfg).to(device)
    torch.manual_seed(0)
    G = fastgan.Generator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.ngf).to(device)
    D = fastgan.Discriminator(cfg.image_size, cfg.n_bands, cfg.ndf).to(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recon = losses.reconstruction_loss(cfg.n_bands, None).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas)
    avg = [p.detach().clone() for p in G.parameters()]

    def step():
        real = images[torch.randint(0, len(images), (BATCH,))]
        fake = G(torch.randn(BATCH, cfg.z_dim, device=device))
        real = diff_augment(real)
        part = int(torch.randint(0, 4, (1,)))
        D.zero_grad()
        logits, recs = D(real, part=part)
        tgt = reconstruction_targets(real, part)
        loss = losses.hinge_d_real(logits) + sum(recon(recs[k], tgt[k]) for k in recs)
        loss = loss + losses.hinge_d_fake(D(tuple(diff_augment(f.detach()) for f in fake)))
        loss.backward()
        opt_d.step()
        G.zero_grad()
        losses.hinge_g(D(tuple(diff_augment(f) for f in fake))).backward()
        opt_g.step()
        with torch.no_grad():
            for a, p in zip(avg, G.parameters(), strict=True):
                a.mul_(cfg.ema_decay).add_(p, alpha=1 - cfg.ema_decay)

    def run():
        for _ in range(steps):
            step()
        if device == "cuda":
            torch.cuda.synchronize()
        return steps

    return run


def _stylegan2(size: int, device: str, steps: int):
    from ..train.trainer import make_trainer

    cfg = config.resolve("full", "stylegan2", image_size=size, batch_size=BATCH,
                         amp=device == "cuda")
    trainer = make_trainer(cfg, _images(cfg), seed=0, device=device)
    trainer.sampler.augment = None

    return train_steps(trainer, steps, device)


def _register(size: int, device: str) -> None:
    steps = {"cpu": {64: 2, 128: 1, 256: 1}, "cuda": {64: 20, 128: 10, 256: 5}}[device][size]
    repeats = 2 if device == "cpu" else 3
    for name, fn, what in (("fastgan", _ours, "this repo's trainer"),
                           ("reference", _reference, "published loop"),
                           ("stylegan2", _stylegan2, "StyleGAN2-ADA, this repo's trainer")):
        register(f"gan.{name}_{size}_{device}", group="gan", unit="steps", repeats=repeats,
                 note=f"{what}, {size}px, batch {BATCH}, 16 bands, "
                 f"{'full widths' if name == 'stylegan2' else 'ngf=ndf=64'}, {device}")(
            lambda cfg, fn=fn, size=size, steps=steps: fn(size, device, steps))


for _size in SIZES:
    _register(_size, "cpu")
    if torch.cuda.is_available():
        _register(_size, "cuda")
