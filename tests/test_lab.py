"""JupyterLab as people open it: a fresh clone of this repo with the setup's clean filter, `start_lab` (what `make lab`
runs) serving it, and a real Chromium (Debian's, driven by Playwright) opening each user notebook, running all cells
and saving it. Asserted there: no error output, progress bars drawn as widgets (not `HBox(...)` text), the plots
loaded, the label mask colored, the training run archived, and `git diff` empty after saving the notebooks with their
outputs. Screenshots land in the test's temp dir (path printed)."""
import json, os, re, shutil, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import REPO, BIN, run, debian_chromium
from sft_nb.ui.lab import KERNEL, kernel_dir, start_lab

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"]
MAX_STEPS = 2  # the train notebook's run: two steps of the demo model (startup dominates its time)


@pytest.fixture(scope="module")
def browser():
    "Headless Debian Chromium under Playwright (installed with pip when missing; it is in the dev extra)."
    exe, why = debian_chromium()
    if not exe: pytest.skip(f"Debian's chromium cannot be installed here: {why}")
    try: import playwright  # noqa: F401
    except ImportError:
        r = run([sys.executable, "-m", "pip", "install", "-q", "playwright"])
        assert r.returncode == 0, f"pip install playwright failed:\n{r.stderr[-3000:]}"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def clone(project, tmp_path_factory) -> Path:
    """A fresh clone of this repo (uncommitted changes to tracked files applied and committed), sharing the venv, with the
    setup's clean filter installed, the demo copied in, and `max_steps` set low for the train notebook."""
    d = tmp_path_factory.mktemp("lab") / "repo"
    assert run(["git", "clone", "-q", REPO, d]).returncode == 0
    diff = subprocess.run(["git", "-C", REPO, "diff", "HEAD", "--binary"], capture_output=True, check=True).stdout
    if diff:
        subprocess.run(["git", "-C", d, "apply", "--whitespace=nowarn"], input=diff, check=True)
        subprocess.run(["git", "-C", d, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "working tree"], check=True)
    (d / ".venv").symlink_to(BIN.parent)
    r = run(["make", "-C", d, "strip-filter"])  # the setup's own target (it installs nothing)
    assert r.returncode == 0, r.stderr
    shutil.copytree(project / "artifacts/demo", d / "artifacts/demo")
    cfg = d / "config.yaml"
    cfg.write_text(cfg.read_text().replace("      logging_steps: 1\n", f"      logging_steps: 1\n      max_steps: {MAX_STEPS}\n", 1))
    return d


@pytest.fixture(scope="module")
def lab(clone, tmp_path_factory):
    "JupyterLab on the clone, started as `make lab` starts it, its kernels importing the clone's sft_nb."
    assert (kernel_dir(BIN.parent) / "kernel.json").exists(), "make setup installs the project kernel into the venv"
    home = tmp_path_factory.mktemp("jupyter")
    env = {**os.environ, "PYTHONPATH": str(clone), "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    server = start_lab(clone, env=env, log=home / "lab.log")
    yield server
    server.stop()


@pytest.fixture
def page(browser, lab):
    "A browser tab; afterwards closed and the server's kernels shut down (each holds LLaMA-Factory and torch in memory)."
    import urllib.request
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    page.close()
    api = f"http://127.0.0.1:{lab.port}/api/sessions"
    for s in json.load(urllib.request.urlopen(f"{api}?token={lab.token}")):
        urllib.request.urlopen(urllib.request.Request(f"{api}/{s['id']}?token={lab.token}", method="DELETE"))


def open_notebook(page, lab, nb: str):
    "Open `nb` alone (`reset`: not with the notebooks an earlier tab left open); wait until its kernel, the project's, is idle."
    page.goto(lab.url(nb) + "&reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(f"document.querySelectorAll('.jp-NotebookPanel').length == 1 && "
                           f"document.querySelector('.jp-KernelName')?.textContent.includes('{KERNEL}') && "
                           "document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status == 'idle'", timeout=90_000)


def run_all(page, timeout: float, shots: Path):
    "Run > Run All Cells, as a person clicks it; wait until every code cell ran (or one failed) and the kernel is idle."
    menu(page, "Run", "runmenu:run-all")
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(1)
        prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent.trim())")
        errors = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count()
        busy = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() == 0
        if not busy and ("[*]:" not in prompts) and (all(re.fullmatch(r"\[\d+\]:", p) for p in prompts) or errors):
            return prompts
    page.screenshot(path=str(shots / "run_all_timeout.png"))
    raise AssertionError(f"Run All did not finish in {timeout} s; prompts: {prompts}; screenshot in {shots}")


