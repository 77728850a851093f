"""`--smoke`: one optimizer step on the longest batch the data can produce, launched as the run is (torchrun, the same processes and
method), before training; its time and peak memory reach the plan and runtime_info.output, and a failure stops the run before it starts."""
import json
from pathlib import Path
from ruamel.yaml import YAML
from conftest import BIN, run


def longest_tokenized(project: Path) -> int:
    "The longest sequence of the tokenize step's cache (its stats sidecar, written from the saved dataset)."
    (side,) = (project / "artifacts/data/tokenized").glob("demo_openhands-*.stats.json")
    return json.loads(side.read_text())["stats"]["train"]["length"]["max"]


def test_run_smoke_takes_one_step_on_the_longest_batch_then_trains(own_project):
    p = own_project
    res = run([BIN / "sft-nb", "run", "--config", p / "config.yaml", "--run-name", "smoke-ok", "--smoke",
               "--set", "training.max_steps=2", "--set", "infrastructure.n_gpus_per_node=2"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    s = json.loads((p / "artifacts/smoke/smoke-ok/smoke.json").read_text())
    assert s["ok"] and s["processes"] == 2 and s["batch"]["rows_per_process"] == 2, s
    assert s["batch"]["tokens"] == longest_tokenized(p), "the batch is the longest sequence of the data that trains"
    assert s["step_s"] > 0 and s["peak_rss_gb"] > 0.2 and s["gpu"] is None, s
    assert sorted(x.name for x in (p / "artifacts/smoke/smoke-ok/ranks").iterdir()) == ["rank0.json", "rank1.json"]
    assert not (p / "artifacts/smoke/smoke-ok/out").exists(), "the smoke step saves no model"
    log = Path(s["log"]).read_text()
    assert "Loaded tokenized dataset from" in log and "Total optimization steps = 1" in log and "Running tokenizer" not in log
    assert "Saving model checkpoint" not in log
    out = res.stdout
    assert out.index("smoke          one optimizer step on the longest batch") < out.index("STEP 3 final loss"), "the smoke step ran before training"
    o = YAML(typ="safe").load((p / "config.yaml").read_text())["runtime_info"]["output"]
    assert o["run_name"] == "smoke-ok" and o["total_steps"] == 2 and o["smoke"] == s
    assert json.loads((p / "artifacts/runs/smoke-ok/output.json").read_text())["smoke"] == s, "archived with the run"
    plan = run([BIN / "sft-nb", "check", "--config", p / "config.yaml", "--run-name", "smoke-ok", "--set", "infrastructure.n_gpus_per_node=2"])
    assert "smoke          one optimizer step on the longest batch (2 x" in plan.stdout and "no GPU: peak resident memory" in plan.stdout, plan.stdout[-2000:]


def test_failed_smoke_stops_the_run_before_training(own_project):
    "A LoRA target the model does not have fails at model load: in the smoke step, with PEFT's own message, and nothing trains."
    p = own_project
    res = run([BIN / "sft-nb", "train", "--config", p / "config.yaml", "--run-name", "smoke-bad", "--smoke", "--set", "training.max_steps=2",
               "--set", "training.finetuning_type=lora", "--set", "training.lora_target=qkv_proj"])
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    assert "ERROR smoke step failed: one optimizer step on the longest batch" in res.stderr and "training was not started" in res.stderr, res.stderr[-3000:]
    assert "Target modules {'qkv_proj'} not found" in res.stderr, res.stderr[-3000:]
    s = json.loads((p / "artifacts/smoke/smoke-bad/smoke.json").read_text())
    assert s["ok"] is False and s["oom"] is False
    assert not (p / "artifacts/model/smoke-bad").exists() and not (p / "artifacts/launches/smoke-bad.json").exists()
