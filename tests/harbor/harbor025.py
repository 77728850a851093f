"""Build the Harbor 0.25 fixture job once and cache it: a Python 3.12 venv with Harbor's small runtime deps, the
`harbor==0.25.0` wheel from PyPI unpacked beside it, then `build_harbor_fixtures.py` run against it.

    python tests/harbor/harbor025.py [CACHE_ROOT]    # prints the fixture folder

The cache key is the hash of this file and the builder, so editing either rebuilds. `HarborUnavailable` says why
Harbor could not be installed (no Python 3.12, no PyPI); a failing builder is an error, not a skip."""
import hashlib, os, shutil, subprocess, sys, tempfile, zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILDER = HERE / "build_harbor_fixtures.py"
HARBOR = "harbor==0.25.0"
# Harbor's imports that the models and converters need (its full dependency set pulls litellm, supabase, fastapi...)
DEPS = ["pydantic==2.14.4", "shortuuid==1.0.13", "toml==0.10.2", "pathspec==1.1.1", "packaging==26.4", "platformdirs==4.14.9", "jinja2==3.1.6"]
PY312 = ["/root/.pyenv/versions/3.12.1/bin/python3.12", "python3.12"]


class HarborUnavailable(RuntimeError):
    "Harbor 0.25 cannot be installed here (the reason is the message)."


def cache_root()->Path:
    return Path(os.environ.get("SFT_NB_HARBOR_CACHE") or Path.home() / ".cache" / "sft_nb" / "harbor025")


def fixture_key()->str:
    h = hashlib.sha256()
    for p in (Path(__file__).resolve(), BUILDER): h.update(p.read_bytes())
    return h.hexdigest()[:16]


def find_python312()->str:
    env = os.environ.get("SFT_NB_PYTHON312")
    for c in ([env] if env else []) + PY312:
        p = shutil.which(c) if not os.path.isabs(c) else (c if os.path.exists(c) else None)
        if p: return p
    raise HarborUnavailable("no Python 3.12 found (Harbor 0.25 needs >= 3.12): set SFT_NB_PYTHON312 or install pyenv's 3.12")


def _run(argv, what:str, timeout=600):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0: raise HarborUnavailable(f"{what} failed ({r.returncode}): {(r.stderr or r.stdout)[-600:]}")
    return r


def harbor_env(root:Path)->tuple[Path, Path]:
    "(venv python, unpacked harbor wheel dir), installed once under `root`."
    py, src = root / "venv" / "bin" / "python", root / "harbor-0.25.0"
    if not (root / "venv" / ".deps-ok").exists():
        shutil.rmtree(root / "venv", ignore_errors=True)
        _run([find_python312(), "-m", "venv", root / "venv"], "creating the Python 3.12 venv")
        _run([py, "-m", "pip", "install", "-q", *DEPS], "pip install of Harbor's runtime deps")
        (root / "venv" / ".deps-ok").write_text("\n".join(DEPS))
    if not (src / "harbor" / "__init__.py").exists():
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            _run([py, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, HARBOR], f"pip download {HARBOR}")
            whl = next(Path(tmp).glob("harbor-0.25.0-*.whl"))
            part = Path(tmp) / "unpacked"
            with zipfile.ZipFile(whl) as z: z.extractall(part)
            shutil.rmtree(src, ignore_errors=True); part.rename(src)
    return py, src


def build_fixtures(root:Path|None=None)->Path:
    "The cached fixture folder (`job/`, `tasks/`, `script.json`), built through Harbor's own code when missing."
    root = Path(root or cache_root()); root.mkdir(parents=True, exist_ok=True)
    dest = root / fixture_key()
    if (dest / "script.json").exists(): return dest
    py, src = harbor_env(root)
    part = Path(tempfile.mkdtemp(dir=root, prefix=f".{dest.name}-")) / "fixtures"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(src), "HOME": os.environ.get("HOME", "/tmp")}
    r = subprocess.run([str(py), str(BUILDER), str(part)], capture_output=True, text=True, timeout=600, env=env)
    if r.returncode != 0:
        shutil.rmtree(part.parent, ignore_errors=True)
        raise RuntimeError(f"build_harbor_fixtures.py failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    for f in [*part.glob("job/*/config.json"), *part.glob("job/*/result.json")]:  # absolute task paths: the final folder
        f.write_text(f.read_text().replace(str(part), str(dest)))
    try: part.rename(dest)
    except OSError:  # another process finished first
        if not (dest / "script.json").exists(): raise
    shutil.rmtree(part.parent, ignore_errors=True)
    return dest


if __name__ == "__main__":
    print(build_fixtures(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
