"""`sft-nb slurm --submit` on a real single-host Slurm cluster (Debian's slurm-wlm and munge, installed when missing):
the job runs the demo pipeline to COMPLETED and the run is archived."""
import json, re, tempfile, time
from pathlib import Path
import pytest
from conftest import BIN, run, copy_project
from slurm_cluster import Cluster, ensure_packages


@pytest.fixture(scope="module")
def cluster():
    why = ensure_packages()
    if why: pytest.skip(f"Slurm cannot be installed here: {why}")
    c = Cluster(Path(tempfile.mkdtemp(dir="/tmp", prefix="sftnb-slurm-")))
    try: yield c.start()
    finally: c.stop()


def test_slurm_submit_runs_the_demo_to_completed_and_archives_it(cluster, project, tmp_path):
    p = copy_project(project, tmp_path)
    res = run([BIN / "sft-nb", "slurm", "--config", p / "config.yaml", "--run-name", "slurm-demo", "--nodes", "1", "--submit",
               "--set", "training.max_steps=2", "--set", "training.save_steps=2"], env=cluster.env)
    assert res.returncode == 0, res.stdout + res.stderr
    job = re.search(r"submitted job (\d+)", res.stdout).group(1)
    script = (p / "artifacts/slurm/slurm-demo.sbatch").read_text()
    assert "#SBATCH --nodes=1" in script and "--run-name slurm-demo" in script
    t0, state = time.time(), None
    while time.time() - t0 < 900:
        state = re.search(r"JobState=(\w+)", cluster.scontrol("show", "job", job)).group(1)
        if state not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"): break
        time.sleep(2)
    log = p / f"artifacts/logs/slurm-slurm-demo-{job}.out"
    assert state == "COMPLETED", f"{state}\n{log.read_text()[-3000:] if log.exists() else 'no job log'}"
    assert "archived (success)" in log.read_text()
    out = json.loads((p / "artifacts/runs/slurm-demo/output.json").read_text())
    assert out["status"] == "success" and out["total_steps"] == 2


def test_no_node_argv_or_sbatch_replays_a_secret(project):
    "A secret given by --set reaches no node's argv and no .sbatch, neither as its value nor as `<redacted>`."
    from sft_nb.config.schema import load_config
    from sft_nb.train.slurm import node_argv, sbatch_script
    cfg = load_config(project / "config.yaml", ["credentials.hf_token=hf_SeCrEt123", "training.max_steps=2"], run_name="slurm-secret")
    argv, script = " ".join(node_argv(cfg, 2, 8, 29500)), sbatch_script(cfg, nodes=2)
    for text in (argv, script):
        assert "hf_SeCrEt123" not in text and "<redacted>" not in text and "hf_token" not in text
        assert "training.max_steps=2" in text, "the other overrides are still replayed"
