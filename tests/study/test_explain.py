"""Notebook 09's study logic: input variants read through notebook 06's training, the greedy band
choice, the generator families found on disk, the stand-in's truth per crop, agreement with the
chromophores' absorption (a known answer), summaries and the generated conclusions."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import write_fake_crops

from hsilib import WAVELENGTHS_NM, config
from hsilib.data.datasets import BandNormaliser, load_crops
from hsilib.metrics.attribution import METHODS
from hsilib.models.classifiers import SmallCNN
from hsilib.standin.rendering import cube_to_rgb
from hsilib.study import cues, explain
from hsilib.study.grid import run_grid

SIZE = 16


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run09")
    index = write_fake_crops(root / "crops", {"MM": 12, "DN": 12})
    split = {0: "train", 1: "train", 2: "train", 3: "val", 4: "test", 5: "train"}
    index["split"] = [split[int(s[-4:]) % 6] for s in index["source"]]
    index[["id", "source", "class", "split"]].to_csv(root / "splits.csv", index=False)
    ids = index.loc[index["split"] == "train", "id"]
    norm = BandNormaliser().fit(np.load(root / "crops" / f"{i}.npz")["cube"] for i in ids)
    cfg = replace(config.resolve("smoke", "classifier"), image_size=SIZE, epochs=2, patience=1,
                  batch_size=4)
    return {"root": root, "index": index, "norm": norm, "cfg": cfg}


def test_input_variants_are_the_rendering_the_band_mean_and_the_chosen_bands(run):
    norm = run["norm"]
    cube = np.random.default_rng(0).uniform(0.1, 0.6, (5, 5, 16)).astype(np.float32)
    rgb = explain.make_variant("rgb", norm).apply(cube)
    np.testing.assert_allclose(rgb, cube_to_rgb(cube, WAVELENGTHS_NM), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(explain.make_variant("rgb", norm).apply(cube, "symmetric"),
                               2 * rgb - 1, atol=1e-6)
    grey = explain.make_variant("grey", norm).apply(cube)
    np.testing.assert_allclose(grey[..., 0], norm.apply(cube).mean(-1), rtol=1e-5)
    picked = explain.make_variant("selected", norm, [2, 9, 15])
    np.testing.assert_allclose(picked.apply(cube), norm.apply(cube)[..., [2, 9, 15]])
    assert picked.n_channels == 3 and list(picked.wavelengths_nm) == [487, 564, 630]
    assert explain.make_variant("bands16", norm).n_channels == 16
    with pytest.raises(ValueError, match="unknown input variant"):
        explain.make_variant("hsv", norm)
    with pytest.raises(ValueError, match="needs its bands"):
        explain.make_variant("selected", norm)
    with pytest.raises(ValueError, match=r"indices in \[0, 16\)"):
        explain.InputVariant("bands", norm, (3, 16))
    with pytest.raises(ValueError, match="value_range"):
        explain.make_variant("rgb", norm).apply(cube, "percent")


def test_plan_names_the_selected_variant_by_its_band_count():
    plan = explain.plan_variants()
    assert [e.name for e in plan] == ["bands16", "rgb", "grey"]
    plan = explain.plan_variants([4, 0], WAVELENGTHS_NM)
    assert plan[-1].name == "bands2" and "509, 465 nm" in plan[-1].label
    assert plan[-1].arguments(None) == {"variant": "selected", "bands": [4, 0]}


def test_variants_train_through_notebook_06s_loop_and_load_back(run, tmp_path):
    r = run
    runner = explain.VariantRunner(r["cfg"], r["root"] / "crops", r["root"] / "splits.csv",
                                   r["norm"], tmp_path / "ckpt", "cpu")
    plan = [e for e in explain.plan_variants([1, 5, 9]) if e.name in ("rgb", "grey", "bands3")]
    preds = run_grid(plan, runner, seeds=[0], out_dir=tmp_path / "cells")
    assert set(preds["config"]) == {"rgb", "grey", "bands3"}
    split_of = r["index"].set_index("id")["split"]
    for split in ("val", "test"):
        ids = preds.loc[preds["split"] == split, "id"]
        assert set(split_of[ids]) == {split}
    channels = {e.name: explain.load_classifier(tmp_path / "ckpt" / f"09_{e.name}_seed0.pt")
                .stem[0].in_channels for e in plan}
    assert channels == {"rgb": 3, "grey": 1, "bands3": 3}
    models = explain.load_models(tmp_path / "ckpt", [0], "grey")
    assert not models[0].training
    with pytest.raises(FileNotFoundError, match="09_bands16_seed0.pt"):
        explain.load_models(tmp_path / "ckpt", [0])


def test_select_bands_skips_a_band_the_chosen_ones_already_explain():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(20, 4, 6, 6, generator=g)
    images = base.clone()
    images[:, 1] = 2 * base[:, 0] + 0.1  # band 1 repeats band 0 exactly
    relevance = [1.0, 0.95, 0.3, 0.1]
    chosen, steps = explain.select_bands(relevance, images, 2)
    assert chosen == [0, 2]
    assert steps.loc[0, "novelty"] == 1.0 and 0 < steps.loc[1, "novelty"] <= 1
    assert list(steps.columns) == ["step", "band", "relevance", "novelty", "score"]
    with pytest.raises(ValueError, match="1 <= k < 4"):
        explain.select_bands(relevance, images, 4)


def test_synthetic_families_are_found_by_name(tmp_path):
    for name in ("fastgan_mm_g0", "fastgan_mm_g1", "fastgan_dn_g0", "shsgan_critic_2d_mm_g0",
                 "vae_mm_f2", "passthrough_mm_f0", "07_fastgan_mm_g0_pool", "fastgan_mm"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.csv").write_text("id\n")
    (tmp_path / "stylegan2_mm_g0").mkdir()  # no index.csv: not an export
    table = cues.synthetic_families(tmp_path)
    found = set(zip(table["family"], table["class"], table["replicate"], strict=True))
    assert found == {("fastgan", "MM", "g0"), ("fastgan", "MM", "g1"), ("fastgan", "DN", "g0"),
                     ("shsgan_critic_2d", "MM", "g0"), ("vae", "MM", "f2")}
    assert set(cues.synthetic_families(tmp_path, ["vae"])["family"]) == {"vae"}
    with pytest.raises(ValueError, match="no exports of \\['cyclegan'\\]"):
        cues.synthetic_families(tmp_path, ["cyclegan"])


def test_truth_chromophores_are_lesion_means(tmp_path):
    labels = np.zeros((4, 4), np.uint8)
    labels[:2, :2], labels[2:, 2:] = 1, 2
    maps = {"f_mel_epi": np.where(labels == 1, 0.2, 0.02), "f_mel_derm": np.zeros((4, 4)),
            "blood": np.full((4, 4), 0.04), "sat": np.where(labels == 2, 0.25, 0.75)}
    np.savez(tmp_path / "MM_0001.npz", labels=labels, **maps)
    index = pd.DataFrame({"id": ["a", "b", "c"], "source": ["MM_0001"] * 3,
                          "y0": [0, 1, 0], "x0": [0, 2, 2], "y1": [3, 4, 2], "x1": [2, 4, 4]})
    t = cues.truth_chromophores(index, tmp_path).set_index("id")
    assert t.loc["a", "f_mel_epi"] == pytest.approx(0.2)
    assert t.loc["b", "f_mel_epi"] == pytest.approx(0.02)
    assert t.loc["a", "oxy_hb"] == pytest.approx(0.03) and t.loc["b", "deoxy_hb"] == \
        pytest.approx(0.03)
    assert t.loc["c"].isna().all()  # no lesion inside its box
    assert cues.truth_sources_exist(tmp_path, ["MM_0001"])
    assert not cues.truth_sources_exist(tmp_path, ["MM_0001", "DN_0002"])
    with pytest.raises(FileNotFoundError, match="DN_0002.npz"):
        cues.truth_chromophores(index.assign(source="DN_0002"), tmp_path)


def test_relevance_shaped_like_the_separating_absorber_agrees():
    rng = np.random.default_rng(0)
    n = 40
    labels = np.arange(n) % 2
    chrom = pd.DataFrame({"id": [f"c{i}" for i in range(n)],
                          "f_mel_epi": 0.05 + 0.1 * labels + rng.normal(0, 0.02, n),
                          "f_mel_derm": np.zeros(n), "oxy_hb": rng.normal(0.01, 0.002, n),
                          "deoxy_hb": rng.normal(0.005, 0.001, n)})
    melanin = cues.absorption_spectra(WAVELENGTHS_NM)["melanin"].to_numpy()
    relevance = melanin / melanin.max() + rng.normal(0, 0.01, (n, 16))
    sources = [f"s{i // 2}" for i in range(n)]
    table, expected = cues.chromophore_agreement(relevance, chrom, labels, sources,
                                                 WAVELENGTHS_NM, n_boot=200)
    t = table.set_index("what")
    assert t.loc["all (weighted by |d|)", "verdict"] == "agrees"
    assert t.loc["all (weighted by |d|)", "rho_lo"] > 0.8
    assert t.loc["f_mel_epi", "d"] > 3 and np.isnan(t.loc["f_mel_derm", "d"])  # no spread
    assert np.argmax(expected) == 0  # melanin absorbs most at 465 nm
    flipped, _ = cues.chromophore_agreement(relevance[:, ::-1], chrom, labels, sources,
                                            WAVELENGTHS_NM, n_boot=200)
    assert flipped.set_index("what").loc["all (weighted by |d|)", "verdict"] == "disagrees"
    with pytest.raises(ValueError, match="both classes"):
        cues.chromophore_agreement(relevance, chrom, np.ones(n), sources, WAVELENGTHS_NM)


def test_explain_crops_summaries_and_the_randomisation_table(run):
    r = run
    crops = load_crops(r["root"] / "crops", r["norm"], SIZE, "test", r["root"] / "splits.csv")
    torch.manual_seed(0)
    models = {0: SmallCNN(16, 2, width=4).eval(), 1: SmallCNN(16, 2, width=4).eval()}
    frame = explain.explain_crops(models, crops, METHODS, n_steps=4)
    assert len(frame) == len(METHODS) * 2 * len(crops) * 2 * 16
    sources = dict(zip(r["index"]["id"], r["index"]["source"], strict=True))
    summary = explain.spectrum_summary(frame, sources, n_boot=20)
    assert set(summary["seed"]) == {"0", "1", "all"} and set(summary["class"]) == {"MM", "DN"}
    # a class with one test source has no interval (NaN), never a point interval
    crops_sources = pd.Series([sources[i] for i in crops.ids])
    one_source = {c for c in ("MM", "DN")
                  if crops_sources[(np.asarray(crops.labels) == int(c == "MM"))].nunique() < 2}
    ok = summary[~summary["class"].isin(one_source)]
    assert (ok["lo"] <= ok["mean"] + 1e-12).all() and (ok["mean"] <= ok["hi"] + 1e-12).all()
    assert summary[summary["class"].isin(one_source)][["lo", "hi"]].isna().all().all()
    top = explain.top_bands(summary, k=2)
    assert set(top.columns) == {"MM", "DN"} and top.loc[("ig", "all"), "MM"].count(",") == 1
    shares = explain.region_shares(frame, sources, n_boot=20)
    assert ((shares["lesion_share"] >= 0) & (shares["lesion_share"] <= 1)).all()
    assert explain.band_relevance(frame).shape == (16,)
    rand = explain.randomisation_check({0: models[0]}, crops, [sources[i] for i in crops.ids],
                                       ["ig"], n_steps=4, n_boot=20)
    assert list(rand[["method", "seed"]].iloc[0]) == ["ig", 0]
    assert -1 <= rand.loc[0, "rho_signed"] <= 1


def _paired(diff, lo, hi, verdict):
    row = dict(config="rgb", metric="auroc", diff=diff, n_cells=3, lo=lo, hi=hi, p_t_holm=0.01,
               boot_lo=lo, boot_hi=hi, delong_lo=lo, delong_hi=hi, p_delong=0.01,
               verdict=verdict, runs="over 3 classifier seeds", margin=0.05, p_tost_holm=0.3,
               mdc=0.2, mdc_runs=0.3, mdc_test=0.1)
    return pd.DataFrame([row])


def _uncertainty():
    return pd.DataFrame([dict(config=c, metric="auroc", mean=m, verdict="above chance")
                         for c, m in (("bands16", 0.8), ("rgb", 0.65))])


def test_variant_conclusions_say_what_a_difference_means():
    labels = {"rgb": "CIE sRGB"}
    worse = explain.variant_conclusions(_paired(-0.15, -0.25, -0.05, "deterioration"),
                                        _uncertainty(), labels, n_test=40, n_sources=30,
                                        n_seeds=3)
    assert "carry diagnostic information that the sRGB rendering loses" in worse
    assert "CIE sRGB" in worse and "simulator's physics" in worse
    none = explain.variant_conclusions(_paired(-0.02, -0.1, 0.06, "cannot tell"),
                                       _uncertainty(), labels, n_test=40, n_sources=30,
                                       n_seeds=3, standin=False)
    assert "cannot tell" in none and "simulator" not in none
    assert "smallest change detectable with 80% power: 0.200" in none
    same = explain.variant_conclusions(
        _paired(-0.01, -0.03, 0.02, "no change (equivalent within +/-0.05)"), _uncertainty(),
        labels, n_test=40, n_sources=30, n_seeds=3)
    assert "score the same within +/-0.05 AUROC" in same


def test_cue_conclusions_list_who_keeps_the_cue():
    table = pd.DataFrame([
        dict(family="vae", **{"class": "MM"}, value=0.02, floor=0.02, ci_low=0.02, ci_high=0.03,
             excess_low=-0.01, verdict="keeps the cue"),
        dict(family="fastgan", **{"class": "MM"}, value=0.09, floor=0.02, ci_low=0.08,
             ci_high=0.1, excess_low=0.05, verdict="loses the cue")])
    text = cues.cue_conclusions(table)
    assert "kept by vae; lost by fastgan" in text and "Closest: vae" in text
    assert cues.cue_verdict({"excess_low": -0.001}) == "keeps the cue"
    assert cues.cue_verdict({"excess_low": 0.001}) == "loses the cue"


def test_family_distances_score_every_family_and_class(run, tmp_path):
    r = run
    syn = tmp_path / "synthetic"
    write_fake_crops(syn / "fastgan_mm_g0", 6, synthetic=True, seed=1, classes=("MM",))
    write_fake_crops(syn / "fastgan_mm_g1", 6, synthetic=True, seed=2, classes=("MM",))
    write_fake_crops(syn / "vae_dn_g0", 6, synthetic=True, seed=3, classes=("DN",))
    families = cues.synthetic_families(syn)
    real = {}
    for cls in ("MM", "DN"):
        tr, va = (load_crops(r["root"] / "crops", r["norm"], SIZE, s, r["root"] / "splits.csv",
                             classes=(cls,)) for s in ("train", "val"))
        real[cls] = (tr, va, list(va.ids))
    study = replace(config.resolve("smoke", "explain_study"), n_synthetic=8, n_boot=30)
    torch.manual_seed(0)
    table, spectra = cues.family_distances([SmallCNN(16, 2, width=4).eval()], families, real,
                                           r["norm"], SIZE, study)
    assert sorted(zip(table["family"], table["class"], strict=True)) == [("fastgan", "MM"),
                                                                         ("vae", "DN")]
    n_mm = min(study.n_synthetic, study.n_real, len(real["MM"][0]))  # equal-size comparison
    assert table.loc[table["family"] == "fastgan", "n_synthetic"].item() == n_mm
    assert set(table["verdict"]) <= {"keeps the cue", "loses the cue"}
    assert spectra[("real", "MM")].shape == spectra[("fastgan", "MM")].shape == (2, 16)
