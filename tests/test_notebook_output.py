"""The checker of executed notebooks' outputs (tests/notebook_output.py) on small notebooks
whose problems are known, and the pieces of hsilib that keep real outputs clean: the one-line
progress summary, the targeted warning filters and the segmentation-note summary."""

import io
import warnings

import pytest
from notebook_output import output_problems

from hsilib import quiet, runtime
from hsilib.data.masks import SegmentationWarning
from hsilib.data.preprocess import summarise_notes


def notebook(*cells):
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def md(source, cid="m"):
    return {"cell_type": "markdown", "id": cid, "metadata": {}, "source": source}


def code(source, *outputs, cid="c"):
    return {"cell_type": "code", "id": cid, "metadata": {}, "source": source,
            "execution_count": 1, "outputs": list(outputs)}


def stream(text, name="stdout"):
    return {"output_type": "stream", "name": name, "text": text}


def result(text):
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
            "data": {"text/plain": text}}


SEG = ("/tmp/ipykernel_1/14.py:2: SegmentationWarning: 99 segmentation note(s) on 330 "
       "images\n  index = make_crops(ds)\n")
TORCH = ("/work/hsilib/study/correlation_utility.py:60: UserWarning: The given NumPy array is "
         "not writable, and PyTorch does not support non-writable tensors.\n  pt = ...\n")


def test_a_clean_notebook_has_no_problem():
    nb = notebook(md("# 01"), code("print(cfg)", stream("DataConfig\n  scale = 0.5\n")),
                  code("train()", stream("fastgan_mm_g0: 200/200 steps in 63.0 s (0.315 "
                                         "s/step); d_real=0.68\n")),
                  code("df", result("   a\n0  1")))
    assert output_problems(nb, "01") == []


def test_a_warning_needs_its_category_named_next_to_it():
    bare = notebook(md("## 4. Crops"), code("index = make_crops(ds)", stream(SEG, "stderr")))
    (problem,) = output_problems(bare, "01")
    assert problem.startswith("01 cell 1 (c): 1 x SegmentationWarning printed")
    said = notebook(md("## 4. Crops\nWhat was dropped is reported in one `SegmentationWarning`."),
                    code("index = make_crops(ds)", stream(SEG, "stderr")))
    assert output_problems(said) == []
    in_code = notebook(code("# warns: SegmentationWarning (border segments)\nmake_crops(ds)",
                            stream(SEG, "stderr")))
    assert output_problems(in_code) == []
    # markdown above an earlier code cell does not explain a later cell
    far = notebook(md("a SegmentationWarning"), code("x = 1"), code("make_crops(ds)",
                                                                    stream(SEG, "stderr")))
    assert len(output_problems(far)) == 1
    # two categories in one cell: each needs its explanation; stderr text without Python's
    # format still counts
    both = notebook(md("SegmentationWarning"),
                    code("f()", stream(SEG + TORCH, "stderr"),
                         stream("numpy RuntimeWarning: overflow\n", "stderr")))
    assert [p.split(": ", 1)[1].split(" printed")[0] for p in output_problems(both)] == [
        "1 x RuntimeWarning", "1 x UserWarning"]


def test_a_bar_redrawn_in_place_and_two_lines_of_one_training_are_flagged():
    redrawn = ("\rfastgan_mm_g0:   0%|          | 0/100 [00:00<?, ?it/s]"
               "\rfastgan_mm_g0:  50%|#####     | 50/100 [00:05<00:05]"
               "\rfastgan_mm_g0: 100%|##########| 100/100 [00:10<00:00]\n")
    problems = output_problems(notebook(code("train()", stream(redrawn))), "03")
    assert "03 cell 0 (c): a progress bar redrawn in place (3 carriage returns)" in problems
    assert "03 cell 0 (c): 3 progress lines for 'fastgan_mm_g0', want one" in problems
    twice = stream("real seed 0: 27/40 epochs in 10.1 s (0.374 s/epoch)\n"
                   "real seed 0: 40/40 epochs in 14.0 s (0.35 s/epoch)\n")
    assert output_problems(notebook(code("grid()", twice))) == [
        "cell 0 (c): 2 progress lines for 'real seed 0', want one"]
    several = stream("real seed 0: 27/40 epochs in 10.1 s (0.374 s/epoch)\n"
                     "real seed 1: 100->200/200 steps in 31.0 s (0.31 s/step); d=1\n")
    assert output_problems(notebook(code("grid()", several))) == []


def test_long_lines_are_flagged_in_streams_and_results():
    line = "DataConfig(" + ", ".join(f"field_{i}={i}" for i in range(30)) + ")"
    assert len(line) > 200
    problems = output_problems(notebook(code("cfg", result(line)), code("print(x)",
                                                                         stream(line))))
    assert len(problems) == 2 and all("longer than 200 characters" in p for p in problems)
    assert output_problems(notebook(code("cfg", result(line))), max_line=400) == []
    with pytest.raises(ValueError, match="max_line"):
        output_problems(notebook(), max_line=0)


