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