def menu(page, top: str, command: str):
    "Click a menu bar entry, then the item of `command`, as a person does."
    page.click(f".lm-MenuBar-itemLabel:text-is('{top}')")
    page.click(f".lm-Menu-item[data-command='{command}']")


def save(page, path: Path) -> dict:
    "File > Save Notebook; wait until the file holds outputs; return it."
    menu(page, "File", "docmanager:save")
    deadline = time.time() + 30
    while time.time() < deadline:
        try: nb = json.loads(path.read_text())
        except ValueError: nb = {"cells": []}  # being written
        if any(c.get("outputs") for c in nb["cells"]): return nb
        time.sleep(0.5)
    raise AssertionError(f"{path} was not saved with its outputs")


def assert_no_outputs_in_git(clone: Path, nb: str):
    """`git diff` shows nothing for a notebook saved with outputs, and `git add` stages nothing (`git status` may list it
    until then: git takes a changed size for a change without running the filter)."""
    assert run(["git", "-C", clone, "diff", "--stat", "--", nb]).stdout == "", f"{nb}: saving it with outputs shows in git diff"
    assert run(["git", "-C", clone, "add", "--", nb]).returncode == 0
    assert run(["git", "-C", clone, "diff", "--cached", "--stat"]).stdout == "", f"{nb}: git add staged its outputs"


