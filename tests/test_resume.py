"""Kill and resume: a `kill -9` of the sft-nb process group leaves no process of the run alive, the resume skips a
half-written last checkpoint (moved aside), and the resumed run logs the same per-step losses as an uninterrupted one."""
import json, os, signal, subprocess, time
from pathlib import Path
import pytest
from ruamel.yaml import YAML
from conftest import BIN, REPO, run, copy_project

STEPS = ["--set", "training.max_steps=8", "--set", "training.save_steps=2"]
TOL = 1e-3  # per-step loss, resumed vs uninterrupted, CPU fp32


def survivors(marks: list[str]) -> dict[int, str]:
    "Live (non-zombie) processes whose environment or command line holds any of `marks`, read from /proc."
    out = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if int(d.name) == os.getpid() or (d / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z": continue
            blob = (d / "environ").read_bytes() + b"\0" + (d / "cmdline").read_bytes()
        except OSError: continue
        if any(m.encode() in blob for m in marks): out[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return out


def losses(output_dir: Path) -> dict[int, float]:
    from sft_nb.runs.results import read_trainer_log
    return {r["current_steps"]: r["loss"] for r in read_trainer_log(output_dir) if "loss" in r}


@pytest.fixture(scope="module")
def killed_and_resumed(project, tmp_path_factory):
    "An uninterrupted run `ref`; its rerun `kr` killed (kill -9 of the process group) after checkpoint-4, checkpoint-4 truncated, then resumed."
    p = copy_project(project, tmp_path_factory.mktemp("resume"))
    cfg = p / "config.yaml"
    ref = run([BIN / "sft-nb", "train", "--config", cfg, "--run-name", "ref", *STEPS])
    assert ref.returncode == 0, ref.stdout[-2000:] + ref.stderr[-2000:]
    od = p / "artifacts/model/kr"
    proc = subprocess.Popen([str(BIN / "sft-nb"), "rerun", "ref", "--config", str(cfg), "--run-name", "kr"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.time()
    while not (od / "checkpoint-4/trainer_state.json").exists() and time.time() - t0 < 600 and proc.poll() is None: time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    key = json.loads((p / "artifacts/launches/kr.json").read_text())["key"]
    marks, t1 = [f"SFT_NB_RUN={key}", str(p / "artifacts/training_config/kr.yaml")], time.time()
    while survivors(marks) and time.time() - t1 < 20: time.sleep(0.2)
    left = survivors(marks)
    assert not (od / "train_results.json").exists(), "killed before the end"
    weights = od / "checkpoint-4/model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # as if killed while saving checkpoint-4
    res = run([BIN / "sft-nb", "run", "--config", cfg, "--run-name", "kr", "--resume"])
    return dict(project=p, ref=ref, resumed=res, left=left, kill_s=round(time.time() - t1, 1))


def test_kill_leaves_no_process_of_the_run(killed_and_resumed):
    assert killed_and_resumed["left"] == {}


def test_resume_skips_truncated_checkpoint_and_matches_uninterrupted_losses(killed_and_resumed):
    k, p = killed_and_resumed, killed_and_resumed["project"]
    out = k["resumed"].stdout + k["resumed"].stderr
    assert k["resumed"].returncode == 0, out[-3000:]
    assert "skipping incomplete checkpoint" in out and "checkpoint-4" in out and "model.safetensors" in out
    assert len(list((p / "artifacts/model/kr/incomplete").glob("checkpoint-4-*"))) == 1
    assert f"resuming kr from {p / 'artifacts/model/kr/checkpoint-2'}" in out
    ref, kr = losses(p / "artifacts/model/ref"), losses(p / "artifacts/model/kr")
    assert sorted(ref) == sorted(kr) == list(range(1, 9))
    assert max(abs(ref[s] - kr[s]) for s in ref) < TOL, (ref, kr)


def test_run_record_shows_killed_and_resumed_attempts(killed_and_resumed):
    p = killed_and_resumed["project"]
    rec = json.loads((p / "artifacts/launches/kr.json").read_text())
    out = YAML(typ="safe").load((p / "config.yaml").read_text())["runtime_info"]["output"]
    assert out["run_name"] == "kr" and [a["status"] for a in out["attempts"]] == ["killed", "success"]
    assert [a["attempt"] for a in rec["attempts"]] == [1, 2] and rec["attempts"][1]["resume_from"].endswith("checkpoint-2")
    assert out["train_loss"] is None and out["total_steps"] == 8
    assert out["final_loss"] == pytest.approx(losses(p / "artifacts/model/ref")[8], abs=TOL)
    assert out["runtime_s"] > 0 and out["wall_s"] >= rec["attempts"][1]["wall_s"]
    # each attempt's own train time, the killed one too; LF logs elapsed_time in whole seconds, so a killed attempt of a few
    # fast steps can read 0 (seen on a fast idle machine: 5 steps within "0:00:00"): present and summed, not necessarily > 0
    assert all(a.get("train_s") is not None and a["train_s"] >= 0 for a in out["attempts"]), out["attempts"]
    assert out["runtime_s"] == pytest.approx(sum(a["train_s"] for a in out["attempts"]), abs=0.11)
    from sft_nb.runs.results import run_table
    assert list(run_table(p / "artifacts/runs/kr").step) == list(range(1, 9)), "steps logged twice are counted once"
    from sft_nb.runs.archive import read_index
    assert [e["status"] for e in read_index(p / "artifacts") if e["run"] == "kr"] == ["success"]


def test_resume_refusals_exit_2(killed_and_resumed):
    p = killed_and_resumed["project"]
    cfg = p / "config.yaml"
    none = run([BIN / "sft-nb", "train", "--config", cfg, "--run-name", "never-ran", "--resume"])
    assert none.returncode == 2 and "has no launch record" in none.stderr
    changed = run([BIN / "sft-nb", "rerun", "ref", "--config", cfg, "--run-name", "ref-lr", "--set", "training.learning_rate=5e-4"])
    assert changed.returncode == 2 and "runtime_info.input.training.learning_rate" in changed.stderr and "--force" in changed.stderr, changed.stderr[-2000:]


def test_notebook_resume_parameter_loads_the_recorded_run(killed_and_resumed, tmp_path):
    "papermill -p resume True: the run's recorded overrides and its newest complete checkpoint (a dry run: plan only)."
    p = killed_and_resumed["project"]
    out = tmp_path / "resume.ipynb"
    res = run([BIN / "papermill", REPO / "nbs/train.ipynb", out, "--cwd", p, "-p", "resume", "True", "-p", "dry_run", "True", "-r", "run_name", "kr"])
    assert res.returncode == 0, res.stderr[-3000:]
    text = out.read_text()
    assert f"resuming kr from {p / 'artifacts/model/kr/checkpoint-8'}" in text and "max_steps: 8" in text
