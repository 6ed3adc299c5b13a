"""Camera photographs paired with the stand-in's crops: cut exactly as notebook 01 cut the
cubes, resized as the crops are loaded, None on data without photographs."""

import numpy as np
import pandas as pd
import pytest
import torch

from hsilib.data.datasets import eval_transforms
from hsilib.data.hsi_dermoscopy import HSIDermoscopy
from hsilib.data.preprocess import make_crops
from hsilib.models.projection import HSToRGB
from hsilib.paths import run_paths
from hsilib.standin.writer import generate_standin
from hsilib.study.generators import camera


@pytest.fixture(scope="module")
def standin_run(tmp_path_factory):
    run = run_paths(tmp_path_factory.mktemp("run"))
    generate_standin(run.standin, n_mm=3, n_dn=3, n_other=1, scale=0.25, seed=1,
                     progress=False)
    index = make_crops(HSIDermoscopy(run.standin / "hsidermoscopy"), run.crops, size=16,
                       min_area=20, progress=False)
    return run, index


def test_a_photograph_derived_from_the_cube_gives_the_crop(standin_run, monkeypatch):
    """With a 'photograph' made of the cube's bands 0, 7 and 15, each camera crop is those
    bands of the stored crop, resized as load_crops resizes it: the pairing is exact."""
    run, index = standin_run
    from hsilib.data.cube_io import load_cube

    def bands_of_cube(truth, stem):
        cube = load_cube(next((run.standin / "hsidermoscopy").glob(f"*Cube/{stem}.mat")))
        return cube[..., [0, 7, 15]]

    monkeypatch.setattr(camera, "_photo", bands_of_cube)
    ids = list(index.id)
    got = camera.camera_crops(run, ids, 8)
    assert got.shape == (len(ids), 3, 8, 8)
    for i, r in enumerate(index.itertuples()):
        crop = np.load(run.crops / r.path)["cube"][..., [0, 7, 15]]
        want = torch.from_numpy(eval_transforms(8)(image=np.clip(crop, 0, 1))["image"])
        torch.testing.assert_close(got[i], want.permute(2, 0, 1), atol=1e-6, rtol=0)


def test_camera_crops_are_photographs_in_order_and_none_without(standin_run, tmp_path):
    run, index = standin_run
    ids = list(index.id[::-1])  # any order
    photos = camera.camera_crops(run, ids, 16)
    assert photos.shape == (len(ids), 3, 16, 16)
    assert 0 <= photos.min() and photos.max() <= 1 and photos.std() > 0.01
    one = camera.camera_crops(run, ids[:1], 16)
    torch.testing.assert_close(one[0], photos[0])
    # the CIE rendering of the same crops and their photographs: a few CIEDE2000 units apart
    crops = torch.stack([torch.from_numpy(eval_transforms(16)(image=np.load(
        run.crops / index.set_index("id").path[i])["cube"])["image"]) for i in ids])
    with torch.no_grad():
        cie = HSToRGB()(crops.permute(0, 3, 1, 2)).clamp(0, 1)
    assert camera.median_ciede2000(photos, photos) == 0.0
    assert 1.0 < camera.median_ciede2000(cie, photos) < 15.0
    # a run without photographs (real data): None
    real = run_paths(tmp_path)
    real.crops.mkdir(parents=True)
    index.to_csv(real.crops / "index.csv", index=False)
    assert camera.camera_crops(real, ids, 16) is None


def test_a_crop_folder_of_other_cubes_is_refused(standin_run, tmp_path):
    run, index = standin_run
    path = run.crops / index.path.iloc[0]
    saved = dict(np.load(path))
    try:
        np.savez(path, cube=saved["cube"] * 0.5, mask=saved["mask"])
        with pytest.raises(ValueError, match="does not give the stored crop"):
            camera.camera_crops(run, [index.id.iloc[0]], 8)
    finally:
        np.savez(path, **saved)
    assert isinstance(pd.read_csv(run.crops / "index.csv"), pd.DataFrame)
