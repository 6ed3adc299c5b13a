"""How hard the stand-in is (hsilib.standin.checks)."""

import pytest

from hsilib.standin.checks import separability_auroc
from hsilib.standin.writer import generate_standin


@pytest.mark.slow
def test_melanoma_vs_dysplastic_nevus_is_hard_but_possible(tmp_path):
    root = generate_standin(tmp_path, n_mm=85, n_dn=175, n_other=0, scale=0.5, seed=0,
                            workers=2, progress=False)
    auroc = separability_auroc(root, seed=0)
    assert 0.65 < auroc < 0.90, auroc
