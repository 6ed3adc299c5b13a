"""The lock file pins every dependency, and the installed environment is the locked one."""

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

REPO = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split(";")[0].strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            out[re.sub(r"[-_.]+", "-", name.lower())] = version
    return out


def test_every_dependency_is_pinned_and_torch_is_2_14_1():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    locked = pins()
    for dep in deps:
        name = re.split(r"[<>=!~ ;\[]", dep)[0].lower()
        assert name in locked, f"{name} is not pinned in constraints.txt"
    assert locked["torch"] == "2.14.1" and locked["torchvision"] == "0.29.1"


def test_environment_yml_matches_the_lock_file():
    text = (REPO / "environment.yml").read_text()
    yml = dict(re.findall(r"^\s+- ([A-Za-z0-9_.\-]+)==([^\s;]+)", text, flags=re.M))
    locked = pins()
    for name, version in yml.items():
        assert locked[re.sub(r"[-_.]+", "-", name.lower())] == version, name
    assert {"torch", "torchvision", "numpy", "timm"} <= set(yml)


def test_installed_versions_are_the_locked_ones():
    for name, version in pins().items():
        if name in ("setuptools", "wheel"):
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # platform-specific wheels (CUDA libraries) are absent elsewhere
        assert installed.split("+")[0] == version, f"{name} {installed} != locked {version}"


def test_importing_hsilib_is_light_and_offline():
    code = ("import sys, os; import hsilib, hsilib.config, hsilib.paths; "
            "print('torch' in sys.modules, os.environ['HF_HUB_OFFLINE'], "
            "os.environ['NO_ALBUMENTATIONS_UPDATE'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, check=True).stdout.split()
    assert out == ["False", "1", "1"]
