"""Bad input, part 4: a resumed generator keeps its record of training images true (class 5 of
the table in ``tests/test_bad_input.py``) and the test split is closed by every route (class 6).

Each case of :data:`CASES` must raise the stated error with a message naming the file or the
notebook, and leave its folder byte for byte as it was (``badinput.check_case``). The tests
after the cases check what is allowed: every crop of a synthetic folder in a generator
notebook, every crop in notebook 01 and the classifier notebooks, and a resume on other images
when asked for, with a record that lists both runs.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from badinput import (
    CTX,
    Cases,
    check_case,
    crops,  # noqa: F401 (fixture)
    esc,
    normaliser,
    source,  # noqa: F401 (fixture)
    tiny_trainer,
)
from fakedata import write_fake_crops

from hsilib import guard
from hsilib.data.datasets import CropDataset, fit_train_normaliser, load_crops
from hsilib.study.audit import lesion_range_table
from hsilib.study.states import discover_states

CASES = Cases()


# -- 5. a resumed generator keeps its record of training images true ---------------------------
def _resume(trainer):
    return lambda: trainer.load(CTX["source"] / "gan.pt")


@CASES
def resume_on_other_images(tmp):
    return (_resume(tiny_trainer([f"d{i}" for i in range(4)])), ValueError,
            r"gan\.pt was trained on other images than this trainer's \(4 ids, e\.g\. \['c0'")


@CASES
def resume_by_a_trainer_without_a_record(tmp):
    return _resume(tiny_trainer(None)), ValueError, r"gan\.pt .*other images .*vs no record"


@CASES
def resume_on_the_same_images_in_another_order(tmp):
    return (_resume(tiny_trainer(["c1", "c0", "c2", "c3"])), ValueError,
            r"gan\.pt was trained on other images")


@CASES
def resume_of_a_checkpoint_without_a_record(tmp):
    ck = torch.load(CTX["source"] / "gan.pt", weights_only=True)
    ck["data_ids"] = None
    torch.save(ck, tmp / "anon.pt")
    trainer = tiny_trainer([f"c{i}" for i in range(4)])
    return (lambda: trainer.load(tmp / "anon.pt"), ValueError,
            r"anon\.pt was trained on other images than this trainer's \(no record vs 4 ids")


# -- 6. the test split is closed by every route --------------------------------------------------
def _in(notebook, fn):
    def call():
        guard.enter(notebook)
        return fn()
    return call


@CASES
def normaliser_fitted_on_test_in_a_generator_notebook(tmp):
    folder, splits = CTX["crops"]
    return (_in("03", lambda: fit_train_normaliser(folder, splits, split="test")),
            guard.TestSplitError, r"notebook 03: nothing is fitted or chosen on the test split")


@CASES
def normaliser_fitted_on_test_in_a_classifier_notebook(tmp):
    folder, splits = CTX["crops"]
    return (_in("06", lambda: fit_train_normaliser(folder, splits, split="test")),
            guard.TestSplitError, rf"notebook 06: .*fit_train_normaliser on {esc(folder)}")


@CASES
def every_crop_loaded_in_a_generator_notebook(tmp):
    folder, _ = CTX["crops"]
    return (_in("03", lambda: load_crops(folder, normaliser(), 8)), guard.TestSplitError,
            rf"notebook 03 may not read every real crop at once \(CropDataset of {esc(folder)}")


@CASES
def every_crop_in_a_dataset_of_the_vae_notebook(tmp):
    folder, _ = CTX["crops"]
    return (_in("05", lambda: CropDataset(folder)), guard.TestSplitError,
            r"notebook 05 may not read every real crop")


@CASES
def every_crop_of_a_table_in_the_ablation_notebook(tmp):
    from hsilib.data.crop_folder import read_index

    table = read_index(CTX["crops"][0])
    return (_in("02", lambda: CropDataset(table)), guard.TestSplitError,
            r"notebook 02 may not read every real crop at once \(CropDataset of a crop table")


@CASES
def reading_the_test_split_in_the_conditional_notebook(tmp):
    folder, splits = CTX["crops"]
    return (_in("04", lambda: load_crops(folder, normaliser(), 8, "test", splits)),
            guard.TestSplitError, r"notebook 04 may not read the test split")


@CASES
def lesion_range_table_of_the_test_split(tmp):
    folder, splits = CTX["crops"]
    table = pd.read_csv(splits)
    return (_in("01", lambda: lesion_range_table(folder, table, {"unit": normaliser()},
                                                 split="test")),
            guard.TestSplitError, r"notebook 01 may not read the test split \(lesion_range_tab")


@CASES
def generator_states_filtered_by_the_test_split(tmp):
    (tmp / "ck").mkdir()
    return (_in("08", lambda: discover_states(tmp / "ck", CTX["crops"][1], train_split="test")),
            guard.TestSplitError, r"notebook 08: nothing is fitted or chosen on the test split")


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_early_named_and_harmless(name, tmp_path, source, crops):  # noqa: F811
    CTX["source"], CTX["crops"] = source, crops
    check_case(CASES, name, tmp_path)




def test_synthetic_folders_and_notebook_01_may_read_every_crop(tmp_path, crops):  # noqa: F811
    write_fake_crops(tmp_path / "syn", 2, synthetic=True)
    guard.enter("03")
    assert len(CropDataset(tmp_path / "syn")) == 4  # no test split in a synthetic folder
    guard.enter("01")
    assert len(CropDataset(crops[0])) == 12  # the data checks of notebook 01
    guard.enter("07")
    assert len(load_crops(crops[0], normaliser(), 8)) == 12


def test_other_data_resumes_and_the_record_lists_both_runs(source):  # noqa: F811
    trainer = tiny_trainer(["d0", "d1", "c0", "d3"])
    trainer.load(source / "gan.pt", other_data=True)
    assert trainer.data_ids == ["c0", "c1", "c2", "c3", "d0", "d1", "d3"]
    assert trainer.state_dict()["data_ids"] == trainer.data_ids
    anonymous = tiny_trainer(None)
    anonymous.load(source / "gan.pt", other_data=True)
    assert anonymous.data_ids is None  # one run's images are unknown: so are the union's


