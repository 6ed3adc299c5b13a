import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from hsilib.plotting import savefig  # noqa: E402


def test_savefig_writes_png_and_pdf_when_asked(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = savefig(fig, "01_line", tmp_path)
    assert out == [tmp_path / "01_line.png"]
    assert (tmp_path / "01_line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = savefig(fig, "01_line", tmp_path, pdf=True)
    assert (tmp_path / "01_line.pdf").read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_line.pdf", "01_line.png"]
    plt.close(fig)


def test_savefig_rejects_paths_and_extensions(tmp_path):
    fig = plt.figure()
    with pytest.raises(ValueError, match="bare file stem"):
        savefig(fig, "a/b", tmp_path)
    with pytest.raises(ValueError, match="bare file stem"):
        savefig(fig, "x.png", tmp_path)
    plt.close(fig)


def test_running_mean_is_the_trailing_mean_with_partial_start():
    from hsilib.plotting import running_mean, smoothing_window

    v = [1.0, 3.0, 5.0, 7.0, 9.0]
    assert running_mean(v, 2).tolist() == [1.0, 2.0, 4.0, 6.0, 8.0]
    assert running_mean(v, 1).tolist() == v
    assert running_mean(v, 10).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert smoothing_window(500) == 10 and smoothing_window(500, 25) == 20
    assert smoothing_window(3) == 1  # never 0
    assert running_mean(list(range(100)), points=50).tolist()[:3] == [0.0, 0.5, 1.5]  # window 2
    with pytest.raises(ValueError, match="window"):
        running_mean(v, 0)
