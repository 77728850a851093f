"The notebooks are the source: the package, the cleaned notebooks and README.md must all match them."
import filecmp, shutil
from pathlib import Path
from conftest import REPO, BIN, run


def _copy_repo(tmp_path: Path) -> Path:
    d = tmp_path / "repo"
    for p in ("nbs", "sft_nb"): shutil.copytree(REPO / p, d / p, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for p in ("pyproject.toml", "README.md"): shutil.copy(REPO / p, d / p)
    return d


def _same_tree(a: Path, b: Path, pattern: str) -> list[str]:
    "Files matching `pattern` that differ (or exist on one side only) between two trees."
    names = {p.relative_to(a) for p in a.glob(pattern)} | {p.relative_to(b) for p in b.glob(pattern)}
    return sorted(str(n) for n in names if not ((a / n).exists() and (b / n).exists() and filecmp.cmp(a / n, b / n, shallow=False)))


def test_package_matches_notebooks(tmp_path):
    d = _copy_repo(tmp_path)
    res = run([BIN / "nbdev-export"], cwd=d)
    assert res.returncode == 0, res.stderr
    assert _same_tree(REPO / "sft_nb", d / "sft_nb", "**/*.py") == [], "sft_nb/ is out of sync with nbs/: run nbdev-export and commit"


def test_notebooks_are_clean(tmp_path):
    d = _copy_repo(tmp_path)
    res = run([BIN / "nbdev-clean"], cwd=d)
    assert res.returncode == 0, res.stderr
    assert _same_tree(REPO / "nbs", d / "nbs", "**/*.ipynb") == [], "notebooks are not clean: run nbdev-clean and commit"


def test_parameters_tag_survives_clean():
    import json
    nb = json.loads((REPO / "nbs/train.ipynb").read_text())
    assert any("parameters" in c["metadata"].get("tags", []) for c in nb["cells"])


def test_readme_is_generated_from_index(tmp_path):
    res = run([BIN / "jupyter", "nbconvert", "--to", "markdown", "--log-level", "WARN", REPO / "nbs/index.ipynb",
               "--output-dir", tmp_path, "--output", "README"])
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "README.md").read_text() == (REPO / "README.md").read_text(), "README.md is stale: run make readme"
