"""Weight files never run code, name themselves in every error, and never half-load."""

import builtins
import warnings

import pytest
import torch
from safety import snapshot

from hsilib import config
from hsilib.metrics import distribution
from hsilib.models import classifiers as M
from hsilib.models import registry
from hsilib.models.checkpoint import CheckpointError, safe_load
from hsilib.train.trainer import make_trainer


class _Evil:
    """Unpickling this calls ``open(marker, "w")``: a file appears if the pickle runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def _cfg(**kw):
    return config.resolve("smoke", "fastgan", **{"ngf": 4, "ndf": 4, "z_dim": 16, **kw})


def _trainer(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no LPIPS weights: the documented fallback
        images = torch.rand(6, 16, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
        return make_trainer(_cfg(**kw), images, seed=0, device="cpu")


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"family": "fastgan", "config": {}, "objective": _Evil(marker),
                "state_dict": {"x": _Evil(marker)}}, path)
    # the file is armed: an unsafe load would create the marker
    probe = tmp_path / "probe.pt"
    torch.save(_Evil(tmp_path / "ARMED"), probe)
    torch.load(probe, weights_only=False).close()
    assert (tmp_path / "ARMED").exists()
    return path, marker


# -- 4. no code runs from a file -------------------------------------------------------------
def test_a_malicious_pickle_is_refused_by_every_loader_and_runs_nothing(evil):
    path, marker = evil
    loaders = [
        lambda: safe_load(path),
        lambda: registry.read_checkpoint(path),
        lambda: registry.load(path),
        lambda: _trainer().load(path),
        lambda: distribution._load_state_dict(path),
    ]
    for load in loaders:
        with pytest.raises(CheckpointError,
                           match=rf"{path}: refused.*weights_only=True.*asks for io.open"):
            load()
    with pytest.raises(M.WeightFileError, match=rf"{path}: refused"):
        M.build_classifier("small", weights=path)
    assert not marker.exists()


# -- 5. only RGB weights are widened ----------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 15, 31])
def test_weights_of_another_band_count_are_an_error_naming_both_shapes(tmp_path, channels):
    src = M.SmallCNN(n_bands=channels)
    path = tmp_path / f"w{channels}.pth"
    torch.save(src.state_dict(), path)
    model = M.SmallCNN(n_bands=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(M.WeightFileError,
                       match=rf"{path}: first convolution 'stem.0.weight' takes {channels} "
                             rf"channels \(shape \(16, {channels}, 3, 3\)\).*\(shape "
                             r"\(16, 16, 3, 3\)\)"):
        M.load_pretrained(model, path, 16)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_rgb_and_matching_weights_still_load(tmp_path):
    for c in (3, 16):
        src = M.SmallCNN(n_bands=c)
        torch.save(src.state_dict(), tmp_path / f"w{c}.pth")
        model = M.build_classifier("small", weights=tmp_path / f"w{c}.pth")
        torch.testing.assert_close(model.features[0][0].weight, src.features[0][0].weight)


# -- 8. corrupt, truncated and misfitting files -----------------------------------------------
def test_truncated_and_corrupt_checkpoints_name_the_file(tmp_path):
    good = tmp_path / "good.pt"
    _trainer().save(good)
    data = good.read_bytes()
    truncated, junk = tmp_path / "truncated.pt", tmp_path / "junk.pt"
    truncated.write_bytes(data[: len(data) // 2])
    junk.write_bytes(b"not a checkpoint at all" * 10)
    for path in (truncated, junk):
        with pytest.raises(CheckpointError, match=rf"{path}: corrupt"):
            registry.load(path)
        with pytest.raises(CheckpointError, match=str(path)):
            _trainer().load(path)
        with pytest.raises(M.WeightFileError, match=str(path)):
            M.build_classifier("small", weights=path)
    torch.save({"a": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt is not a generator checkpoint"):
        registry.read_checkpoint(tmp_path / "other.pt")


def test_a_checkpoint_of_the_wrong_shape_fails_before_touching_the_generator(tmp_path):
    path = tmp_path / "ck.pt"
    _trainer().save(path)
    ck = torch.load(path, weights_only=True)
    key = next(k for k, v in ck["objective"]["nets"].items() if v.ndim == 4)
    last = list(ck["objective"]["nets"])[-1]
    ck["objective"]["nets"][last] = torch.zeros(3, 3)  # a late tensor of the wrong shape
    torch.save(ck, path)
    target = _trainer(ngf=4)
    target.objective.nets.get_parameter(key).data.fill_(0.5)
    before = {k: v.clone() for k, v in target.objective.state_dict()["nets"].items()}
    files = snapshot(tmp_path)
    with pytest.raises(CheckpointError, match=rf"{path} \(networks\) does not fit.*{last}"):
        target.load(path)
    with pytest.raises(CheckpointError, match=rf"{path} \(networks\) does not fit"):
        registry.load(path)
    after = target.objective.state_dict()["nets"]
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing half-loaded
    assert snapshot(tmp_path) == files
