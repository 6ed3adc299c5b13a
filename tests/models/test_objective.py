"""The loops every family shares (hsilib.models.objective.Objective): batched sampling equals one
big batch where a family is batch-independent and a hand-written per-batch loop where it is not;
conditions are sliced per batch; scores likewise; the optimisers come from each family's
declaration; sampling leaves the caller's random state and the networks' modes alone."""

import warnings

import pytest
import torch

from hsilib import config
from hsilib.models import registry
from hsilib.models.objective import seeded

BAND_RANGE = dict(band_min=tuple([0.05] * 16), band_max=tuple([0.8] * 16))
REFLECTANCE = dict(reflectance_min=(0.0,) * 16, reflectance_max=(1.0,) * 16)
N, BATCH = 5, 2  # batches of 2, 2 and 1


def _build(section, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return registry.build(config.resolve("smoke", section, **kw), seed=0)


def _images(n, size=32, channels=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g) * 2 - 1


def _rgb(n, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(2))


def _masks(n, size=32):
    return (torch.rand(n, size, size, generator=torch.Generator().manual_seed(3)) > 0.5).float()


#: families whose images and scores do not depend on the batch size: every latent is drawn at
#: once, and nothing in the networks (in eval mode) mixes the images of a batch
INDEPENDENT = {
    "classic_acgan": (("classic", dict(variant="acgan")), {"cls": "MM"}),
    "shsgan_2d": (("shsgan", dict(critic="2d")), {}),
    "shsgan_rgb": (("shsgan", dict(generator="rgb", **REFLECTANCE)), {"rgb": _rgb(3)}),
    "cyclegan": (("cyclegan", BAND_RANGE), {"rgb": _rgb(3)}),
    "cvae": (("vae", dict(conditional=True)), {"cls": "DN"}),
}


@pytest.mark.parametrize("name", list(INDEPENDENT))
def test_batched_samples_of_batch_independent_families_equal_one_big_batch(name):
    (section, kw), cond = INDEPENDENT[name]
    obj = _build(section, **kw)
    small = obj.sample(N, seed=3, batch_size=BATCH, **cond)
    assert small.shape == (N, 16, 32, 32) and small.dtype == torch.float32
    torch.testing.assert_close(small, obj.sample(N, seed=3, batch_size=N, **cond),
                               rtol=0, atol=1e-6)
    assert torch.equal(small, obj.sample(N, seed=3, batch_size=BATCH, **cond))
    assert not torch.equal(small, obj.sample(N, seed=4, batch_size=BATCH, **cond))


@pytest.mark.parametrize("section, kw, cond", [
    ("fastgan", {}, {}),
    ("classic", dict(variant="acgan"), {"cls": "MM"}),
    ("shsgan", dict(critic="3d_sn_fft"), {}),
    ("vae", dict(conditional=True), {"cls": "MM"}),
    ("cond_gan", dict(condition="mask", n_classes=2),
     {"mask": _masks(N), "label": torch.tensor([0, 1, 1, 0, 1])}),
])
def test_batched_scores_of_batch_independent_critics_equal_one_big_batch(section, kw, cond):
    obj = _build(section, **kw)
    x = _images(N)
    small = obj.score(x, batch_size=BATCH, **cond)
    assert small.shape == (N,)
    torch.testing.assert_close(small, obj.score(x, batch_size=N, **cond), rtol=1e-5, atol=1e-6)


def test_fastgan_samples_are_the_per_batch_loop_of_latents_and_noise():
    # noise injections draw from the global generator batch after batch: batch-dependent
    obj = _build("fastgan")
    with torch.no_grad(), seeded(3, "cpu") as gen:
        G = obj.net("G")
        want = torch.cat([G(torch.randn(m, obj.cfg.z_dim, generator=gen))[0] for m in (2, 2, 1)])
    assert torch.equal(obj.sample(N, seed=3, batch_size=BATCH), want)


def test_conditional_fastgan_slices_each_condition_per_batch():
    obj = _build("cond_gan", condition="mask", n_classes=2)
    masks, labels = _masks(N), torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad(), seeded(3, "cpu") as gen:
        G, parts = obj.net("G"), []
        for s, e in ((0, 2), (2, 4), (4, 5)):
            z = torch.randn(e - s, obj.cfg.z_dim, generator=gen)
            parts.append(G(z, masks[s:e, None] * 2 - 1, labels[s:e])[0])
    got = obj.sample(N, seed=3, batch_size=BATCH, mask=masks, label=labels)
    assert torch.equal(got, torch.cat(parts))
    # one condition for all images is repeated: the same as giving it per image
    assert torch.equal(obj.sample(N, seed=3, batch_size=BATCH, mask=masks, label=1),
                       obj.sample(N, seed=3, batch_size=BATCH, mask=masks,
                                  label=torch.ones(N, dtype=torch.long)))
    with pytest.raises(ValueError, match="'mask' has 4 items for 5 images"):
        obj.sample(N, seed=3, mask=masks[:4], label=1)


def test_stylegan2_samples_and_scores_are_the_per_batch_loops():
    obj = _build("stylegan2")
    with torch.no_grad(), seeded(3, "cpu") as gen:
        G = obj.net("G")
        want = torch.cat([G(torch.randn(m, obj.cfg.z_dim, generator=gen)).clamp(-1, 1)
                          for m in (2, 2, 1)])
    assert torch.equal(obj.sample(N, seed=3, batch_size=BATCH), want)
    x = _images(N)
    D = obj.nets["D"].eval()  # minibatch standard deviation: a score depends on its batch
    with torch.no_grad():
        want = torch.cat([D(x[0:2]), D(x[2:4]), D(x[4:5])])
    assert torch.equal(obj.score(x, batch_size=BATCH), want)


def test_sampling_leaves_the_callers_random_state_and_the_network_modes_alone():
    obj = _build("fastgan").train(True)
    torch.manual_seed(11)
    before = torch.get_rng_state()
    obj.sample(3, seed=0, ema=False)
    obj.score(_images(3))
    assert torch.equal(torch.get_rng_state(), before)
    assert all(m.training for m in obj.nets.modules())  # eval only inside the loops
    assert not any(m.training for m in obj.ema["G"].modules())


def test_bad_requests_fail_early_with_a_clear_error():
    obj = _build("fastgan")
    with pytest.raises(ValueError, match="n >= 1"):
        obj.sample(0, seed=0)
    with pytest.raises(TypeError, match="'fastgan' family is unconditional"):
        obj.score(_images(2), label=1)
    with pytest.raises(NotImplementedError, match="no critic to score"):
        _build("cyclegan", **BAND_RANGE).score(_images(2), rgb=_rgb(2))
    with pytest.raises(TypeError, match="takes no RGB input"):
        _build("shsgan").sample(2, seed=0, rgb=_rgb(2))


def test_optimisers_follow_each_familys_declaration():
    def groups(obj):
        return {k: [(g["lr"], tuple(g["betas"]), sum(p.numel() for p in g["params"]))
                    for g in opt.param_groups] for k, opt in obj.configure_optimizers().items()}

    def size(obj, *names):
        return sum(p.numel() for n in names for p in obj.nets[n].parameters())

    fast = _build("fastgan")
    c = fast.cfg
    assert groups(fast) == {"D": [(c.lr, c.betas, size(fast, "D"))],
                            "G": [(c.lr, c.betas, size(fast, "G"))]}
    cyc = _build("cyclegan", **BAND_RANGE)
    assert {k: v[0][2] for k, v in groups(cyc).items()} == {
        "G": size(cyc, "G_hs", "G_rgb"), "D_hs": size(cyc, "D_hs"), "D_rgb": size(cyc, "D_rgb")}
    vae = _build("vae")
    assert {k: v[0][2] for k, v in groups(vae).items()} == {"vae": size(vae, "encoder",
                                                                        "decoder")}
    sg = _build("stylegan2")  # lazy regularisation: rate and betas scaled by every / (every + 1)
    c = sg.cfg
    r, p = c.r1_every / (c.r1_every + 1), c.pl_every / (c.pl_every + 1)
    got = groups(sg)
    assert got["D"][0][:2] == (c.lr * r, (c.betas[0] ** r, c.betas[1] ** r))
    assert got["G"][0][:2] == (c.lr * p, (c.betas[0] ** p, c.betas[1] ** p))
