"""The README's opening example runs as printed."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", README.read_text(), flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["cube"].shape[-1] == 16
    assert len(namespace["index"]) > 0 and (tmp_path / "data/crops/index.csv").exists()
    table = namespace["table"]
    # grouped by source image: no image in two splits
    assert table.groupby("source")["split"].nunique().max() == 1
    assert namespace["cfg"].steps == 200
