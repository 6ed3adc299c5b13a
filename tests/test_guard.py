"""The test-split guard: generator notebooks cannot read the test split."""

import pytest

from hsilib import guard
from hsilib.notebook import setup


def test_generator_notebook_is_refused_the_test_split(tmp_path):
    setup("03", "smoke", run_dir=tmp_path)
    assert guard.active() == "03"
    guard.check_split("val")  # validation and training are fine
    guard.check_split("train")
    with pytest.raises(guard.TestSplitError, match="notebook 03 may not read the test split"):
        guard.check_split("test", "crops/index.csv")


def test_classifier_notebook_and_plain_code_may_read_it(tmp_path):
    guard.check_split("test")  # no notebook declared: scripts and tests are not refused
    setup("06", "smoke", run_dir=tmp_path)
    guard.check_split("test")
