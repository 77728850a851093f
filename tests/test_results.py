"""STEP 3 results: each health verdict driven by a synthetic log in LLaMA-Factory's formats (citing the right steps), the
tidy table's tolerance of half-written and resumed logs, and one real demo run, through the train notebook under
papermill, that is healthy, shows its curves and verdicts in the output notebook, is archived and listed."""
import json, math, shutil
from pathlib import Path
import pytest
from conftest import REPO, BIN, run
from sft_nb.runs.results import run_table, verdict_table, health_verdicts, run_health, format_health, HEALTH

NAN, INF = float("nan"), float("inf")


def write_run(d: Path, losses, lrs=None, grads=None, evals=None, total=None) -> Path:
    "An output dir as LLaMA-Factory writes it: trainer_log.jsonl per step, trainer_state.json log_history (grad_norm, eval_loss)."
    d.mkdir(parents=True, exist_ok=True)
    n, total = len(losses), total or len(losses)
    lrs = lrs or [1e-4 * (1 - i / n) for i in range(n)]
    log = [{"current_steps": i + 1, "total_steps": total, "loss": l, "lr": lr, "epoch": round((i + 1) / n, 2),
            "percentage": round(100 * (i + 1) / total, 2), "elapsed_time": f"0:00:{i:02d}", "remaining_time": "0:00:05"}
           for i, (l, lr) in enumerate(zip(losses, lrs))]
    (d / "trainer_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    hist = [{"step": i + 1, "loss": l, "learning_rate": lr, "epoch": round((i + 1) / n, 2), **({"grad_norm": grads[i]} if grads else {})}
            for i, (l, lr) in enumerate(zip(losses, lrs))]
    hist += [{"step": s, "eval_loss": e, "epoch": round(s / n, 2)} for s, e in (evals or {}).items()]
    (d / "trainer_state.json").write_text(json.dumps({"global_step": n, "log_history": hist}))
    return d


def codes(d: Path, scheduler="cosine"):
    return [(v.code, v.level, v.first_step, v.last_step) for v in health_verdicts(verdict_table(d), scheduler)]


FALLING = [3.0 * 0.95 ** i for i in range(20)]


def test_healthy_log_gets_no_verdict(tmp_path):
    assert codes(write_run(tmp_path, FALLING, grads=[1.0] * 20, evals={5: 2.9, 10: 2.6, 15: 2.4, 20: 2.3})) == []


def test_nan_and_inf_loss_is_an_error_citing_its_steps(tmp_path):
    losses = FALLING[:10] + [NAN, INF, NAN] + FALLING[13:]
    assert ("nan_loss", "error", 11, 13) in codes(write_run(tmp_path, losses))


def test_flat_loss_is_not_decreasing(tmp_path):
    assert codes(write_run(tmp_path, [2.0 + 0.02 * (i % 2) for i in range(20)])) == [("loss_not_decreasing", "warning", 1, 20)]


def test_rising_loss_is_not_decreasing(tmp_path):
    assert codes(write_run(tmp_path, [2.0 + 0.01 * i for i in range(10)])) == [("loss_not_decreasing", "warning", 1, 10)]


def test_loss_collapsing_early_is_flagged_with_its_steps(tmp_path):
    losses = [2.0, 1.0, 0.2, 0.005, 0.002, 0.001, 0.001, 0.001] + [0.001] * 12
    assert codes(write_run(tmp_path, losses, total=100)) == [("loss_collapse", "warning", 4, 20)]


def test_loss_reaching_zero_late_is_not_a_collapse(tmp_path):
    losses = [2.0 * 0.7 ** i for i in range(20)]  # below 0.01 only after step 16 of 20
    assert "loss_collapse" not in [c[0] for c in codes(write_run(tmp_path, losses, total=20))]


def test_grad_norm_spikes_above_100_and_nan(tmp_path):
    grads = [1.0] * 20
    grads[4], grads[7], grads[9] = 350.0, INF, NAN
    assert codes(write_run(tmp_path, FALLING, grads=grads)) == [("grad_norm_spike", "warning", 5, 10)]


def test_grad_norm_of_exactly_zero_means_frozen_weights(tmp_path):
    assert codes(write_run(tmp_path, FALLING, grads=[0.0] * 20)) == [("grad_norm_zero", "error", 1, 20)]


def test_eval_loss_rising_while_train_loss_falls_is_overfitting(tmp_path):
    d = write_run(tmp_path, FALLING, evals={5: 2.5, 10: 2.2, 15: 2.4, 20: 2.7})
    assert codes(d) == [("eval_overfitting", "warning", 10, 20)]


def test_eval_loss_rising_with_train_loss_is_not_called_overfitting(tmp_path):
    d = write_run(tmp_path, [2.0 + 0.05 * i for i in range(20)], evals={5: 2.5, 10: 2.2, 15: 2.4, 20: 2.7})
    assert "eval_overfitting" not in [c[0] for c in codes(d)]


def test_nan_learning_rate_is_a_config_error(tmp_path):
    lrs = [1e-4] * 2 + [NAN] + [1e-4 * (1 - i / 20) for i in range(3, 20)]
    assert ("lr_nan", "error", 3, 3) in codes(write_run(tmp_path, FALLING, lrs=lrs))


def test_flat_learning_rate_is_flagged_unless_the_scheduler_is_constant(tmp_path):
    d = write_run(tmp_path, FALLING, lrs=[1e-4] * 20)
    assert codes(d, "cosine") == [("lr_flat", "warning", 1, 20)]
    assert codes(d, "constant") == []


def test_zero_learning_rate_throughout_is_an_error_even_when_constant(tmp_path):
    d = write_run(tmp_path, [2.0] * 20, lrs=[0.0] * 20)
    assert ("lr_flat", "error", 1, 20) in codes(d, "constant")


