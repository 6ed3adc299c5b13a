"""The stand-in data simulator: physically grounded HSIDermoscopy-like cubes with ground truth.

Used by notebook 01 when no real data set is given. One idea per module:

* what a lesion is (class, ABCD / 7-point features): :mod:`~hsilib.standin.lesion`
* shapes, textures and dermoscopic structures on a pixel grid: :mod:`~hsilib.standin.morphology`
* the scene of one image (chromophore maps, truth labels, hairs, field, camera):
  :mod:`~hsilib.standin.scene`
* skin optics (absorbers, scattering, diffuse reflectance; ``docs/skin_optics.md``):
  :mod:`~hsilib.standin.optics`
* the snapshot camera (crosstalk, misregistration, vignetting, noise, 10-bit):
  :mod:`~hsilib.standin.acquisition`
* spectra and cubes to sRGB (CIE 1931 + D65): :mod:`~hsilib.standin.rendering`
* a scene through optics and camera to a cube and an sRGB photo: :mod:`~hsilib.standin.imaging`
* writing the cube folder, its truth and the unpaired RGB set (cached, parallel):
  :mod:`~hsilib.standin.writer`
* is it realistic, how hard is it (skin spectrum, MM-vs-DN separability):
  :mod:`~hsilib.standin.checks`
"""
