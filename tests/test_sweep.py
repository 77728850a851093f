"Sweeps through the command line, as a user runs them: sft-nb sweep NAME --grid ... on the demo (few steps, data converted once)."
import json
from pathlib import Path
import pytest
from filelock import FileLock
from ruamel.yaml import YAML
from conftest import BIN, copy_project, run

GRID = ["--grid", "learning_rate=1e-4,1e-3", "--grid", "max_instances=10,12", "--set", "training.num_train_epochs=1",
        "--set", "training.save_steps=4"]


def sweep(project, *args, timeout=1800):
    return run([BIN / "sft-nb", "sweep", *args, "--config", project / "config.yaml"], cwd=project, timeout=timeout)


def record(project, name) -> dict:
    return YAML(typ="safe", pure=True).load((project / "artifacts/sweeps" / name / "sweep.yaml").read_text())


def losses(output_dir) -> list[float]:
    recs = [json.loads(l) for l in (Path(output_dir) / "trainer_log.jsonl").read_text().splitlines() if l.strip()]
    return [r["loss"] for r in recs if "loss" in r]


@pytest.fixture(scope="module")
def sweep_project(project, tmp_path_factory) -> Path:
    return copy_project(project, tmp_path_factory.mktemp("sweep_project"))


@pytest.fixture(scope="module")
def grid_sweep(sweep_project):
    "A 2x2 grid at --parallel 2 whose last point is forced to fail (its run lock held), then the same command again."
    lock = sweep_project / "artifacts/model/.g-3.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock), timeout=0):  # run_step refuses to train g-3 while another process holds its output dir
        first = sweep(sweep_project, "g", *GRID, "--parallel", "2")
    after_first = record(sweep_project, "g")
    second = sweep(sweep_project, "g", *GRID, "--parallel", "2")
    return first, after_first, second, record(sweep_project, "g")


def test_grid_sweep_runs_every_point_once_and_a_failed_point_does_not_stop_the_others(grid_sweep, sweep_project):
    first, rec, _, _ = grid_sweep
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
    pts = rec["points"]
    assert [p["run"] for p in pts] == ["g-0", "g-1", "g-2", "g-3"]
    assert [p["params"] for p in pts] == [{"learning_rate": 1e-4, "max_instances": 10}, {"learning_rate": 1e-4, "max_instances": 12},
                                          {"learning_rate": 1e-3, "max_instances": 10}, {"learning_rate": 1e-3, "max_instances": 12}]
    assert [p["status"] for p in pts] == ["success", "success", "success", "failed"]
    # max_instances is LLaMA-Factory's max_samples at train time: 10 samples / batch 2 = 5 steps, 12 -> 6; the data is not reconverted
    assert [p["steps"] for p in pts[:3]] == [5, 6, 5]
    assert len(json.loads((sweep_project / "artifacts/data/lf_data/demo_openhands.json").read_text())) == 20
    assert "RunLocked" in Path(pts[3]["log"]).read_text() or "being written by another pipeline" in Path(pts[3]["log"]).read_text()
    assert "g-3" in first.stdout and "failed" in first.stdout and "best run by final_loss" in first.stdout


def test_rerun_skips_finished_points_and_redoes_the_failed_one(grid_sweep, sweep_project):
    _, before, second, rec = grid_sweep
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    pts = rec["points"]
    assert [p["status"] for p in pts] == ["success"] * 4
    assert [p["attempts"] for p in pts] == [1, 1, 1, 2], "finished points are skipped, the failed one redone"
    assert [p["wall_s"] for p in pts[:3]] == [p["wall_s"] for p in before["points"][:3]]
    assert pts[3]["steps"] == 6 and pts[3]["resumed_from"] is None, "it failed before any checkpoint: a fresh attempt"
    d = sweep_project / "artifacts/sweeps/g"
    assert (d / "g-3.attempt1.ipynb").is_file() and (d / "g-3.ipynb").is_file(), "the failed attempt's notebook kept aside"
    assert (d / "compare.png").read_bytes()[:4] == b"\x89PNG"
    best = min(pts, key=lambda p: p["last_losses"])
    assert rec["best"]["run"] == best["run"] and rec["best"]["metric"] == "final_loss"
    assert f"best run by final_loss: {best['run']}" in second.stdout


