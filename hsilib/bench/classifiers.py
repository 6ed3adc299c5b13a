"""Benchmarks: classifier training throughput (images/s) per architecture, input size and device.

One timed call = a few AdamW steps on a random 16-band batch (forward, cross-entropy, backward,
step). The large networks at 224 px on a CPU take seconds per step, so they run one repeat of one
step of a batch of 2; CUDA variants are registered only when a GPU is present.
"""

from __future__ import annotations

from . import register

#: (arch, side, batch, steps per timed call, repeats) on CPU; CUDA uses batch 8 x 4 steps.
_CPU_CASES = (
    ("small", 64, 32, 4, None), ("small", 224, 8, 2, None),
    ("resnet50", 64, 8, 2, 1), ("resnet50", 224, 2, 1, 1),
    ("densenet201", 64, 8, 1, 1), ("densenet201", 224, 2, 1, 1),
    ("efficientnet_b6", 64, 8, 1, 1), ("efficientnet_b6", 224, 2, 1, 1),
)


def _setup(arch: str, side: int, batch: int, steps: int, device: str):
    import torch

    from ..models.classifiers import build_classifier

    torch.manual_seed(0)
    model = build_classifier(arch, n_bands=16, n_classes=2).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 16, side, side, device=device)
    y = torch.randint(0, 2, (batch,), device=device)

    def run() -> int:
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        return steps * batch

    return run


def _register(arch: str, side: int, batch: int, steps: int, repeats: int | None, device: str):
    @register(f"classifiers.train_{arch}_{side}_{device}", group="classifiers",
              note=f"{arch} 16 bands, {side} px, batch {batch}, AdamW step, {device}",
              unit="images", repeats=repeats)
    def _bench(cfg):
        return _setup(arch, side, batch, steps, device)


for _case in _CPU_CASES:
    _register(*_case, device="cpu")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


if _cuda_available():
    for _arch, _side, *_ in _CPU_CASES:
        _register(_arch, _side, 8, 4, None, device="cuda")
