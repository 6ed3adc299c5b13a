"""Melanoma classifiers for 16-band images (notebook 06).

Four architectures share one builder, :func:`build_classifier`:

- ``"densenet201"``, ``"efficientnet_b6"``, ``"resnet50"``: timm networks with ``in_chans=16``
  (the original study's DenseNet201 / EfficientNet-B6 / ResNet50);
- ``"small"``: a four-block CNN (~0.1 M parameters) for the smoke and quick profiles on a CPU.

Starting points: random initialisation, or a LOCAL 3-channel checkpoint (ImageNet, or an ISIC
melanoma model) whose first convolution is widened to 16 bands by repeating the RGB kernels and
scaling them by 3/16, so that a flat 16-band input gives about the same first-layer response as
the same value on 3 channels (exactly when the band count is a multiple of 3). This is the rule of
timm's ``adapt_input_conv``, also used for the adapted FID and LPIPS in this project. Nothing is
ever downloaded.

``freeze_backbone=True`` trains only the final linear layer: a linear probe on pretrained
features, the original study's best DenseNet201 configuration.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .layers import widen_rgb_conv

ARCHS = ("small", "resnet50", "densenet201", "efficientnet_b6")


class WeightFileError(FileNotFoundError):
    """A pretrained weight file is missing or does not fit the architecture."""


# --------------------------------------------------------------------------------------------
# The small network (smoke / quick)
# --------------------------------------------------------------------------------------------
def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2))


class SmallCNN(nn.Module):
    """Stride-2 stem, then conv-BN-ReLU-pool x 3 (16 -> 16 -> 32 -> 64 -> 128 channels), global
    mean, linear head. About 0.1 M parameters; the early stride keeps a 64 px CPU step cheap."""

    first_conv = "stem.0"

    def __init__(self, n_bands: int = 16, n_classes: int = 2, width: int = 16):
        super().__init__()
        w = (width, 2 * width, 4 * width, 8 * width)
        self.stem = nn.Sequential(nn.Conv2d(n_bands, w[0], 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        self.features = nn.Sequential(_block(w[0], w[1]), _block(w[1], w[2]), _block(w[2], w[3]))
        self.head = nn.Linear(w[3], n_classes)

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.stem(x)).mean(dim=(2, 3)))


# --------------------------------------------------------------------------------------------
# Loading a 3-channel checkpoint into a 16-band network
# --------------------------------------------------------------------------------------------
def _first_conv_name(model: nn.Module) -> str:
    name = getattr(model, "first_conv", None) or model.pretrained_cfg["first_conv"]
    return name + ".weight"


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    from .checkpoint import CheckpointError, safe_load

    if not path.is_file():
        raise WeightFileError(
            f"weight file {path} does not exist; pretrained starting points are only read from "
            "local files (nothing is downloaded): set ClassifierConfig.pretrained_weights / "
            "specialist_weights to a .pth/.pt/.safetensors file")
    try:
        sd = safe_load(path, "cpu", "weight file")
    except CheckpointError as err:
        raise WeightFileError(str(err)) from err
    for key in ("state_dict", "model", "model_state_dict"):  # common wrappers
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightFileError(f"weight file {path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def load_pretrained(model: nn.Module, path: str | Path, n_bands: int) -> nn.Module:
    """Load a 3-channel (or already ``n_bands``) checkpoint into ``model``, widening its stem.

    Only a 3-channel (RGB) first convolution is widened to ``n_bands``; any other channel count
    is an error naming the file and both shapes. The classification head is kept from the
    checkpoint only when its shape fits (a 2-class ISIC model); otherwise it stays randomly
    initialised. Any other missing or unexpected key, or any other tensor of the wrong shape,
    is an error naming the file, raised before anything is loaded, so a checkpoint of the wrong
    architecture can neither load silently nor overwrite part of the model.
    """
    path = Path(path).expanduser()
    sd = _read_state_dict(path)
    conv = _first_conv_name(model)
    if conv not in sd:
        raise WeightFileError(f"{path} has no {conv!r}: not a checkpoint of this architecture")
    own = model.state_dict()
    file_shape, model_shape = tuple(sd[conv].shape), tuple(own[conv].shape)
    if sd[conv].ndim != 4:
        raise WeightFileError(f"{path}: first convolution {conv!r} has shape {file_shape}, "
                              f"the model's is {model_shape}")
    if sd[conv].shape[1] != n_bands:
        if sd[conv].shape[1] != 3:
            raise WeightFileError(
                f"{path}: first convolution {conv!r} takes {sd[conv].shape[1]} channels (shape "
                f"{file_shape}); the model takes {n_bands} bands (shape {model_shape}). Only "
                "3-channel RGB weights are widened; weights of any other band count must "
                f"already have {n_bands}.")
        sd[conv] = widen_rgb_conv(sd[conv].float(), n_bands)
    head = {k for k in own if k.startswith(_head_prefix(model))}
    sd = {k: v for k, v in sd.items() if not (k in head and v.shape != own[k].shape)}
    missing = [k for k in own if k not in sd and k not in head]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
              for k, v in sd.items() if k in own and v.shape != own[k].shape]
    if missing or unexpected or shapes:
        raise WeightFileError(f"{path} does not fit the model (nothing was loaded): e.g. "
                              f"{(missing + unexpected + shapes)[:5]}")
    model.load_state_dict(sd, strict=False)
    return model


def _head_prefix(model: nn.Module) -> str:
    head = model.get_classifier()
    for name, mod in model.named_modules():
        if mod is head:
            return name + "."
    raise RuntimeError("classifier head not found")


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------
def build_classifier(arch: str, n_bands: int = 16, n_classes: int = 2,
                     weights: str | Path | None = None,
                     freeze_backbone: bool = False) -> nn.Module:
    """A classifier for ``n_bands``-band images; logits of shape N x ``n_classes`` (1 = MM).

    ``weights``: None for random initialisation, or a local checkpoint file (3-channel ImageNet /
    ISIC weights are widened to ``n_bands`` by :func:`hsilib.models.layers.widen_rgb_conv`). A
    missing file raises :class:`WeightFileError`. ``freeze_backbone`` leaves only the head
    trainable (linear probe); the trainer also keeps the frozen part's batch-norm statistics
    fixed (``model.frozen``).
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if arch == "small":
        model = SmallCNN(n_bands, n_classes)
    else:
        import timm

        model = timm.create_model(arch, pretrained=False, in_chans=n_bands, num_classes=n_classes)
    if weights is not None:
        load_pretrained(model, weights, n_bands)
    model.frozen = bool(freeze_backbone)
    if freeze_backbone:
        prefix = _head_prefix(model)
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(prefix))
    return model


def set_train_mode(model: nn.Module) -> nn.Module:
    """``model.train()``, but a frozen backbone keeps its batch-norm statistics (eval mode)."""
    model.train()
    if getattr(model, "frozen", False):
        model.eval()
        model.get_classifier().train()
    return model