def test_short_run_gets_no_trend_verdict(tmp_path):
    assert codes(write_run(tmp_path, [2.0] * (HEALTH["min_steps"] - 1), lrs=[1e-4] * (HEALTH["min_steps"] - 1))) == []


def test_half_written_line_and_resumed_steps(tmp_path):
    d = write_run(tmp_path, FALLING[:10])
    with open(d / "trainer_log.jsonl", "a") as f:  # crashed after step 10, resumed from checkpoint 8: steps 9 and 10 logged again
        f.write(json.dumps({"current_steps": 9, "total_steps": 10, "loss": 1.11, "lr": 1e-5, "elapsed_time": "0:00:01"}) + "\n")
        f.write(json.dumps({"current_steps": 10, "total_steps": 10, "loss": 1.10, "lr": 1e-5, "elapsed_time": "0:00:02"}) + "\n")
        f.write('{"current_steps": 11, "total_steps": 10, "lo')  # still being written
    t = run_table(d)
    assert list(t.step) == list(range(1, 11))
    assert list(t.loss.iloc[-2:]) == [1.11, 1.10] and t.grad_norm.isna().all()


def test_verdicts_are_printed_with_their_steps(tmp_path):
    h = run_health(write_run(tmp_path, FALLING[:10] + [NAN] + FALLING[11:], grads=[1.0] * 20))
    text = format_health(h)
    assert h["health"] == "error" and "ERROR nan_loss (step 11): loss is NaN/inf at 1 step(s)" in text
    assert "throughput:" in text and "progress: step 20/20" in text


def test_demo_run_is_healthy_shown_in_the_notebook_archived_and_listed(own_project):
    """A real demo training through nbs/train.ipynb under papermill: the output notebook shows the curves and the
    verdicts (healthy), the run is archived and in the index; archiving again keeps the finished output notebook."""
    from sft_nb.runs.archive import config_for_run, archive_run, read_index, format_runs
    (own_project / "artifacts/notebooks").mkdir(exist_ok=True)
    out = own_project / "artifacts/notebooks/healthy.ipynb"  # where `make demo` writes them
    res = run([BIN / "papermill", REPO / "nbs/train.ipynb", out, "--cwd", own_project, "-r", "run_name", "nb-healthy"])
    assert res.returncode == 0, res.stderr[-4000:]
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1, "the curves are embedded"
    assert "health: ok (no verdicts)" in text, text[-3000:]
    assert "steps/s" in text and "archived in" in text and "nb-healthy" in text.split("archived in")[-1]

    dest = own_project / "artifacts/runs/nb-healthy"
    health = json.loads((dest / "health.json").read_text())
    assert health["health"] == "ok" and health["verdicts"] == [] and health["throughput"]["steps_per_s"] > 0
    for f in ("config.yaml", "config.resolved.json", "train.yaml", "trainer_log.jsonl", "trainer_state.json", "train_results.json",
              "loss_curves.png", "output.json", "provenance.json", "manifest.json", "data/demo_openhands.stats.json",
              "data/demo_openhands.summary.json"):
        assert (dest / f).is_file(), f
    assert list((dest / "logs").glob("nb-healthy_*.log"))
    manifest = json.loads((dest / "manifest.json").read_text())
    assert [Path(p).name for p in manifest["checkpoints"]] == ["checkpoint-10", "checkpoint-20"]
    assert not list(dest.rglob("*.safetensors")), "checkpoints are referenced, not copied"
    entry = next(e for e in read_index(own_project / "artifacts") if e["run"] == "nb-healthy")
    assert (entry["status"], entry["health"], entry["steps"], entry["data_name"]) == ("success", "ok", 20, "demo_openhands")
    assert math.isfinite(entry["final_loss"]) and entry["learning_rate"] == 1e-3
    assert "nb-healthy" in format_runs(own_project / "artifacts")

    archive_run(config_for_run(own_project / "config.yaml"))  # `sft-nb archive` once papermill is done: the notebook is found by run name
    kept = json.loads((dest / "notebook/healthy.ipynb").read_text())
    assert "health: ok" in json.dumps(kept)
    assert [e["run"] for e in read_index(own_project / "artifacts")].count("nb-healthy") == 1, "archiving again replaces the entry"


def test_a_full_model_saved_in_shards_is_the_recorded_checkpoint(project, tmp_path):
    "A 7B+ full fine-tune writes model-0000x-of-0000N.safetensors + the index: the output dir is the model, not a checkpoint-N."
    from transformers import AutoModelForCausalLM
    from sft_nb.config.schema import load_config
    from sft_nb.model.demo import resolve_model_path
    from sft_nb.runs.results import run_output
    cfg = load_config(project / "config.yaml", [f"training.output_dir={tmp_path / 'out'}"], run_name="shards")
    od = cfg.output_dir
    model = AutoModelForCausalLM.from_pretrained(resolve_model_path(cfg))
    model.save_pretrained(od / "checkpoint-2", max_shard_size="200KB")  # an intermediate checkpoint, as the Trainer leaves it
    model.save_pretrained(od, max_shard_size="200KB")
    shards = sorted(od.glob("model-*-of-*.safetensors"))
    assert len(shards) >= 3 and (od / "model.safetensors.index.json").is_file() and not (od / "model.safetensors").exists()
    assert run_output(cfg, health={"health": "ok", "verdicts": [], "throughput": None})["checkpoint"] == str(od)
    from sft_nb.runs.generate import weights_dir
    assert weights_dir({"output_dir": str(od)}) == od  # generate loads the final model, not checkpoint-2
    AutoModelForCausalLM.from_pretrained(weights_dir({"output_dir": str(od)}))