def test_sweep_runs_are_archived_with_their_sweep_and_point(grid_sweep, sweep_project):
    index = YAML(typ="safe", pure=True).load((sweep_project / "artifacts/index.yaml").read_text())["runs"]
    mine = {e["run"]: e for e in index if e.get("sweep") == "g"}
    assert sorted(mine) == ["g-0", "g-1", "g-2", "g-3"]
    assert mine["g-1"]["point"] == {"learning_rate": 1e-4, "max_instances": 12} and mine["g-1"]["status"] == "success"
    assert (sweep_project / "artifacts/runs/g-1/notebook/g-1.ipynb").is_file(), "the output notebook is kept with the run"
    res = run([BIN / "sft-nb", "runs", "--sweep", "g", "--config", sweep_project / "config.yaml"], cwd=sweep_project)
    assert res.returncode == 0 and "max_instances" in res.stdout and all(f"g-{i}" in res.stdout for i in range(4))
    from sft_nb.ui.dashboard import list_runs
    assert {r["run"]: r["sweep"] for r in list_runs(sweep_project / "artifacts") if r["run"].startswith("g-")} == {f"g-{i}": "g" for i in range(4)}


def test_one_point_alone_has_the_same_losses_as_inside_a_parallel_sweep(grid_sweep, sweep_project):
    res = sweep(sweep_project, "alone", "--grid", "learning_rate=1e-3", "--grid", "max_instances=10", *GRID[4:])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    alone = losses(record(sweep_project, "alone")["points"][0]["output_dir"])
    parallel = losses(record(sweep_project, "g")["points"][2]["output_dir"])
    assert len(alone) == 5 and alone == pytest.approx(parallel, rel=1e-5)


def test_a_different_grid_under_the_same_name_is_refused_unless_extend(grid_sweep, sweep_project):
    res = sweep(sweep_project, "g", "--grid", "learning_rate=3e-4", *GRID[4:])
    assert res.returncode == 2 and "--extend" in res.stderr
    res = sweep(sweep_project, "g", "--grid", "learning_rate=3e-4", "--grid", "max_instances=10", *GRID[4:], "--extend", "--dry-run")
    assert res.returncode == 0 and "g-4" in res.stdout and "pending" in res.stdout


@pytest.mark.parametrize("grid, key", [("learning_rate=5e-2", "learning_rate"), ("warmup_ratio=0.1", "warmup_ratio"),
                                       ("max_instances=12.5", "max_instances"), ("learning_rate=", "learning_rate")])
def test_out_of_range_or_undeclared_values_exit_2_before_anything_runs(sweep_project, grid, key):
    res = sweep(sweep_project, "bad", "--grid", grid)
    assert res.returncode == 2 and f"evolving.tunable_params.{key}" in res.stderr, res.stderr
    assert not (sweep_project / "artifacts/sweeps/bad").exists()


def test_random_points_are_reproducible_by_seed(sweep_project):
    args = ["--random", "4", "--keys", "learning_rate,per_device_train_batch_size", "--dry-run"]
    a, b, c = (sweep(sweep_project, "rnd", *args, "--seed", s) for s in ("3", "3", "4"))
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout != c.stdout
    assert "learning_rate" in a.stdout and "rnd-3" in a.stdout and not (sweep_project / "artifacts/sweeps/rnd").exists()


def test_an_interrupted_point_resumes_from_its_last_complete_checkpoint(sweep_project):
    import signal, subprocess, time
    from sft_nb.sweep import complete_checkpoint
    args = ["k", "--grid", "learning_rate=1e-3", "--grid", "max_instances=20", "--set", "training.num_train_epochs=1",
            "--set", "training.save_steps=3", "--config", sweep_project / "config.yaml"]
    proc = subprocess.Popen([str(a) for a in [BIN / "sft-nb", "sweep", *args]], cwd=sweep_project, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    od, deadline = sweep_project / "artifacts/model/k-0", time.time() + 1200
    while complete_checkpoint(od) is None and proc.poll() is None and time.time() < deadline: time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 143, out[-3000:]
    assert record(sweep_project, "k")["points"][0]["status"] == "interrupted"
    from sft_nb.train.guard import processes_with, run_key
    assert processes_with(run_key(od)) == {}, "no process of the interrupted point outlives the sweep (it could still write a checkpoint)"
    ck = complete_checkpoint(od)
    assert ck is not None and not (od / "train_results.json").exists(), "stopped mid-training, after a complete checkpoint"
    res = run([BIN / "sft-nb", "sweep", *args], cwd=sweep_project, timeout=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    p = record(sweep_project, "k")["points"][0]
    assert (p["status"], p["attempts"], p["resumed_from"], p["steps"]) == ("success", 2, str(ck), 10)
    assert YAML(typ="safe", pure=True).load((sweep_project / "artifacts/training_config/k-0.yaml").read_text())["resume_from_checkpoint"] == str(ck)
    logs = sorted((sweep_project / "artifacts/logs").glob("k-0_*.log"))  # the launch logs (the notebook shows only their tail)
    assert any(f"Continuing training from global step {ck.name.split('-')[1]}" in f.read_text(errors="replace") for f in logs), logs
    assert (sweep_project / "artifacts/sweeps/k/k-0.attempt1.ipynb").is_file(), "the interrupted attempt's notebook kept aside"
