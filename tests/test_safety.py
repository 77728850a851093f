"""Safety rails: secrets never written, two pipelines at once, start.sh archiving after a failure and after SIGTERM,
names and paths that cannot be executed or escape, and clean.sh removing only what it is told to."""
import json, os, shutil, signal, subprocess, time
from pathlib import Path
import pytest
from ruamel.yaml import YAML
from conftest import REPO, BIN, run, copy_project

FAKE_WANDB = "sk-SFTNB-FAKE-wandb-0123456789abcdef"
FAKE_HF = "hf_SFTNBFAKEtoken0123456789abcdefgh"
FAKE_CLI = "sk-SFTNB-FAKE-from-set-9876543210"     # given with --set on the command line
FAKE_ENV = "hf_SFTNBFAKEfromENVIRONMENT98765432"   # given in the environment
SHORT = ["--set", "training.max_steps=4", "--set", "training.save_steps=2"]


def _config_with(project, name, **sections):
    "A copy of the project's config.yaml with some input values replaced, as `name`."
    y = YAML()
    doc = y.load((project / "config.yaml").read_text())
    for path, value in sections.items():
        node = doc["runtime_info"]["input"]
        *parents, last = path.split(".")
        for p in parents: node = node[p]
        node[last] = value
    with open(project / name, "w") as f: y.dump(doc, f)
    return project / name


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "HF_TOKEN")}
    return {**env, **extra}


def test_secrets_never_reach_written_files(own_project, tmp_path):
    project = own_project
    cfg = _config_with(project, "secret.yaml", **{"credentials.wandb_api_key": FAKE_WANDB, "credentials.hf_token": FAKE_HF,
                                                "experiment.wandb_mode": "offline"})
    started = time.time()
    res = run([BIN / "sft-nb", "run", "--config", cfg, "--run-name", "secret", *SHORT, "--set", f"credentials.wandb_api_key={FAKE_CLI}"],
              env=_env(WANDB_SILENT="true"))
    assert res.returncode == 0, res.stderr[-3000:]
    out_nb = tmp_path / "secret.ipynb"
    res2 = run([BIN / "papermill", REPO / "nbs/train.ipynb", out_nb, "--cwd", project, "-p", "config", "secret.yaml",
                "-r", "run_name", "secret-nb", "-p", "max_steps", "4"], env=_env(WANDB_SILENT="true", HF_TOKEN=FAKE_ENV))
    assert res2.returncode == 0, res2.stderr[-3000:]
    assert FAKE_WANDB not in res.stdout + res.stderr and FAKE_HF not in res.stdout + res.stderr
    written = [p for p in (project / "artifacts").rglob("*") if p.is_file() and p.stat().st_mtime >= started - 1] + [out_nb]
    assert len(written) > 20 and any("wandb" in str(p) for p in written), "the offline wandb run wrote its files"
    fakes = [f.encode() for f in (FAKE_WANDB, FAKE_HF, FAKE_CLI, FAKE_ENV)]
    leaks = [str(p) for p in written if any(f in p.read_bytes() for f in fakes)]
    assert leaks == []
    assert FAKE_CLI.encode() not in cfg.read_bytes() and FAKE_ENV.encode() not in cfg.read_bytes()  # the config holds only what the user wrote
    output = YAML(typ="safe").load(cfg.read_text())["runtime_info"]["output"]
    assert FAKE_WANDB not in json.dumps(output) and output["wandb_run_id"]
    assert "<redacted>" in json.dumps(YAML(typ="safe").load((project / "artifacts/runs/secret/output.json").read_text()))
    assert (project / "artifacts/runs/secret").is_dir()


def test_secret_as_notebook_parameter_is_refused(project, tmp_path):
    "papermill writes every parameter into the output notebook, so a secret given as one stops the run at once."
    out_nb = tmp_path / "refused.ipynb"
    res = run([BIN / "papermill", REPO / "nbs/train.ipynb", out_nb, "--cwd", project, "-r", "run_name", "refused",
               "-y", f"overrides: ['credentials.wandb_api_key={FAKE_CLI}']"], env=_env())
    assert res.returncode != 0
    assert "set the environment variable WANDB_API_KEY instead" in res.stdout + res.stderr
    assert not (project / "artifacts/model/refused").exists() and not (project / "artifacts/runs/refused").exists()


def test_overrides_recorded_redacted_but_visible_otherwise(project):
    from sft_nb.config.schema import load_config
    cfg = load_config(project / "config.yaml", [f"credentials.hf_token={FAKE_CLI}", "training.tokenized_path=tok", "training.max_new_tokens=8"])
    assert cfg.credentials.hf_token == FAKE_CLI  # the run itself gets it
    assert cfg.overrides == {"credentials.hf_token": "<redacted>", "training.tokenized_path": "tok", "training.max_new_tokens": 8}


