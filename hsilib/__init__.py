"""hsilib: synthetic 16-band hyperspectral dermoscopy and melanoma classifiers.

The notebooks in ``notebooks/`` tell the story; this package holds the reusable code they call.
Importing it is cheap: no model, data set or device is touched until a function asks for it.
"""

import os

# Keep every import offline and quiet: albumentations checks for updates over the network at
# import, and timm/huggingface_hub retry a hub for ~50 s before failing without these.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from .runtime import apply_thread_defaults  # noqa: E402

# Idle OpenMP threads sleep instead of spinning, which matters when the cores are shared; it
# must be in the environment before torch is imported (see hsilib.runtime).
apply_thread_defaults()

__version__ = "0.1.0"

#: Band centres of the HSIDermoscopy snapshot camera: 465 + 11 k nm, k = 0..15.
WAVELENGTHS_NM = tuple(465 + 11 * k for k in range(16))
N_BANDS = len(WAVELENGTHS_NM)
