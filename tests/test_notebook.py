"""The notebooks' shared opening and closing: overrides by section, names of saved files."""

import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hsilib import config  # noqa: E402
from hsilib.notebook import SECTIONS, resolve_overrides, setup  # noqa: E402


def test_overrides_go_to_the_notebooks_own_section_or_the_named_one():
    assert SECTIONS["03"][0] == "fastgan"
    assert resolve_overrides("03", {"steps": 5, "metrics.k": 2, "gan_study.n_synthetic": 7}) == {
        "fastgan": {"steps": 5}, "metrics": {"k": 2}, "gan_study": {"n_synthetic": 7}}
    assert resolve_overrides("06", None) == {}


@pytest.mark.parametrize(("notebook", "overrides", "message"), [
    ("03", {"stepz": 1}, "notebook 03 OVERRIDES: unknown key 'stepz'"),
    ("03", {"classifier.epochs": 1}, "does not read config section 'classifier'"),
    ("06", {"arch": "vgg"}, "arch: got 'vgg'"),
    ("42", {}, "notebook '42' has no config sections"),
])
def test_bad_overrides_are_named(notebook, overrides, message):
    with pytest.raises(config.ConfigError, match=message):
        resolve_overrides(notebook, overrides)


def test_setup_resolves_saves_with_the_notebook_prefix_and_lists_outputs(tmp_path):
    old = tmp_path / "run" / "artifacts" / "old.txt"
    old.parent.mkdir(parents=True)
    old.write_text("written before")
    os.utime(old, (time.time() - 60, time.time() - 60))
    nb = setup("03", "smoke", seed=1, run_dir=tmp_path / "run", overrides={"steps": 2},
               device="cpu", check_inputs=False)  # notebook 03's config and folders only
    assert nb.cfg == config.resolve("smoke", "fastgan", steps=2) and nb.study.fastgan.steps == 2
    assert nb.run.root == (tmp_path / "run").resolve() and str(nb.device) == "cpu"
    fig = plt.figure()
    png, pdf = nb.savefig(fig, "demo")
    plt.close(fig)
    csv = nb.save_table(pd.DataFrame({"a": [1, 2]}), "table")
    assert png.name == "03_demo.png" and png.parent == nb.run.figures
    assert csv == nb.run.results / "03_table.csv" and pd.read_csv(csv).a.tolist() == [1, 2]
    assert pdf == nb.run.figures / "03_demo.pdf" and pdf.is_file()  # PNG + PDF, every profile
    assert nb.outputs().path.tolist() == ["artifacts/results/03_table.csv", "figures/03_demo.pdf",
                                          "figures/03_demo.png"]
    for i in range(3):
        (nb.run.checkpoints / f"c{i}.pt").write_bytes(b"x" * 1024)
    grouped = nb.outputs(max_per_folder=2).set_index("path")
    assert grouped.loc["checkpoints/", "files"] == 3 and grouped.loc["checkpoints/", "kB"] == 3.0
    # a folder of many small sub-folders (one per grid cell) is one row, its siblings stay
    for i in range(3):
        cell = nb.run.results / "cells" / f"cell{i}"
        cell.mkdir(parents=True)
        (cell / "result.csv").write_text("x")
        (cell / "cell.json").write_text("y")
    grouped = nb.outputs(max_per_folder=2).set_index("path")
    assert grouped.loc["artifacts/results/cells/", "files"] == 6
    assert "artifacts/results/03_table.csv" in grouped.index
