"""A check every figure test can end with: the figure, saved as the notebooks save it, keeps
the figure rules (hsilib.plotting.rules)."""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture
def keeps_rules(tmp_path):
    from hsilib.plotting import rules, savefig

    def check(fig, name="00_figure"):
        savefig(fig, name, tmp_path)
        problems = rules.violations(rules.read_record(tmp_path / f"{name}.png"))
        matplotlib.pyplot.close(fig)
        assert problems == [], f"{name}:\n  " + "\n  ".join(problems)

    return check