def test_two_pipelines_at_once(project):
    "Two runs on the same data serialize STEP 0-1 and both train; a third on the same run name fails clearly."
    cmd = lambda name: [str(BIN / "sft-nb"), "train", "--config", str(project / "config.yaml"), "--run-name", name,
                        "--set", "conversion.data_name=twice", *SHORT]
    procs = [subprocess.Popen(cmd(n), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for n in ("twoA", "twoB", "twoA")]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    rcs = [p.returncode for p in procs]
    assert rcs[1] == 0, outs[1][-2000:]
    assert sorted([rcs[0], rcs[2]])[0] == 0 and sorted([rcs[0], rcs[2]])[1] != 0, (rcs, outs[0][-1500:], outs[2][-1500:])
    loser = outs[0] if rcs[0] else outs[2]
    assert "being written by another pipeline" in loser or "exists and is not empty" in loser, loser[-2000:]
    info = json.loads((project / "artifacts/data/lf_data/dataset_info.json").read_text())
    assert info["twice"]["file_name"] == "twice.json"
    for run_name in ("twoA", "twoB"):
        assert (project / f"artifacts/model/{run_name}/checkpoint-4").is_dir()


def _broken_checkpoint(project) -> Path:
    ck = project / "artifacts/model/broken-src/checkpoint-2"
    ck.mkdir(parents=True, exist_ok=True)
    (ck / "trainer_state.json").write_text("{}")
    (ck / "model.safetensors").write_bytes(b"not a safetensors file")
    return ck


def test_start_sh_archives_after_training_fails(project):
    ck = _broken_checkpoint(project)
    res = run([REPO / "scripts/start.sh", "--config", project / "config.yaml", "--run-name", "failing",
               "--set", f"training.resume_from_checkpoint={ck}", "--set", "infrastructure.n_gpus_per_node=2", *SHORT])
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    assert "training failed with exit code" in res.stderr
    assert "rank 0: Traceback" in res.stderr and "rank 1: Traceback" in res.stderr, res.stderr[-3000:]
    assert "archived (failed)" in res.stdout
    index = YAML(typ="safe").load((project / "artifacts/index.yaml").read_text())
    entry = [e for e in (index.get("runs") if isinstance(index, dict) else index) if e["run"] == "failing"][-1]
    assert entry["status"] == "failed"


def test_start_sh_archives_after_sigterm(project, tmp_path):
    out_f, err_f = open(tmp_path / "out.txt", "w+"), open(tmp_path / "err.txt", "w+")  # files, not pipes: a full pipe would block it
    p = subprocess.Popen([str(REPO / "scripts/start.sh"), "--config", str(project / "config.yaml"), "--run-name", "killed",
                          "--set", "training.max_steps=5000", "--set", "training.save_steps=1000"], stdout=out_f, stderr=err_f)
    log = project / "artifacts/model/killed/trainer_log.jsonl"
    deadline = time.time() + 300
    while not (log.exists() and log.stat().st_size > 0) and time.time() < deadline and p.poll() is None: time.sleep(0.5)
    assert p.poll() is None, (tmp_path / "err.txt").read_text()[-3000:]
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)
    out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert p.returncode == 143, (p.returncode, err[-3000:])
    assert "archived (terminated)" in out, out[-2000:]
    left = subprocess.run(["pgrep", "-f", "training_config/killed.yaml"], capture_output=True, text=True).stdout.split()
    assert left == [], "torchrun and its ranks are gone"
    assert json.loads((project / "artifacts/runs/killed/output.json").read_text())["status"] == "terminated"


def test_paths_with_spaces_are_refused_not_split(project, tmp_path):
    d = tmp_path / "with space"
    d.mkdir()
    shutil.copy(project / "config.yaml", d / "config.yaml")
    shutil.copytree(project / "artifacts/demo", d / "artifacts/demo")
    res = run([BIN / "sft-nb", "train", "--config", d / "config.yaml", "--run-name", "spaced", *SHORT])
    assert res.returncode == 2 and "whitespace" in res.stderr, res.stderr[-2000:]


def test_clean_sh_removes_only_what_it_is_told(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts/clean.sh", repo / "scripts/clean.sh")
    for p in ("artifacts/training_config/deepspeed/ds_z3_config.json", "artifacts/training_config/run.yaml", "artifacts/model/r/x",
              "artifacts/logs/r.log", ".pytest_cache/x", "pkg/__pycache__/m.pyc", "nbs/.ipynb_checkpoints/a.ipynb"):
        (repo / p).parent.mkdir(parents=True, exist_ok=True); (repo / p).write_text("x")
    dry = run(["bash", repo / "scripts/clean.sh", "--artifacts", "--repo-cache"])
    assert dry.returncode == 0 and "would remove artifacts/model" in dry.stdout
    assert (repo / "artifacts/model/r/x").exists() and not (repo / "pkg/__pycache__").exists()
    assert run(["bash", repo / "scripts/clean.sh", "--nonsense"]).returncode == 2
    run(["bash", repo / "scripts/clean.sh", "--artifacts", "--yes"])
    assert not (repo / "artifacts/model").exists() and not (repo / "artifacts/training_config/run.yaml").exists()
    assert (repo / "artifacts/training_config/deepspeed/ds_z3_config.json").exists() and (repo / ".pytest_cache").exists()
    run(["bash", repo / "scripts/clean.sh", "--repo-cache", "--yes"])
    assert not (repo / ".pytest_cache").exists() and not (repo / "nbs/.ipynb_checkpoints").exists()


def test_sweep_refuses_a_secret_set_before_writing_anything(project, tmp_path):
    "Every sweep point is a papermill notebook and sweep.yaml records the sets: a secret in --set stops the sweep at once."
    p = copy_project(project, tmp_path)
    res = run([BIN / "sft-nb", "sweep", "sec", "--grid", "learning_rate=1e-4,1e-3", "--set", f"credentials.hf_token={FAKE_CLI}",
               "--config", p / "config.yaml"], cwd=p, env=_env())
    assert res.returncode == 2, res.stdout + res.stderr
    assert "set the environment variable HF_TOKEN instead" in res.stdout + res.stderr
    assert not (p / "artifacts/sweeps/sec").exists()
    assert FAKE_CLI not in "".join(f.read_text(errors="replace") for f in (p / "artifacts").rglob("*") if f.is_file() and f.stat().st_size < 10**6)
