"""Archive, index and comparison on real demo runs: two short trainings that differ only in learning rate are archived
(secrets redacted, checkpoints referenced, code commit and package versions kept), listed, and compared in one picture
whose config table holds only learning_rate. The index survives two processes archiving at once."""
import json, shutil, subprocess
from importlib.metadata import version
from pathlib import Path
import pytest
from conftest import REPO, BIN, run
from sft_nb.config.schema import load_config
from sft_nb.pipeline import run_pipeline
from sft_nb.runs.archive import archive_run, compare_runs, read_index, runs_table, format_runs, REDACTED

SECRET = "hf_sEcReT0123456789abcdef"
COMMON = ["conversion.data_name=cmp", "training.max_steps=6", "training.save_steps=3", "training.include_num_input_tokens_seen=true",
          f"credentials.hf_token={SECRET}"]
RUNS = {"cmp-lr-1e-3": 1e-3, "cmp-lr-1e-4": 1e-4}


@pytest.fixture(scope="module")
def archived(own_project):
    "Two demo runs, 6 steps each, learning rates 1e-3 and 1e-4, trained through the library and archived."
    for name, lr in RUNS.items():
        cfg = load_config(own_project / "config.yaml", COMMON + [f"training.learning_rate={lr}"], run_name=name)
        r = run_pipeline(cfg, quiet=True)
        assert r.launch.returncode == 0 and r.output["status"] == "success"
        archive_run(cfg, r.output)
    return own_project / "artifacts"


def test_two_runs_with_different_lr_compare_in_one_picture(archived):
    c = compare_runs(list(RUNS), archived)
    assert c.plot.read_bytes()[:4] == b"\x89PNG" and c.plot.stat().st_size > 20_000
    shutil.copy(c.plot, "/tmp/sft_nb_compare.png")
    assert list(c.config_diff.index) == ["training.learning_rate"], c.config_diff
    assert list(c.config_diff.columns) == list(RUNS)
    assert list(c.config_diff.loc["training.learning_rate"]) == [1e-3, 1e-4]
    m = c.metrics
    assert list(m.index) == list(RUNS) and list(m.steps) == [6, 6]
    assert (m.tokens_seen > 0).all(), "tokens seen are logged, so the curves align by tokens too"
    assert m.tokens_seen.iloc[0] == m.tokens_seen.iloc[1], "same data, same tokens"
    assert m.final_loss.iloc[0] < m.final_loss.iloc[1], "the larger learning rate learns faster on the demo"
    assert "training.learning_rate" in str(c) and str(c.plot) in str(c)


def test_archive_holds_the_run_without_secrets_or_checkpoints(archived):
    for name in RUNS:
        dest = archived / "runs" / name
        texts = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()}
        assert not [p for p, b in texts.items() if SECRET.encode() in b], "the token reached the archive"
        assert json.loads((dest / "config.resolved.json").read_text())["credentials"]["hf_token"] == REDACTED
        assert not list(dest.rglob("checkpoint-*")) and not list(dest.rglob("*.safetensors"))
        manifest = json.loads((dest / "manifest.json").read_text())
        assert [Path(p).name for p in manifest["checkpoints"]] == ["checkpoint-3", "checkpoint-6"]
        assert all(Path(p).is_dir() for p in manifest["checkpoints"])
        assert set(manifest["files"]) >= {"trainer_log.jsonl", "train.yaml", "config.yaml", "health.json", "loss_curves.png"}
        prov = json.loads((dest / "provenance.json").read_text())
        assert prov["packages"]["llamafactory"] == version("llamafactory") and prov["packages"]["transformers"] == version("transformers")
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0: assert prov["code"]["commit"] == head.stdout.strip()
        else: assert "commit" not in prov["code"]


def test_runs_are_listed_from_the_index(archived):
    entries = {e["run"]: e for e in read_index(archived)}
    for name, lr in RUNS.items():
        e = entries[name]
        assert (e["status"], e["steps"], e["learning_rate"], e["data_name"], e["max_steps"]) == ("success", 6, lr, "cmp", 6)
        assert e["archive"] == f"runs/{name}"
    table = runs_table(archived)
    assert set(RUNS) <= set(table.run)
    text = format_runs(archived)
    assert all(name in text for name in RUNS) and "final_loss" in text


def test_compare_names_unknown_runs(archived):
    with pytest.raises(FileNotFoundError, match="run 'nope' not found.*cmp-lr-1e-3"):
        compare_runs(["cmp-lr-1e-3", "nope"], archived)


def test_archive_of_a_run_that_left_nothing_says_so(own_project, archived):
    cfg = load_config(own_project / "config.yaml", ["conversion.data_name=cmp"], run_name="never-ran")
    assert (cfg.lf_data_dir / "cmp.stats.json").exists(), "the data's stats are no trace of this run"
    with pytest.raises(FileNotFoundError, match="nothing to archive for run never-ran"):
        archive_run(cfg)


def test_run_that_crashed_before_logging_is_archived_as_failed(own_project):
    from sft_nb.train.launch import write_train_yaml
    cfg = load_config(own_project / "config.yaml", ["conversion.data_name=cmp"], run_name="crashed")
    write_train_yaml(cfg)
    (cfg.artifacts / "logs").mkdir(exist_ok=True)
    (cfg.artifacts / "logs/crashed_20250101-000000.log").write_text("Traceback ...\nRuntimeError: CUDA out of memory\n")
    dest = archive_run(cfg)
    assert "CUDA out of memory" in (dest / "logs/crashed_20250101-000000.log").read_text()
    entry = next(e for e in read_index(own_project / "artifacts") if e["run"] == "crashed")
    assert (entry["status"], entry["health"], entry["final_loss"]) == ("failed", "unknown", None)


def test_index_survives_two_processes_archiving_at_once(tmp_path):
    code = ("import sys; from pathlib import Path; from sft_nb.runs.archive import update_index\n"
            "for i in range(25): update_index(Path(sys.argv[1]), {'run': f'{sys.argv[2]}-{i}', 'final_loss': float(i)})\n")
    procs = [subprocess.Popen([str(BIN / "python"), "-c", code, str(tmp_path), tag], stderr=subprocess.PIPE, text=True) for tag in "ab"]
    for p in procs: assert p.wait(timeout=120) == 0, p.stderr.read()
    runs = [e["run"] for e in read_index(tmp_path)]
    assert sorted(runs) == sorted(f"{t}-{i}" for t in "ab" for i in range(25))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no temp file left behind"
