import json

from hsilib import bench
from hsilib.bench.__main__ import main, run_one


def test_registry_rejects_duplicates_and_lists_core():
    registry = bench.load_all()
    assert "core.seed_and_matmul" in registry
    try:
        bench.register("core.seed_and_matmul", group="core")(lambda cfg: None)
    except ValueError as e:
        assert "twice" in str(e)
    else:
        raise AssertionError("duplicate registration accepted")


def test_run_one_reports_median_items_and_memory():
    row = run_one("core.seed_and_matmul", "smoke")
    assert row["repeats"] == 1 and row["items"] == 20
    assert row["items_per_s"] == row["items"] / row["median_s"]
    assert row["peak_rss_mb"] > 10


def test_main_writes_json_under_the_run_folder(tmp_path, capsys):
    assert main(["--profile", "smoke", "--only", "core.*", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "core.seed_and_matmul" in printed and "peak MB" in printed
    (report,) = (tmp_path / "bench").glob("bench-*.json")
    data = json.loads(report.read_text())
    assert data["profile"] == "smoke"
    assert [r["name"] for r in data["results"]] == ["core.seed_and_matmul"]


# -- interleaved step comparisons ------------------------------------------------------------
import pytest  # noqa: E402
import torch  # noqa: E402

from hsilib.bench import compare, shared, steps  # noqa: E402

TINY = {f: steps.Case(f"tiny_{f}", f, "smoke", {"image_size": 32}, steps_per_call=k)
        for f, k in (("fastgan", 1), ("cyclegan", 1), ("stylegan2", 2))}


def test_interleave_rotates_the_order_and_times_per_item():
    calls = []

    def contender(name, items):
        return lambda: calls.append(name) or items

    times = compare.interleave({"a": contender("a", 1), "b": contender("b", 4),
                                "c": contender("c", 2)}, repeats=3, warmup=1)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    table = compare.summarise({"this": [1.0, 3.0, 2.0], "old": [4.0, 4.0, 5.0]})
    assert table["this"]["median_s"] == 2.0 and table["old"]["ratio"] == 2.0
    # unequal steps (StyleGAN2's lazy R1): means over whole cycles of calls
    assert compare.cycle_means([1.0, 1.0, 1.0, 5.0, 2.0, 2.0, 2.0, 6.0], 4) == [2.0, 3.0]
    assert all(c.cycle % c.steps_per_call == 0 for c in steps.CASES.values())


def test_a_revision_is_imported_beside_this_package():
    old = compare.load_revision("HEAD")
    import hsilib

    assert old is not hsilib and old.__name__.startswith("hsilib_")
    import importlib

    assert importlib.import_module(f"{old.__name__}.config").resolve(
        "smoke", "fastgan").image_size == 32
    assert compare.load_revision("HEAD") is old  # imported once
    with pytest.raises(ValueError, match="no-such-revision"):
        compare.load_revision("no-such-revision")


@pytest.mark.parametrize("family", sorted(TINY))
def test_this_revision_and_published_steps_run_side_by_side(family):
    fns = compare.contenders(TINY[family], "HEAD")
    assert set(fns) == {"this", "HEAD", "published"}
    times = compare.interleave(fns, repeats=1, warmup=0)
    assert all(len(t) == 1 and t[0] > 0 for t in times.values())


def test_port_resampling_equals_the_project_stylegan2_resampling():
    """The published port's filter (its CPU fallback) and the project's separable one are the
    same filter, and an upsampling modulated convolution gives the same images."""
    from hsilib.bench import published_stylegan2 as port
    from hsilib.models import stylegan2_layers as sl

    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(port.upfirdn(x, 1, 1, (2, 1)), sl.blur(x, (2, 1)))
    conv = port.ModConv(3, 4, 3, w_dim=5, up=True).double()
    w = torch.randn(2, 5, dtype=torch.float64)
    styles = conv.mod(w)
    want = sl.modulated_conv2d(x, conv.weight[0] * conv.scale, styles, up=True)
    torch.testing.assert_close(conv(x, w), want)
    # the skip images: the port's filtered upsampling has bilinear's weights inside the image
    up = port.upfirdn(x, 2, 1, (2, 1), gain=4.0)
    bilinear = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear")
    torch.testing.assert_close(up[..., 1:-1, 1:-1], bilinear[..., 1:-1, 1:-1])


def _shifted(x, dy, dx):
    """``x`` (C x H x W) moved down by dy and right by dx, zero-filled."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[:, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def test_published_fastgan_translation_hands_on_a_channels_last_shift():
    from hsilib.bench.published_fastgan import translate_published

    torch.manual_seed(0)
    x = torch.rand(6, 4, 16, 16)
    y = translate_published(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    for xi, yi in zip(x, y, strict=True):  # each image is one shift of up to 2 px of its input
        assert any(torch.equal(yi, _shifted(xi, dy, dx))
                   for dy in range(-2, 3) for dx in range(-2, 3))


def test_published_cyclegan_networks_are_the_project_networks_plus_biases():
    from hsilib.bench import published_cyclegan as ref
    from hsilib.models import cyclegan
    from hsilib.models.layers import count_parameters

    G_ref, G = ref.unet(3, 16, 32, 4), cyclegan.UNetGenerator(3, 16, 32, 4)
    n_bias = sum(m.out_channels for m in G_ref.modules()
                 if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)))
    assert count_parameters(G_ref) - count_parameters(G) == n_bias - 16  # outermost had one
    assert G_ref(torch.rand(2, 3, 32, 32)).shape == (2, 16, 32, 32)


def test_shared_runs_compare_the_policies():
    env = shared.policy_env("passive", threads=2)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env["OMP_NUM_THREADS"] == "2"
    env = shared.policy_env("default")
    assert env["HSILIB_THREAD_DEFAULTS"] == "0" and "OMP_WAIT_POLICY" not in env
    with pytest.raises(ValueError, match="policy"):
        shared.policy_env("active")


def test_published_fastgan_runs_its_upsampling_as_published(monkeypatch):
    """The reference's generator upsamples and then convolves (no folded convolution)."""
    from hsilib.models import layers

    seen = []
    monkeypatch.setattr(layers.UpConv, "folds", lambda self, side: seen.append(self.fold))
    compare.contenders(TINY["fastgan"], None)["published"]()
    assert seen and not any(seen)
