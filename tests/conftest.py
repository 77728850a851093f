"Shared fixtures: a throwaway project folder with the repo's config.yaml, the shipped DeepSpeed configs and the demo built once."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    "A project folder like the repo root: config.yaml, artifacts/training_config/deepspeed, and the demo model and job."
    from sft_nb.model.demo import ensure_demo
    d = tmp_path_factory.mktemp("project")
    shutil.copy(REPO / "config.yaml", d / "config.yaml")
    shutil.copytree(REPO / "artifacts/training_config/deepspeed", d / "artifacts/training_config/deepspeed")
    ensure_demo(d / "artifacts")
    return d


def run(argv, cwd=None, env=None, timeout=900) -> subprocess.CompletedProcess:
    "Run a command (argv list, no shell) and capture its output as text."
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def copy_project(project: Path, dest: Path) -> Path:
    "A private copy of the session project (pristine config.yaml, DeepSpeed configs, demo job and model)."
    shutil.copy(REPO / "config.yaml", dest / "config.yaml")
    for sub in ("training_config/deepspeed", "demo"): shutil.copytree(project / "artifacts" / sub, dest / "artifacts" / sub)
    return dest


@pytest.fixture(scope="module")
def own_project(project, tmp_path_factory) -> Path:
    "A project of this test module's own: for tests that write runtime_info.output or the run index, which others must not see."
    return copy_project(project, tmp_path_factory.mktemp("own_project"))


def debian_chromium() -> tuple[str | None, str]:
    "Debian's chromium binary, installed with apt-get when missing: (path, '') or (None, why it could not be installed)."
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(exe).exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update"],
                     ["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600", "chromium", "fonts-dejavu-core"]):
            try: r = run(argv, env=env, timeout=1800)
            except (OSError, subprocess.TimeoutExpired) as e: return None, f"{' '.join(argv)}: {e}"
            if r.returncode: return None, f"{' '.join(argv)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return (exe, "") if Path(exe).exists() else (None, f"{exe} missing after installing chromium")