# -- what keeps the real outputs clean -------------------------------------------------------
def test_one_line_progress_prints_one_summary_when_it_closes():
    out = io.StringIO()
    bar = runtime.OneLineProgress(total=200, desc="fastgan_mm_g0", initial=100, unit="step",
                                  file=out)
    for _ in range(100):
        bar.update(1)
        bar.set_postfix({"d_real": "0.5", "d_rec": "1.2"}, refresh=False)
    assert out.getvalue() == ""  # nothing while it runs
    bar.close()
    bar.close()  # closing twice prints once
    (line,) = out.getvalue().splitlines()
    assert line.startswith("fastgan_mm_g0: 100->200/200 steps in ")
    assert line.endswith("s/step); d_real=0.5, d_rec=1.2")
    assert output_problems(notebook(code("train()", stream(out.getvalue())))) == []
    # an iterable stopped early (a classifier's early stopping), a long postfix cut to fit
    out = io.StringIO()
    epochs = runtime.OneLineProgress(range(40), total=40, desc="real seed 0", unit="epoch",
                                     file=out)
    for e in epochs:
        epochs.set_postfix({f"loss_{i}": f"{i}.0" for i in range(40)}, refresh=False)
        if e == 9:
            break
    del epochs
    (line,) = out.getvalue().splitlines()
    assert line.startswith("real seed 0: ") and " epochs in " in line
    assert len(line) <= runtime.SUMMARY_WIDTH and line.endswith(".0")
    silent = io.StringIO()
    off = runtime.OneLineProgress(total=3, desc="off", file=silent, disable=True)
    off.update(3)
    off.close()
    assert silent.getvalue() == ""


def test_progress_is_one_line_where_nobody_watches(monkeypatch):
    monkeypatch.setenv("HSILIB_PLAIN_PROGRESS", "1")
    monkeypatch.setattr(runtime, "interactive_terminal", lambda: False)
    assert isinstance(runtime.progress(total=2, desc="x"), runtime.OneLineProgress)
    monkeypatch.setattr(runtime, "interactive_terminal", lambda: True)
    bar = runtime.progress(total=2, desc="x", file=io.StringIO())
    assert not isinstance(bar, runtime.OneLineProgress)  # a terminal keeps its live bar
    bar.close()


def test_expected_warnings_silence_only_the_named_warning():
    from hsilib.models.losses import reconstruction_loss

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet.expected_warnings("lpips_fallback"):
            reconstruction_loss(16, None)
            warnings.warn("FastGANConfig.lpips_weights is not set", RuntimeWarning, stacklevel=1)
            warnings.warn("something else", UserWarning, stacklevel=1)
    assert [(w.category, str(w.message)) for w in caught] == [
        (RuntimeWarning, "FastGANConfig.lpips_weights is not set"),  # another category
        (UserWarning, "something else")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reconstruction_loss(16, None)  # outside the block it still warns
    assert len(caught) == 1 and quiet.is_expected("lpips_fallback", caught[0].category,
                                                  str(caught[0].message))
    # a third-party warning is silenced only from its module
    assert quiet.is_expected("torchvision_pretrained", UserWarning,
                             "The parameter 'pretrained' is deprecated since 0.13",
                             "torchvision.models._utils")
    assert not quiet.is_expected("torchvision_pretrained", UserWarning,
                                 "The parameter 'pretrained' is deprecated", "hsilib.models")
    assert quiet.is_expected("segmentation_notes", SegmentationWarning, "MM_1.mat: no lesion found")
    assert not quiet.is_expected("segmentation_notes", SegmentationWarning,
                                 "masks_dir m: 2 PNG file(s) match no cube's name")
    for bad in ((), ("lpips",)):
        with pytest.raises(ValueError, match="names must be some of"):
            with quiet.expected_warnings(*bad):
                pass


def test_every_expected_warning_names_a_warning_class_and_a_reason():
    for name, e in quiet.EXPECTED.items():
        assert issubclass(e.category_class(), Warning), name
        assert len(e.reason) > 40, name


def test_segmentation_notes_are_summarised_a_line_per_kind():
    notes = [f"/d/MMCube/MM_{i:04d}.mat: dropped 0 segment(s) below min_area=100 px (areas []) "
             f"and 1 touching the field border (areas [{300 + i}])" for i in range(97)]
    notes += ["/d/DNCube/DN_0001.mat: dropped 2 segment(s) below min_area=100 px (areas [40, "
              "30]) and 0 touching the field border (areas [])",
              "/d/DNCube/DN_0001.mat: no lesion left after filtering",
              "/m/DN_0002_crop01_mask.png: edited (or not written by this project), kept; pass "
              "overwrite_masks=True to replace it with the new automatic mask",
              "/d/x.mat: something new"]
    text = summarise_notes(notes, 330)
    lines = text.splitlines()
    assert lines[0] == "101 segmentation note(s) on 330 images (each in index.attrs['warnings']):"
    assert lines[1] == ("  97 x a segment touching the dermoscope field's border dropped (a lesion "
                        "cut by the field edge has no reliable shape); first: MM_0000.mat")
    assert notes[97] in text and notes[98] in text and notes[99] in text  # few: in full
    assert lines[-1] == "  /d/x.mat: something new"  # a kind not listed still shows
    assert len(lines) == 6 and max(map(len, lines)) <= 200
    with pytest.raises(ValueError, match="notes is empty"):
        summarise_notes([], 3)


def test_no_blanket_warning_filter_in_the_package_or_the_notebooks():
    """Warnings are silenced by name (hsilib.quiet) or by category and message, never all."""
    import re
    from pathlib import Path

    import nbformat

    repo = Path(__file__).resolve().parent.parent
    blanket = re.compile(r"(simplefilter|filterwarnings)\(\s*[\"']ignore[\"']\s*\)")
    sources = {p: p.read_text() for p in (repo / "hsilib").rglob("*.py")}
    for p in (repo / "notebooks").glob("*.ipynb"):
        sources[p] = "\n".join(c.source for c in nbformat.read(p, as_version=4).cells)
    found = [f"{p.relative_to(repo)}: {m.group(0)}" for p, text in sources.items()
             for m in blanket.finditer(text)]
    assert not found, found
