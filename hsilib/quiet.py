"""The warnings the project expects, and the one way it silences them: by name, where expected.

A warning in a notebook's output should tell the reader something. The few that are known and
harmless at a given call are listed here, each as an :class:`Expected` warning: its category,
a regular expression its message starts with (and, for a third-party one, the module that
issues it) and the reason it may be silenced there. :func:`expected_warnings` silences exactly
those it is given by name, inside a ``with`` block, and nothing else; every other warning,
including another of the same category, still shows. Nothing in the project silences
warnings wholesale (a filter that ignores every warning).

Where a silenced warning still carries news for the reader (the reconstruction-loss fallback
of the FastGAN families), the notebook that first meets it says so in its prose.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Expected:
    """One known warning: its ``category`` (a name importable as ``module:Class`` keeps this
    module free of heavy imports), the regex ``message`` its text starts with, the regex
    ``module`` of the code that issues it ("" = any) and why it may be silenced."""

    category: str
    message: str
    reason: str
    module: str = ""

    def category_class(self) -> type[Warning]:
        """The warning class ``category`` names (``builtins:UserWarning`` or
        ``package.module:Class``)."""
        import importlib

        module, _, name = self.category.partition(":")
        cls = getattr(importlib.import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, Warning)):
            raise TypeError(f"Expected.category {self.category!r} is not a Warning class")
        return cls


#: The warnings :func:`expected_warnings` can silence, by name.
EXPECTED: dict[str, Expected] = {
    "lpips_fallback": Expected(
        "builtins:UserWarning", r"FastGANConfig\.lpips_weights is not set",
        "no LPIPS backbone file is configured (none ships with the project, nothing is "
        "downloaded): the reconstruction loss is the documented L1 + (1 - SSIM) fallback, "
        "which notebook 03 explains once"),
    "torchvision_pretrained": Expected(
        "builtins:UserWarning",
        r"(The parameter 'pretrained' is deprecated|Arguments other than a weight enum)",
        "the lpips package builds its backbone with torchvision's deprecated 'pretrained' "
        "argument (a random backbone here); the project loads the backbone weights itself",
        module=r"torchvision\."),
    "segmentation_notes": Expected(
        "hsilib.data.masks:SegmentationWarning",
        r".*(no lesion found|no lesion left after filtering|dropped \d+ segment\(s\)|"
        r"the dermoscope field is \(almost\) empty)",
        "a crop or image without a (whole) lesion gives no mask, which the caller counts; "
        "notebook 01 reports these notes for the real crops"),
}


@contextmanager
def expected_warnings(*names: str) -> Iterator[None]:
    """Silence the :data:`EXPECTED` warnings ``names`` (each: its category and message, and
    its module when given) inside the block; every other warning still shows.

    >>> with expected_warnings("lpips_fallback"):
    ...     recon = reconstruction_loss(16, None)  # doctest: +SKIP
    """
    unknown = [n for n in names if n not in EXPECTED]
    if unknown or not names:
        raise ValueError(f"expected_warnings: names must be some of {sorted(EXPECTED)}, "
                         f"got {list(names)!r}")
    with warnings.catch_warnings():
        for name in names:
            e = EXPECTED[name]
            warnings.filterwarnings("ignore", message=e.message, category=e.category_class(),
                                    module=e.module)
        yield


def is_expected(name: str, category: type[Warning], message: str, module: str = "") -> bool:
    """Whether a warning (``category``, ``message``, issued from ``module``) is the
    :data:`EXPECTED` warning ``name``: what :func:`expected_warnings` silences."""
    if name not in EXPECTED:
        raise ValueError(f"is_expected: name must be one of {sorted(EXPECTED)}, got {name!r}")
    e = EXPECTED[name]
    return (issubclass(category, e.category_class())
            and re.match(e.message, message, re.I) is not None
            and re.match(e.module, module) is not None)
