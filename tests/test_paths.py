import pytest

from hsilib import paths


def test_default_layout_under_runs_profile(tmp_path):
    run = paths.run_paths(None, "smoke")
    assert run.root == paths.RUNS_ROOT / "smoke"
    run = paths.run_paths(tmp_path / "r", "quick").make()
    for sub in ("notebooks", "artifacts", "figures", "checkpoints"):
        assert (tmp_path / "r" / sub).is_dir()
    assert run.crops == tmp_path / "r" / "artifacts" / "crops"
    assert run.synthetic("fastgan_mm") == tmp_path / "r" / "artifacts" / "synthetic" / "fastgan_mm"
    assert run.manifest == tmp_path / "r" / "manifest.json"


def test_require_names_the_missing_file_and_its_maker(tmp_path):
    run = paths.run_paths(tmp_path, "quick")
    with pytest.raises(paths.MissingInputError, match=r"crops/index.csv.*01_preprocessing"):
        run.require("artifacts/crops/index.csv", made_by="01_preprocessing")
    (tmp_path / "x.txt").write_text("x")
    assert run.require("x.txt", made_by="01") == tmp_path / "x.txt"


def test_atomic_path_renames_on_success_only(tmp_path):
    target = tmp_path / "sub" / "table.csv"
    with paths.atomic_path(target) as tmp:
        assert tmp.suffix == ".csv" and tmp.parent == target.parent
        tmp.write_text("a,b\n")
    assert target.read_text() == "a,b\n"
    assert target.stat().st_mode & 0o777 == 0o666 & ~paths._umask()  # not mkstemp's 0600

    with pytest.raises(RuntimeError), paths.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "a,b\n"  # the old file survives
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]  # no temp left


def test_atomic_dir_replaces_whole_folders_only_on_success(tmp_path):
    target = tmp_path / "crops"
    with paths.atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    assert sorted(p.name for p in target.iterdir()) == [paths.OUTPUT_MARKER, "a.txt"]
    assert target.stat().st_mode & 0o777 == 0o777 & ~paths._umask()  # not mkdtemp's 0700

    with paths.atomic_dir(target) as tmp:  # a rerun replaces the folder whole
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == [paths.OUTPUT_MARKER, "b.txt"]

    with pytest.raises(KeyError), paths.atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("half")
        raise KeyError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == [paths.OUTPUT_MARKER, "b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops"]
