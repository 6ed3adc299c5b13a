"""The oracle generator: fresh stand-in lesions from the true distribution, re-rendered at will.

The stand-in simulator knows the distribution every stand-in cube is drawn from, so it is a
*perfect generator*: it can draw new lesions of either class that no split has seen. Notebook 08
uses it to calibrate the generator metrics (:mod:`hsilib.study.oracle`): the oracle itself is
what a flawless generator would produce, and graded, known corruptions of it are generators
whose flaw and its size are known. No study of real data has that.

- :func:`draw_image`: one fresh image of a class, drawn exactly as
  :func:`hsilib.standin.writer.make_image` draws the data set's images (scene, then camera), from
  a seed stream of its own (:func:`oracle_rng`: four words of entropy, the data set's images
  have three), keeping the camera noise's random state so that a re-rendering draws the same
  noise;
- :func:`render`: the image's cube through the camera (the same noise every time), from its
  stored scene or from a modified copy of it;
- :func:`shift_chromophores`: the scene with its truth maps of epidermal and dermal melanin,
  blood or dermal scattering multiplied by a factor everywhere (a generator whose spectra are
  biased);
- :func:`exaggerate_lesion`: the scene with the lesion's own melanin and blood (its excess over
  the surrounding skin) pushed away from the other class: multiplied by ``factor`` in a melanoma,
  divided by it in a nevus (a generator that over-learns the class cue).

Nothing here samples a new scene for a corruption: the corrupted image is the same lesion,
rendered from changed truth maps. Introduced in notebook 08.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .imaging import render_cube
from .scene import BASE_SHAPE, CLASS_CODE, Scene, sample_scene

#: Fourth entropy word of every oracle image's generator: the data set's images are seeded by
#: three words, ``(seed, class, index)`` (:func:`hsilib.standin.scene.image_rng`), so no oracle
#: image repeats one of them, whatever the seed and index.
ORACLE_WORD = 0x0AC1E
#: Truth maps each chromophore shift multiplies.
SHIFT_MAPS = {"melanin": ("f_mel_epi", "f_mel_derm"), "blood": ("blood",),
              "scattering": ("mus_scale",)}


def oracle_rng(seed: int, cls: str, index: int) -> np.random.Generator:
    """The generator of oracle image ``index`` of class ``cls``: independent of every image of
    the stand-in data set (module docstring) and of every other oracle image."""
    if cls not in ("MM", "DN"):
        raise ValueError(f"oracle_rng: cls must be 'MM' or 'DN', got {cls!r}")
    return np.random.default_rng(np.random.SeedSequence(
        [int(seed), CLASS_CODE[cls], int(index), ORACLE_WORD]))


@dataclass(frozen=True)
class OracleImage:
    """One fresh image: its class, index, scale, scene (truth maps) and the random state the
    camera noise starts from."""

    cls: str
    index: int
    scale: float
    scene: Scene
    noise_state: dict

    @property
    def stem(self) -> str:
        """The image's name (:func:`image_stem`)."""
        return image_stem(self.cls, self.index)


def image_stem(cls: str, index: int) -> str:
    """The name of oracle image ``index`` of class ``cls``, e.g. ``oracle_MM_0007``: the source
    image of its crops."""
    return f"oracle_{cls}_{int(index) + 1:04d}"


def draw_image(cls: str, index: int, seed: int, scale: float) -> OracleImage:
    """Oracle image ``index`` of class ``cls`` ("MM" or "DN") at ``scale`` of the camera's
    272 x 512 (the stand-in data set's ``standin.json`` scale), drawn as the data set's images
    are: the same scene sampler, image shape and camera."""
    if scale <= 0:
        raise ValueError(f"draw_image: scale must be > 0, got {scale}")
    rng = oracle_rng(seed, cls, index)
    shape = (max(round(BASE_SHAPE[0] * scale), 16), max(round(BASE_SHAPE[1] * scale), 16))
    scene = sample_scene(cls, rng, shape=shape)
    return OracleImage(cls, int(index), float(scale), scene, rng.bit_generator.state)


def render(image: OracleImage, scene: Scene | None = None) -> np.ndarray:
    """The image's 16-band cube (H x W x 16, float32) through its camera, from ``scene`` (a
    modified copy of ``image.scene``; default the image's own). The camera noise is drawn from
    the image's stored random state, so two renderings differ only where the scenes do."""
    rng = np.random.default_rng()
    rng.bit_generator.state = image.noise_state
    return render_cube(image.scene if scene is None else scene, rng, scale=image.scale)


def _with_maps(scene: Scene, maps: dict[str, np.ndarray]) -> Scene:
    out = {k: np.maximum(v, 0).astype(np.float32) for k, v in maps.items()}
    out["sat"] = np.clip(out["sat"], 0.0, 1.0)
    return replace(scene, maps=out)


def shift_chromophores(scene: Scene, **factors: float) -> Scene:
    """A copy of ``scene`` whose truth maps are multiplied everywhere, skin and lesion alike:
    ``melanin`` (epidermal and dermal melanin), ``blood`` (blood volume fraction) and
    ``scattering`` (the dermis's reduced-scattering multiplier), each by its factor (> 0)."""
    unknown = set(factors) - set(SHIFT_MAPS)
    if unknown:
        raise ValueError(f"shift_chromophores: unknown chromophores {sorted(unknown)}; use "
                         f"{', '.join(SHIFT_MAPS)}")
    maps = dict(scene.maps)
    for what, factor in factors.items():
        if not factor > 0:
            raise ValueError(f"shift_chromophores: {what} factor must be > 0, got {factor}")
        for name in SHIFT_MAPS[what]:
            maps[name] = scene.maps[name] * np.float32(factor)
    return _with_maps(scene, maps)


def exaggerate_lesion(scene: Scene, cls: str, factor: float) -> Scene:
    """A copy of ``scene`` whose lesion pixels (the truth labels) carry ``factor`` times their
    excess of epidermal melanin, dermal melanin and blood over the field's median skin in a
    melanoma (``cls`` "MM") and ``1 / factor`` times it in a nevus: the class cue of the
    stand-in (more and deeper melanin, more erythema in melanoma) made stronger. ``factor`` 1
    leaves the scene as it is."""
    if cls not in ("MM", "DN"):
        raise ValueError(f"exaggerate_lesion: cls must be 'MM' or 'DN', got {cls!r}")
    if not factor >= 1:
        raise ValueError(f"exaggerate_lesion: factor must be >= 1, got {factor}")
    k = np.float32(factor if cls == "MM" else 1.0 / factor)
    lesion = scene.labels > 0
    skin = (scene.labels == 0) & scene.field
    maps = dict(scene.maps)
    for name in ("f_mel_epi", "f_mel_derm", "blood"):
        m = scene.maps[name]
        ref = np.float32(np.median(m[skin])) if skin.any() else np.float32(0.0)
        excess = np.maximum(m - ref, 0)
        maps[name] = np.where(lesion, m + (k - 1) * excess, m)
    return _with_maps(scene, maps)