def error_outputs(page) -> list[str]:
    return page.eval_on_selector_all(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']", "els => els.map(e => e.innerText)")


def shoot(page, tmp: Path, name: str, selector: str | None = None) -> Path:
    "A screenshot of the page with `selector` (the first match) scrolled into view."
    if selector: page.locator(selector).first.evaluate("e => e.scrollIntoView({block: 'center'})")
    time.sleep(1)
    path = tmp / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def test_explore_notebook_runs_clean_in_jupyterlab(page, lab, clone, tmp_path):
    open_notebook(page, lab, "nbs/explore.ipynb")  # it opens on the project kernel, idle
    prompts = run_all(page, timeout=150, shots=tmp_path)
    assert error_outputs(page) == [] and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts
    text = page.inner_text(".jp-Notebook")
    assert not re.search(r"^HBox\(", text, re.M), "a progress bar fell back to its text form"
    assert page.locator(".jp-OutputArea-output .widget-hprogress, .jp-OutputArea-output .jupyter-widgets .widget-progress").count() >= 1
    shots = [shoot(page, tmp_path, "explore_overview", ".jp-OutputArea-output img")]
    imgs = page.eval_on_selector_all(".jp-OutputArea-output img", "els => els.map(e => [e.complete, e.naturalWidth])")
    assert imgs and all(ok and w > 0 for ok, w in imgs), f"plots not loaded: {imgs}"
    green = page.eval_on_selector_all(".jp-OutputArea-output span", "els => els.filter(e => getComputedStyle(e).backgroundColor == 'rgb(201, 242, 199)').length")
    assert green > 10, "the label mask shows trained tokens in green"
    shots.append(shoot(page, tmp_path, "explore_browse", ".jp-OutputArea-output .widget-dropdown"))
    assert page.locator(".jp-OutputArea-output .widget-output", has_text=re.compile(r"#0 \S+")).count() == 1, "browse() shows the first conversation at once"
    shots.append(shoot(page, tmp_path, "explore_mask", ":nth-match(.jp-OutputArea-output span[style*='c9f2c7'], 4)"))
    saved = save(page, clone / "nbs/explore.ipynb")
    assert sum(len(c.get("outputs", [])) for c in saved["cells"]) > 10, "the notebook was saved with its outputs"
    assert_no_outputs_in_git(clone, "nbs/explore.ipynb")
    print("screenshots:", *shots)


def test_train_notebook_shows_progress_and_archives_in_jupyterlab(page, lab, clone, tmp_path):
    open_notebook(page, lab, "nbs/train.ipynb")
    prompts = run_all(page, timeout=300, shots=tmp_path)
    assert error_outputs(page) == [] and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), (prompts, error_outputs(page))
    assert not re.search(r"^HBox\(", page.inner_text(".jp-Notebook"), re.M), "a progress bar fell back to its text form"
    train = page.locator(".jp-CodeCell", has_text="progress=True")
    shots = [shoot(page, tmp_path, "train_progress", ".jp-CodeCell:has-text('progress=True') .jp-OutputArea")]
    out = train.locator(".jp-OutputArea").inner_text()
    assert train.locator(".widget-hprogress, .widget-progress").count() == 1, "the training cell draws one progress bar widget"
    assert f"{MAX_STEPS}/{MAX_STEPS}" in out and "loss=" in out, out
    log = Path(re.search(r"full log: (\S+)", out).group(1))
    assert log.exists() and len(log.read_text().splitlines()) > 3 * len(out.splitlines()), "the cell shows the log's tail, the file keeps all of it"
    imgs = page.eval_on_selector_all(".jp-OutputArea-output img", "els => els.map(e => [e.complete, e.naturalWidth])")
    assert imgs and all(ok and w > 0 for ok, w in imgs), f"plots not loaded: {imgs}"
    shots.append(shoot(page, tmp_path, "train_results", ".jp-OutputArea-output img"))
    runs = [p.parent for p in (clone / "artifacts/runs").glob("*/output.json")]
    assert len(runs) == 1, "the run is archived"
    for recorded in (clone / "config.yaml", clone / "artifacts/index.yaml", runs[0] / "output.json"):
        assert "/../" not in recorded.read_text() and str(clone) in recorded.read_text(), f"{recorded} records unresolved paths"
    saved = save(page, clone / "nbs/train.ipynb")
    assert sum(len(c.get("outputs", [])) for c in saved["cells"]) > 5
    assert_no_outputs_in_git(clone, "nbs/train.ipynb")
    print("screenshots:", *shots)


def test_sft_nb_lab_prints_a_working_url_and_stops_on_ctrl_c(tmp_path):
    "`sft-nb lab` (what `make lab` runs) as root: it prints a URL whose token opens the API, only on 127.0.0.1, and Ctrl-C stops it."
    import signal, urllib.error, urllib.request
    from sft_nb.ui.lab import free_port
    port = free_port(8931)
    env = {**os.environ, "PYTHONPATH": str(REPO), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    proc = subprocess.Popen([BIN / "sft-nb", "lab", "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = next(l.strip() for l in proc.stdout if "token=" in l)
        assert url.startswith(f"http://127.0.0.1:{port}/lab/tree/nbs/explore.ipynb?token=")
        token = url.split("token=")[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=10) as r:
            assert json.load(r)["default"] == KERNEL
        with pytest.raises(urllib.error.HTTPError, match="403"): urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs", timeout=10)
        cmdlines = []
        for c in Path("/proc").glob("[0-9]*/cmdline"):
            try: cmdlines.append(c.read_bytes())
            except OSError: pass
        assert not any(token.encode() in c for c in cmdlines), "the token is on a command line (ps shows it)"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
