"""Classifiers: one CPU optimiser step per architecture on 16 bands; 3-channel weight adaptation."""

import pytest
import torch
from timm.models import adapt_input_conv

from hsilib.models import classifiers as M
from hsilib.models.layers import widen_rgb_conv


@pytest.mark.parametrize("arch", M.ARCHS)
def test_one_training_step_16_bands(arch):
    torch.manual_seed(0)
    model = M.build_classifier(arch, n_bands=16, n_classes=2)
    x, y = torch.randn(2, 16, 32, 32), torch.tensor([0, 1])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    first = dict(model.named_parameters())[M._first_conv_name(model)]
    assert first.shape[1] == 16 and first.grad is not None and first.grad.abs().sum() > 0
    before = first.detach().clone()
    opt.step()
    assert not torch.equal(before, first.detach())
    assert model(x).shape == (2, 2) and torch.isfinite(loss)


def _rgb_checkpoint(tmp_path, arch, n_classes=1000):
    torch.manual_seed(1)
    src = M.build_classifier(arch, n_bands=3, n_classes=n_classes)
    path = tmp_path / f"{arch}_rgb.pth"
    torch.save({"state_dict": src.state_dict()}, path)
    return src, path


@pytest.mark.parametrize("arch", ["small", "resnet50"])
def test_rgb_checkpoint_is_widened_by_3_over_16(tmp_path, arch):
    src, path = _rgb_checkpoint(tmp_path, arch)
    model = M.build_classifier(arch, n_bands=16, weights=path)
    name = M._first_conv_name(model)
    w3, w16 = src.state_dict()[name], model.state_dict()[name]
    assert w16.shape == (w3.shape[0], 16, *w3.shape[2:])
    for band in range(16):  # band b takes RGB kernel b mod 3, scaled by 3/16
        torch.testing.assert_close(w16[:, band], w3[:, band % 3] * 3 / 16)
    torch.testing.assert_close(w16, adapt_input_conv(16, w3))  # timm's rule, same numbers
    # with a multiple of 3 bands a flat image gives exactly the flat RGB image's response
    w6 = widen_rgb_conv(w3, 6)
    conv6 = torch.nn.functional.conv2d(torch.ones(1, 6, 8, 8), w6)
    conv3 = torch.nn.functional.conv2d(torch.ones(1, 3, 8, 8), w3)
    torch.testing.assert_close(conv6, conv3, rtol=1e-5, atol=1e-5)
    # the rest of the backbone is copied; the 1000-class head is not (2 classes here)
    head = M._head_prefix(model)
    other = [k for k in src.state_dict() if k != name and not k.startswith(head)]
    assert len(other) > 5
    for k in other:
        torch.testing.assert_close(model.state_dict()[k], src.state_dict()[k])


def test_two_class_head_is_kept_and_backbone_frozen(tmp_path):
    src, path = _rgb_checkpoint(tmp_path, "small", n_classes=2)
    model = M.build_classifier("small", weights=path, freeze_backbone=True)
    torch.testing.assert_close(model.head.weight, src.head.weight)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
    M.set_train_mode(model)
    assert model.head.training and not model.features.training and not model.stem.training


def test_missing_or_wrong_weight_file(tmp_path):
    with pytest.raises(M.WeightFileError, match="does not exist"):
        M.build_classifier("small", weights=tmp_path / "nope.pth")
    _, path = _rgb_checkpoint(tmp_path, "small")
    with pytest.raises(M.WeightFileError, match="resnet50|conv1|not a checkpoint"):
        M.build_classifier("resnet50", weights=path)
    with pytest.raises(ValueError, match="arch"):
        M.build_classifier("vgg")
