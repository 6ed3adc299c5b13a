"""How hard the stand-in is (hsilib.standin.checks), and whether its framing gives the class
away (hsilib.study.audit)."""

import warnings

import pytest

from hsilib.data.datasets import read_index
from hsilib.data.hsi_dermoscopy import HSIDermoscopy
from hsilib.data.preprocess import SegmentationWarning, make_crops
from hsilib.standin.checks import separability_auroc
from hsilib.standin.writer import generate_standin
from hsilib.study.audit import edge_share_check


@pytest.mark.slow
def test_melanoma_vs_dysplastic_nevus_is_hard_but_possible(tmp_path):
    root = generate_standin(tmp_path, n_mm=85, n_dn=175, n_other=0, scale=0.5, seed=0,
                            workers=2, progress=False)
    auroc = separability_auroc(root, seed=0)
    assert 0.65 < auroc < 0.90, auroc


@pytest.mark.slow
def test_quick_size_standin_crops_reach_the_field_edge_alike_for_mm_and_dn(tmp_path):
    root = generate_standin(tmp_path, n_mm=85, n_dn=175, n_other=2, scale=0.5, seed=0,
                            workers=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentationWarning)
        make_crops(HSIDermoscopy(root / "hsidermoscopy"), tmp_path / "crops", size=64,
                   min_area=100, workers=2, progress=False)
    check = edge_share_check(read_index(tmp_path / "crops"))
    assert check.passed, check.sentence
