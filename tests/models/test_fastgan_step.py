"""FastGAN's fast step: the folded upsampling convolution, one spectral-norm iteration per step,
channels_last on the CPU, and the published order of the D update (real images back-propagated
before the fakes are scored), which must give the losses and gradients of the summed loss."""

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

from hsilib import config
from hsilib.models import fastgan, layers
from hsilib.models.objective import Step


@pytest.mark.parametrize("side", [4, layers.FOLD_SMALL_SIDE, layers.FOLD_MIN_SIDE + 6])
def test_up_conv_equals_nearest_upsampling_then_conv(side):
    torch.manual_seed(0)
    conv = layers.UpConv(5, 7).double()
    x = torch.randn(2, 5, side, side, dtype=torch.float64, requires_grad=True)
    want = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), conv.weight, padding=1)
    got = conv(x)
    assert got.shape == (2, 7, 2 * side, 2 * side)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    g_got = torch.autograd.grad(got.square().sum(), (x, conv.weight))
    g_want = torch.autograd.grad(want.square().sum(), (x, conv.weight))
    for a, b in zip(g_got, g_want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-9)
    # the folded kernel: 16 taps, each a sum of the 3 x 3 taps that land on one input pixel
    folded = conv.folded_weight()
    m = torch.tensor(layers._FOLD, dtype=torch.float64)
    torch.testing.assert_close(folded, torch.einsum("ak,oikl,bl->ioab", m, conv.weight, m))
    torch.testing.assert_close(folded.sum((2, 3)), 4 * conv.weight.sum((2, 3)).T)


def test_up_conv_folds_where_measured_to_pay():
    small, wide = layers.UpConv(16, 32), layers.UpConv(512, 1024)
    assert [small.folds(s) for s in (4, 8, 16)] == [False, True, True]
    assert [wide.folds(s) for s in (4, 8, 16)] == [False, False, True]
    wide.fold = False
    assert not wide.folds(64)


def test_up_blocks_keep_their_parameter_names():
    # checkpoints written before the folded convolution load unchanged
    block = layers.up_block(4, 6)
    assert list(block.state_dict())[:3] == ["1.weight_orig", "1.weight_u", "1.weight_v"]
    assert isinstance(block[0], torch.nn.Identity)


def test_frozen_spectral_norm_reuses_the_last_estimate():
    torch.manual_seed(0)
    net = torch.nn.Sequential(layers.sn_conv(3, 4, 3, 1, 1), torch.nn.BatchNorm2d(4)).train()
    x = torch.randn(2, 3, 5, 5)
    net(x)  # training: one power iteration
    conv, bn = net[0], net[1]
    u, v = conv.weight_u.clone(), conv.weight_v.clone()
    runs = bn.num_batches_tracked.item()
    with layers.frozen_spectral_norm(net):
        assert not conv.training and bn.training  # only the normalised layer changes mode
        net(x)
    assert conv.training
    assert torch.equal(conv.weight_u, u) and torch.equal(conv.weight_v, v)  # no iteration
    assert bn.num_batches_tracked.item() == runs + 1  # batch norm still trained
    w = conv.weight_orig.flatten(1)
    torch.testing.assert_close(conv.weight, conv.weight_orig / (u @ w @ v))
    net(x)
    assert not torch.equal(conv.weight_u, u)  # outside, the iteration runs again


def _objective(**kw):
    cfg = config.resolve("smoke", "fastgan", spectral_loss_weight=0.5, **kw)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = fastgan.FastGANObjective(cfg).to("cpu")
        obj.recon  # noqa: B018  (built inside the filter)
    return obj


def _summed_order_step(obj, opts, real):
    """The step with the whole D loss formed before one backward (the order before)."""
    G, D = obj.nets["G"], obj.nets["D"]
    real = obj.layout(real)
    fake = G(torch.randn(len(real), obj.cfg.z_dim))
    real_in = obj._aug(real)
    fake_in = tuple(obj._aug(f) for f in fake)
    opts["D"].zero_grad(set_to_none=True)
    loss_real, logs = obj.d_real_loss(real_in)
    with layers.frozen_spectral_norm(D):
        loss_fake, logs_fake = obj.d_fake_loss(tuple(f.detach() for f in fake_in))
    (loss_real + loss_fake).backward()
    opts["D"].step()
    D.requires_grad_(False)
    with layers.frozen_spectral_norm(D):
        loss_g, logs_g = obj.g_loss(real, fake, fake_in=fake_in)
    opts["G"].zero_grad(set_to_none=True)
    loss_g.backward()
    opts["G"].step()
    D.requires_grad_(True)
    return logs | logs_fake | {"d_loss": loss_real.item() + loss_fake.item()} | logs_g


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def test_published_d_order_gives_the_losses_and_gradients_of_the_summed_loss(float64):
    # in float64, so that the only difference left, the order in which the real and fake
    # parts of D's gradient are added, shows at the 1e-12 level (float32 rounding, amplified
    # by Adam over a few steps, reaches 1e-5)
    new = _objective()
    old = copy.deepcopy(new)
    opt_new, opt_old = new.configure_optimizers(), old.configure_optimizers()
    g = torch.Generator().manual_seed(1)
    batches = [torch.rand(4, 16, 32, 32, generator=g, dtype=torch.float64) * 2 - 1
               for _ in range(3)]
    for i, real in enumerate(batches):
        torch.manual_seed(100 + i)
        logs_new = new.train_step(Step(i, lambda k, r=real: {"image": r}, opt_new,
                                       new.autocast))
        torch.manual_seed(100 + i)
        logs_old = _summed_order_step(old, opt_old, real)
        assert logs_new.keys() == logs_old.keys()
        for k in logs_new:
            assert logs_new[k] == pytest.approx(logs_old[k], rel=1e-9, abs=1e-12), k
        for name in ("D", "G"):
            for (pn, a), b in zip(new.nets[name].named_parameters(),
                                  old.nets[name].parameters(), strict=True):
                torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12, msg=pn)
                torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=pn)


def test_cpu_networks_are_channels_last_and_samples_are_not():
    obj = _objective()
    conv = obj.nets["D"].down_8.main[0]
    assert conv.weight_orig.is_contiguous(memory_format=torch.channels_last)
    x = obj.sample(3, seed=0)
    assert x.shape == (3, 16, 32, 32) and x.is_contiguous()
    assert obj.score(x).shape == (3,)
    assert all(o["fused"] for o in (g for opt in obj.configure_optimizers().values()
                                    for g in opt.param_groups))
