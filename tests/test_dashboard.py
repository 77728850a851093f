"""The live dashboard in a real browser: headless Chromium (Debian's `chromium`, installed here when missing) opens the
page while a run's trainer_log.jsonl is still being written, sees the run and a drawn loss chart, sees the same page
update after more log lines land, shows an archived run's curves, verdicts and config on click, and takes screenshots.
Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), so no extra package is needed."""
import base64, fcntl, json, os, shutil, subprocess, threading, time
from pathlib import Path
import pytest
from conftest import run, debian_chromium
from sft_nb.config.schema import load_config
from sft_nb.train.launch import write_train_yaml
from sft_nb.runs.archive import archive_run
from sft_nb.ui.dashboard import start_dashboard

SCREENSHOT = Path("/tmp/sft_nb_dashboard.png")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"]


@pytest.fixture(scope="session")
def chromium() -> str:
    "Debian's chromium; installed with apt-get when missing (the test fails, never skips, if that fails)."
    exe, why = debian_chromium()
    assert exe, f"the dashboard test needs Debian's chromium: {why}"
    return exe


class Browser:
    "Headless Chromium over the DevTools protocol on a pipe: it reads commands on fd 3 and writes replies on fd 4."
    def __init__(self, exe: str, profile: Path, log: Path):
        cmd_r, self._w = os.pipe()
        self._r, out_w = os.pipe()
        cmd_r, out_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (cmd_r, out_w))  # keep clear of fds 3 and 4
        def child():
            os.dup2(cmd_r, 3); os.dup2(out_w, 4)
        self._log = open(log, "wb")
        self.proc = subprocess.Popen([exe, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
                                     preexec_fn=child, close_fds=False, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        os.close(cmd_r); os.close(out_w)
        self._id, self._replies, self._cv = 0, {}, threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while chunk := os.read(self._r, 1 << 20):
            buf += chunk
            *msgs, buf = buf.split(b"\0")
            for m in msgs:
                msg = json.loads(m)
                if "id" in msg:
                    with self._cv: self._replies[msg["id"]] = msg; self._cv.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._id += 1
        i, msg = self._id, {"id": self._id, "method": method, "params": params or {}}
        if session: msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data: data = data[os.write(self._w, data):]
        with self._cv:
            assert self._cv.wait_for(lambda: i in self._replies, timeout), f"no reply to {method} within {timeout}s"
            reply = self._replies.pop(i)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply["result"]

    def open(self, url: str) -> str:
        "Open `url` in a new 1400x1000 tab; return its session id."
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, sid)
        self.send("Page.navigate", {"url": url}, sid)
        return sid

    def eval(self, sid: str, expr: str):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, sid)
        return r.get("result", {}).get("value")

    def wait_for(self, sid: str, expr: str, timeout: float = 30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if v := self.eval(sid, expr): return v
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for `{expr}`; the page shows:\n{self.eval(sid, 'document.body.innerText')}")

    def screenshot(self, sid: str, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"}, sid)["data"]))
        return path

    def close(self):
        try: self.send("Browser.close", timeout=10)
        except Exception: pass
        try: self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        os.close(self._w); self._log.close()


def _log_lines(start: int, stop: int, total: int) -> str:
    "LLaMA-Factory's trainer_log.jsonl lines for steps start..stop-1 of a `total`-step run."
    hms = lambda s: f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return "".join(json.dumps({"current_steps": i, "total_steps": total, "loss": round(4.0 * 0.95 ** i, 4), "lr": 1e-4 * (1 - i / total),
                               "epoch": round(2 * i / total, 2), "percentage": round(100 * i / total, 2), "elapsed_time": hms(2 * i),
                               "remaining_time": hms(2 * (total - i))}) + "\n" for i in range(start, stop))


@pytest.fixture
def runs(tmp_path) -> Path:
    "A project with an archived run whose loss does not fall (its output dir cleaned) and a run still being written."
    (tmp_path / "config.yaml").write_text("runtime_info:\n  input:\n    source: {type: harbor_job, job_dir: demo}\n"
                                          "    conversion: {data_name: d}\n    training: {learning_rate: 1.0e-4}\n")
    old = load_config(tmp_path / "config.yaml", run_name="old-run")
    write_train_yaml(old, model_path="/models/m")
    old.output_dir.mkdir(parents=True)
    (old.output_dir / "trainer_log.jsonl").write_text("".join(
        json.dumps({"current_steps": i, "total_steps": 10, "loss": 2.0 + 0.01 * (i % 2), "lr": 1e-4 * (1 - i / 10),
                    "epoch": i / 10, "percentage": 10.0 * i, "elapsed_time": f"0:00:{i:02d}", "remaining_time": "0:00:00"}) + "\n"
        for i in range(1, 11)))
    (old.output_dir / "train_results.json").write_text(json.dumps({"train_runtime": 10.0, "train_loss": 2.01, "epoch": 1.0}))
    archive_run(old)
    shutil.rmtree(old.output_dir)
    live = load_config(tmp_path / "config.yaml", run_name="live-run")
    write_train_yaml(live, model_path="/models/m")
    live.output_dir.mkdir(parents=True)
    (live.output_dir / "trainer_log.jsonl").write_text(_log_lines(1, 9, 40) + '{"current_steps": 9, "total_st')  # mid-write
    return tmp_path / "artifacts"


def _cells(row_text: str) -> list[str]:
    return [c.strip() for c in row_text.split("\t")]


def _orange_pixels(png: Path, rect: dict) -> int:
    "Pixels of the EMA loss line's colour (#ff7f0e) inside `rect` of a screenshot."
    import matplotlib.image as mpimg
    import numpy as np
    img = mpimg.imread(png)[..., :3]
    x0, y0, x1, y1 = (int(v) for v in (rect["left"], rect["top"], rect["right"], rect["bottom"]))
    crop = img[y0:y1, x0:x1]
    return int((np.abs(crop - np.array([1.0, 0.498, 0.055])).max(axis=-1) < 0.12).sum())


def test_dashboard_shows_a_live_run_and_updates_in_chromium(chromium, runs, tmp_path):
    srv = start_dashboard(runs, refresh_s=1.0)
    browser = Browser(chromium, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        sid = browser.open(srv.url)
        row = 'document.querySelector(\'tr[data-run="live-run"]\')'
        browser.wait_for(sid, f"{row} && document.getElementById('chart-loss').dataset.points === '8'")
        assert _cells(browser.eval(sid, f"{row}.innerText"))[:4] == ["live-run", "running", "20.0%", "8/40"]
        assert browser.eval(sid, "document.getElementById('detail-title').textContent") == "live-run", "the running run is selected"
        assert browser.eval(sid, 'document.querySelector(\'tr[data-run="old-run"] td.st\').textContent') == "success"
        rect = browser.eval(sid, "JSON.parse(JSON.stringify(document.getElementById('chart-loss').getBoundingClientRect()))")
        first = browser.screenshot(sid, tmp_path / "dashboard-before.png")
        assert _orange_pixels(first, rect) > 30, "the smoothed loss curve is drawn on the canvas"

        log = runs / "model/live-run/trainer_log.jsonl"
        with open(log, "a") as f: f.write('eps": 40}\n' + _log_lines(9, 25, 40))  # the half-written line completes; training goes on
        browser.wait_for(sid, "document.getElementById('chart-loss').dataset.lastStep === '24'", timeout=20)
        assert _cells(browser.eval(sid, f"{row}.innerText"))[2:6] == ["60.0%", "24/40", "0:00:48", "0:00:32"]
        assert browser.eval(sid, f"{row}.querySelector('td.loss').textContent") == str(round(4.0 * 0.95 ** 24, 4))
        assert browser.eval(sid, "document.getElementById('chart-loss').dataset.points") == "24"
        shot = browser.screenshot(sid, tmp_path / "dashboard.png")
        assert _orange_pixels(shot, rect) > _orange_pixels(first, rect), "the curve grew"
        shutil.copy(shot, SCREENSHOT)

        browser.eval(sid, 'document.querySelector(\'tr[data-run="old-run"]\').click()')
        browser.wait_for(sid, "document.getElementById('detail-title').textContent === 'old-run' && "
                              "document.getElementById('chart-loss').dataset.points === '10'")
        verdicts = browser.eval(sid, "document.getElementById('verdicts').innerText")
        assert "WARNING loss_not_decreasing (steps 1-10)" in verdicts, verdicts
        assert "training.learning_rate: 0.0001" in browser.eval(sid, "document.getElementById('config').textContent")
        assert browser.eval(sid, "location.hash") == "#run=old-run"
        shutil.copy(browser.screenshot(sid, tmp_path / "dashboard-archived.png"), SCREENSHOT.with_name("sft_nb_dashboard_archived.png"))
    finally:
        browser.close()
        srv.shutdown(); srv.server_close()


def test_dashboard_refuses_foreign_host_names(runs):
    import http.client
    srv = start_dashboard(runs)
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
        c.request("GET", "/api/runs", headers={"Host": "evil.example:80"})
        assert c.getresponse().status == 403
        c = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
        c.request("GET", "/api/run/..%2Fx")
        r = c.getresponse()
        assert r.status == 404 and b"not a run name" in r.read()
    finally:
        srv.shutdown(); srv.server_close()


def test_dashboard_groups_runs_by_sweep_in_chromium(chromium, tmp_path):
    from sft_nb.runs.archive import update_index
    a = tmp_path / "artifacts"
    for name, sweep in (("plain", None), ("s-0", "s"), ("s-1", "s")):
        update_index(a, {"run": name, "time": "2026-01-01T00:00:00", "status": "success", "steps": 4,
                         **({"sweep": sweep, "point": {"learning_rate": 1e-4}} if sweep else {})})
    (a / "sweeps/t").mkdir(parents=True)
    (a / "sweeps/t/sweep.yaml").write_text("points:\n- {run: t-0, status: running}\n")  # running: known only from its sweep.yaml
    (a / "model/t-0").mkdir(parents=True)
    (a / "model/t-0/trainer_log.jsonl").write_text(_log_lines(1, 4, 10))
    srv = start_dashboard(a, refresh_s=1.0)
    browser = Browser(chromium, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        sid = browser.open(srv.url)
        browser.wait_for(sid, "document.querySelectorAll('#runs tr.group').length === 2")
        rows = browser.eval(sid, "[...document.querySelectorAll('#runs tbody tr')].map(r => r.dataset.sweep ? 'sweep ' + r.dataset.sweep : r.dataset.run)")
        assert rows == ["plain", "sweep t", "t-0", "sweep s", "s-0", "s-1"]
        assert browser.eval(sid, "document.querySelector('tr.group[data-sweep=\"s\"]').innerText").strip() == "sweep s · 2 run(s), 2 finished"
    finally:
        browser.close()
        srv.shutdown(); srv.server_close()
