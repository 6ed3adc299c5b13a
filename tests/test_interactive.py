"""The explorers: their frames drawn headlessly, by value, and the widgets' controls redrawing.

The latent explorers run on tiny randomly initialised networks (a 32-pixel StyleGAN2, the smoke
profile's VAE): the properties tested hold for any weights."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hsilib import WAVELENGTHS_NM, config  # noqa: E402
from hsilib.interactive import (  # noqa: E402
    cube_explorer,
    cube_view,
    lesion_mean_spectrum,
    nearest_band,
    seeded_latent,
    sefa_edit,
    sefa_explorer,
    sefa_view,
    vae_explorer,
    vae_interpolation_view,
    vae_path,
)
from hsilib.models import stylegan2, stylegan2_edit  # noqa: E402
from hsilib.models.vae import VAEObjective  # noqa: E402
from hsilib.plotting import rules, savefig  # noqa: E402
from hsilib.standin.rendering import cube_to_rgb  # noqa: E402


def sample(stem="MM_0001", h=12, w=20):
    """A cube whose pixel (r, c) in band b holds 0.1 + 0.01 b + 0.001 r + 0.0001 c."""
    r, c, b = np.meshgrid(np.arange(h), np.arange(w), np.arange(16), indexing="ij")
    cube = 0.1 + 0.01 * b + 0.001 * r + 0.0001 * c
    return {"cube": cube, "wavelengths_nm": WAVELENGTHS_NM, "stem": stem, "class": "MM"}


def references(stem="MM_0001"):
    rows = [{"stem": stem, "class": "MM", "region": region,
             **dict(zip(WAVELENGTHS_NM, np.full(16, level), strict=True))}
            for region, level in (("lesion", 0.05), ("skin", 0.3))]
    rows.append({"stem": "other", "class": "DN", "region": "lesion",
                 **dict(zip(WAVELENGTHS_NM, np.full(16, 0.9), strict=True))})
    return pd.DataFrame(rows)


def test_nearest_band_snaps_to_the_grid_and_refuses_other_ranges():
    assert nearest_band(465) == 0 and nearest_band(630) == 15
    assert nearest_band(545) == WAVELENGTHS_NM.index(542)
    assert nearest_band(470.4) == 0 and nearest_band(470.6) == 1  # half of an 11 nm step
    with pytest.raises(ValueError, match="wavelength_nm=700 lies outside"):
        nearest_band(700)


def test_frame_shows_the_band_the_pixel_and_its_references():
    s = sample()
    fig = cube_view(s, 542, row=3, col=7, references=references())
    band_ax, spectrum_ax, rgb_ax = fig.axes[:3]
    band = WAVELENGTHS_NM.index(542)
    np.testing.assert_allclose(band_ax.images[0].get_array(), s["cube"][..., band])
    assert band_ax.get_title().startswith("542 nm")
    np.testing.assert_allclose(rgb_ax.images[0].get_array(), cube_to_rgb(s["cube"],
                                                                          WAVELENGTHS_NM))
    lines = {ln.get_label(): ln for ln in spectrum_ax.get_lines()}
    np.testing.assert_allclose(lines["pixel (3, 7)"].get_ydata(), s["cube"][3, 7])
    np.testing.assert_allclose(lines["lesion mean of this image"].get_ydata(), 0.05)
    np.testing.assert_allclose(lines["skin mean of this image"].get_ydata(), 0.3)
    assert len([k for k in lines if "mean of this image" in k]) == 2  # not the other image's
    marker = band_ax.get_lines()[0]
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (7, 3)  # x = column, y = row
    plt.close(fig)


def test_frame_keeps_the_figure_rules(tmp_path):
    savefig(cube_view(sample(), 542, row=3, col=7, references=references()), "01_explorer",
            tmp_path)
    plt.close("all")
    assert rules.violations(rules.read_record(tmp_path / "01_explorer.png")) == []


def test_frame_without_references_and_a_bad_pixel():
    fig = cube_view(sample(), 465, row=0, col=0)
    assert [ln.get_label() for ln in fig.axes[1].get_lines()][0] == "pixel (0, 0)"
    plt.close(fig)
    with pytest.raises(ValueError, match=r"pixel \(row=12, col=0\) lies outside the 12 x 20"):
        cube_view(sample(), 465, row=12, col=0)


def test_explorer_sliders_span_the_cube_and_redraw(capsys):
    data = [sample("MM_0001"), sample("MM_0002", h=8, w=8)]
    box = cube_explorer(data, references())
    image, nm = box.children[0].children
    row, col = box.children[1].children
    assert (nm.min, nm.max, nm.step) == (465, 630, 11)
    assert (image.max, row.max, col.max) == (1, 11, 19)
    capsys.readouterr()
    row.value, col.value = 11, 19
    image.value = 1  # a smaller image: the pixel is clipped into it, no error
    nm.value = 597
    assert capsys.readouterr().out.count("Figure(") == 4  # one frame per move (no IPython here)
    plt.close("all")
    with pytest.raises(ValueError, match="no image"):
        cube_explorer([])


# --------------------------------------------------------------------------------------------
# The SeFa explorer
# --------------------------------------------------------------------------------------------
def to_reflectance(x):
    """A stand-in normaliser: [-1, 1] -> reflectance 0.1 to 0.5 in every band."""
    return 0.1 + 0.2 * (x + 1)


def rgb(image):
    """What the explorers show of one reflectance image (B x H x W)."""
    return np.clip(cube_to_rgb(image.permute(1, 2, 0).numpy(), WAVELENGTHS_NM), 0, 1)


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    G = stylegan2.Generator(32, 16, z_dim=16, w_dim=8, mapping_layers=1, channel_base=64,
                            channel_max=8).eval()
    directions, eigenvalues = stylegan2_edit.sefa_directions(G, k=3)
    sd = stylegan2_edit.w_spread(G, directions, n=200)
    return G, directions, eigenvalues, sd


def synthesise(G, w):
    with torch.no_grad():
        return G.synthesis(w[None, None].repeat(1, G.n_ws, 1), noise="none")[0]


def test_seeded_latent_is_the_first_of_a_seeded_draw(generator):
    G = generator[0]
    with torch.no_grad():
        z = torch.randn(8, 16, generator=torch.Generator().manual_seed(4))  # as traversals draws
        first = G.mapping(z)[0]
    # the traversals' first latent (a batch of 8 maps it up to rounding)
    torch.testing.assert_close(seeded_latent(G, 4), first, atol=1e-6, rtol=0)
    assert not torch.equal(seeded_latent(G, 4), seeded_latent(G, 5))


def test_edit_moves_w_along_exactly_the_chosen_direction(generator):
    G, directions, _, sd = generator
    e = sefa_edit(G, directions, direction=1, strength=2.5, sd=sd, seed=3)
    assert torch.equal(e["w"], seeded_latent(G, 3))
    step = e["w_edited"] - e["w"]
    torch.testing.assert_close(step, 2.5 * sd[1] * directions[1])
    # in the directions' orthonormal basis: 2.5 sd along direction 2 (index 1), nothing else
    torch.testing.assert_close(directions @ step, torch.tensor([0.0, 2.5 * float(sd[1]), 0.0]),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(e["edited"], synthesise(G, e["w_edited"]), atol=1e-5, rtol=0)
    torch.testing.assert_close(e["base"], synthesise(G, e["w"]), atol=1e-5, rtol=0)
    assert (e["edited"] - e["base"]).abs().max() > 1e-4  # the move changes the image
    # without sd, the spread is computed (w_spread's default draw)
    again = sefa_edit(G, directions, direction=1, strength=2.5, seed=3)
    torch.testing.assert_close(again["w_edited"] - again["w"],
                               2.5 * stylegan2_edit.w_spread(G, directions)[1] * directions[1])


def test_strength_zero_gives_the_base_image_exactly(generator):
    G, directions, _, sd = generator
    e = sefa_edit(G, directions, direction=0, strength=0.0, sd=sd, seed=7)
    assert torch.equal(e["w_edited"], e["w"]) and torch.equal(e["edited"], e["base"])
    fig = sefa_view(G, directions, direction=0, strength=0, sd=sd, seed=7,
                    to_reflectance=to_reflectance)
    base_ax, edited_ax, change_ax = fig.axes[:3]
    np.testing.assert_array_equal(base_ax.images[0].get_array(),
                                  edited_ax.images[0].get_array())
    assert np.all(change_ax.images[0].get_array() == 0)
    plt.close(fig)


def test_edit_of_a_given_latent_in_w_plus_moves_every_layer(generator):
    G, directions, _, sd = generator
    w = torch.randn(G.n_ws, 8, generator=torch.Generator().manual_seed(2))
    e = sefa_edit(G, directions, direction=2, strength=-1.5, sd=sd, w=w)
    assert torch.equal(e["w"], w)
    torch.testing.assert_close(e["w_edited"], w - 1.5 * sd[2] * directions[2].expand(G.n_ws, -1))
    with torch.no_grad():
        want = G.synthesis(e["w_edited"][None], noise="none")[0]
    torch.testing.assert_close(e["edited"], want, atol=1e-5, rtol=0)


def test_sefa_frame_shows_the_edit_it_computed_and_is_deterministic(generator):
    G, directions, eigenvalues, sd = generator
    kw = dict(direction=1, strength=2.0, sd=sd, seed=5, eigenvalues=eigenvalues,
              to_reflectance=to_reflectance)
    fig = sefa_view(G, directions, **kw)
    e = sefa_edit(G, directions, direction=1, strength=2.0, sd=sd, seed=5)
    base, edited = to_reflectance(e["base"].clamp(-1, 1)), to_reflectance(e["edited"].clamp(-1, 1))
    base_ax, edited_ax, change_ax, spectrum_ax = fig.axes[:4]
    np.testing.assert_allclose(base_ax.images[0].get_array(), rgb(base))
    np.testing.assert_allclose(edited_ax.images[0].get_array(), rgb(edited))
    np.testing.assert_allclose(change_ax.images[0].get_array(), (edited - base).mean(0),
                               atol=1e-7)
    assert base_ax.get_title().startswith("base, seed 5")
    assert edited_ax.get_title().startswith(f"+2.00 sd along direction 2 (eigenvalue "
                                            f"{float(eigenvalues[1]):.2f})")
    lines = {ln.get_label().split(":")[0]: ln for ln in spectrum_ax.get_lines()}
    np.testing.assert_allclose(lines["base"].get_ydata(), lesion_mean_spectrum(base)[0])
    np.testing.assert_allclose(lines["edited"].get_ydata(), lesion_mean_spectrum(edited)[0])
    again = sefa_view(G, directions, **kw)
    np.testing.assert_array_equal(again.axes[1].images[0].get_array(),
                                  edited_ax.images[0].get_array())  # same seed, same frame
    other = sefa_view(G, directions, **(kw | {"seed": 6}))
    assert not np.array_equal(other.axes[1].images[0].get_array(),
                              edited_ax.images[0].get_array())
    plt.close("all")


def test_lesion_mean_spectrum_reads_the_dark_pixels_or_the_whole_image():
    image = torch.full((16, 20, 20), 0.4)
    image[:, 5:12, 6:13] = torch.linspace(0.05, 0.2, 16)[:, None, None]  # a dark lesion
    spectrum, found = lesion_mean_spectrum(image)
    assert found
    np.testing.assert_allclose(spectrum, np.linspace(0.05, 0.2, 16), rtol=1e-6)
    flat, found = lesion_mean_spectrum(torch.full((16, 8, 8), 0.3))
    assert not found
    np.testing.assert_allclose(flat, 0.3, rtol=1e-6)


def test_sefa_bad_values_are_named(generator):
    G, directions, _, sd = generator
    for bad in (3, -1, 1.0):
        with pytest.raises(ValueError, match=rf"direction must be an index from 0 to 2 \(3 "
                                             rf"directions\), got {bad!r}"):
            sefa_edit(G, directions, direction=bad, strength=1.0, sd=sd)
    for bad in (float("nan"), float("inf"), "strong", None):
        with pytest.raises(ValueError, match="strength must be a finite number"):
            sefa_view(G, directions, direction=0, strength=bad, sd=sd)
    with pytest.raises(ValueError, match=r"sd must hold one spread per direction \(3\)"):
        sefa_edit(G, directions, direction=0, strength=1.0, sd=sd[:2])
    with pytest.raises(ValueError, match="w must be one latent of 8 values"):
        sefa_edit(G, directions, direction=0, strength=1.0, sd=sd, w=torch.zeros(3, 8))
    with pytest.raises(ValueError, match="directions must be k x 8"):
        sefa_edit(G, torch.zeros(3, 5), direction=0, strength=1.0, sd=sd)


def test_sefa_explorer_controls_and_redraws(generator, capsys):
    G, directions, eigenvalues, sd = generator
    box = sefa_explorer(G, directions, sd=sd, eigenvalues=eigenvalues,
                        to_reflectance=to_reflectance, max_strength=2.0, n_seeds=10)
    direction, latent = box.children[0].children
    strength = box.children[1]
    assert [v for _, v in direction.options] == [0, 1, 2]
    assert direction.options[0][0] == f"direction 1 (eigenvalue {float(eigenvalues[0]):.2f})"
    assert (strength.min, strength.max, strength.value) == (-2.0, 2.0, 0.0)
    assert (latent.description, latent.max) == ("seed", 9)
    capsys.readouterr()
    direction.value = 2
    strength.value = 1.5
    latent.value = 9
    assert capsys.readouterr().out.count("Figure(") == 3  # one frame per move
    ws = torch.randn(4, G.n_ws, 8)  # e.g. crops inverted into W+
    box = sefa_explorer(G, directions, sd=sd, ws=ws)
    latent = box.children[0].children[1]
    assert (latent.description, latent.max) == ("latent", 3)
    capsys.readouterr()
    latent.value = 3
    assert capsys.readouterr().out.count("Figure(") == 1
    plt.close("all")
    with pytest.raises(ValueError, match="no direction"):
        sefa_explorer(G, directions[:0], sd=sd)
    with pytest.raises(ValueError, match="max_strength must be positive"):
        sefa_explorer(G, directions, sd=sd, max_strength=0)


# --------------------------------------------------------------------------------------------
# The VAE explorer
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    objective = VAEObjective(config.resolve("smoke", "vae"))  # 16 bands, 32 px, latent 8
    crops = torch.rand(4, 16, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return objective, crops


def test_path_ends_decode_to_the_two_reconstructions(vae):
    objective, crops = vae
    recon, mu, _ = objective.reconstruct(crops[[0, 3]])
    for t, end in ((0.0, 0), (1.0, 1)):
        path = vae_path(objective, crops[0], crops[3], t=t)
        torch.testing.assert_close(path["mu"], mu, atol=1e-6, rtol=0)
        assert torch.equal(path["z"], path["mu"][end])
        assert torch.equal(path["images"][1], path["images"][2 * end])  # z_t is the end
        torch.testing.assert_close(path["images"][0], recon[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(path["images"][2], recon[1], atol=1e-5, rtol=0)
    middle = vae_path(objective, crops[0], crops[3], t=0.25)
    torch.testing.assert_close(middle["z"], 0.75 * mu[0] + 0.25 * mu[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(middle["images"][1], objective.decode(middle["z"][None])[0],
                               atol=1e-5, rtol=0)


def test_vae_frame_shows_the_path_point_its_ends_and_spectra(vae):
    objective, crops = vae
    fig = vae_interpolation_view(objective, crops[1], crops[2], t=0.4,
                                 to_reflectance=to_reflectance, names=("MM_0001", "MM_0002"))
    images = to_reflectance(vae_path(objective, crops[1], crops[2], t=0.4)["images"].clamp(-1, 1))
    for ax, image in zip(fig.axes[:3], images, strict=True):
        np.testing.assert_allclose(ax.images[0].get_array(), rgb(image))
    assert fig.axes[1].get_title().startswith("decoded at t = 0.40")
    lines = {ln.get_label(): ln.get_ydata() for ln in fig.axes[3].get_lines()}
    np.testing.assert_allclose(lines["real MM_0001"], to_reflectance(crops[1]).mean((1, 2)),
                               rtol=1e-6)
    np.testing.assert_allclose(lines["decoded at t = 0.40"], images[1].mean((1, 2)), rtol=1e-6)
    np.testing.assert_allclose(lines["MM_0002, decoded (t = 1)"], images[2].mean((1, 2)),
                               rtol=1e-6)
    plt.close(fig)


def test_vae_bad_values_are_named(vae):
    objective, crops = vae
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"t must lie in \[0, 1\].*got {bad}"):
            vae_interpolation_view(objective, crops[0], crops[1], t=bad)
    with pytest.raises(ValueError, match="t must be a finite number"):
        vae_path(objective, crops[0], crops[1], t=float("nan"))
    with pytest.raises(ValueError, match=r"b must be one crop of 16 x 32 x 32"):
        vae_path(objective, crops[0], crops[1, :8], t=0.5)


def test_vae_explorer_controls_and_redraws(vae, capsys):
    objective, crops = vae
    ids = [f"MM_000{i}" for i in range(4)]
    box = vae_explorer(objective, crops, ids=ids, to_reflectance=to_reflectance)
    a, b = box.children[0].children
    t = box.children[1]
    assert (a.value, b.value, a.label, b.label) == (0, 3, "MM_0000", "MM_0003")
    assert (t.min, t.max, t.value) == (0.0, 1.0, 0.5)
    capsys.readouterr()
    t.value = 1.0
    a.value = 2
    b.value = 1
    assert capsys.readouterr().out.count("Figure(") == 3
    plt.close("all")
    with pytest.raises(ValueError, match="no crop"):
        vae_explorer(objective, crops[:0])
    with pytest.raises(ValueError, match="ids must name every crop: 2 ids for 4"):
        vae_explorer(objective, crops, ids=ids[:2])


def test_latent_frames_keep_the_figure_rules(generator, vae, tmp_path):
    G, directions, eigenvalues, sd = generator
    savefig(sefa_view(G, directions, direction=0, strength=1.5, sd=sd, eigenvalues=eigenvalues,
                      to_reflectance=to_reflectance), "03_sefa_explorer", tmp_path)
    objective, crops = vae
    savefig(vae_interpolation_view(objective, crops[0], crops[1], t=0.5,
                                   to_reflectance=to_reflectance), "05_vae_explorer", tmp_path)
    plt.close("all")
    for name in ("03_sefa_explorer", "05_vae_explorer"):
        assert rules.violations(rules.read_record(tmp_path / f"{name}.png")) == []
