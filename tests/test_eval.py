"""The held-out split on a real demo run: every trial of the held-out instances is evaluated and none trained on, the eval
loss reaches runtime_info.output, and a run that memorizes one conversation is called out as `eval_overfitting`."""
import json
import pytest
from ruamel.yaml import YAML
from conftest import BIN, run

SETS = ["conversion.data_name=ofit", "conversion.eval_instances=2", "conversion.max_instances=3", "training.max_steps=60",
        "training.per_device_train_batch_size=1", "training.learning_rate=1.0e-2", "training.lr_scheduler_type=constant",
        "training.warmup_ratio=0", "training.save_steps=60", "training.eval_steps=5", "training.logging_steps=5", "training.cutoff_len=1024",
        "evolving.tunable_params.learning_rate=[1.0e-5, 1.0e-1]", "evolving.tunable_params.max_instances=[1, 100000]"]
ARGS = sum((["--set", s] for s in SETS), [])

@pytest.fixture(scope="module")
def overfit_run(own_project):
    "One training conversation, two held-out instances, 60 steps at a constant 1e-2: the model memorizes."
    res = run([BIN/"sft-nb", "train", "--config", own_project/"config.yaml", "--run-name", "ofit", *ARGS])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return own_project, res.stdout

def test_split_is_by_instance_and_registered(overfit_run):
    project, out = overfit_run
    lf = project/"artifacts/data/lf_data"
    train, held = json.loads((lf/"ofit.json").read_text()), json.loads((lf/"ofit.eval.json").read_text())
    assert (len(train), len(held)) == (1, 2) and not {s["id"] for s in train} & {s["id"] for s in held}
    assert json.loads((lf/"dataset_info.json").read_text())["ofit_eval"]["file_name"] == "ofit.eval.json"
    assert "held out for eval: 2 samples of 2 instance(s)" in out

def test_plan_states_the_evaluations(overfit_run):
    project, _ = overfit_run
    res = run([BIN/"sft-nb", "check", "--config", project/"config.yaml", "--run-name", "ofit-plan", *ARGS])
    assert "eval           ofit_eval (2 samples) every 5 steps: 12 evaluation(s)" in res.stdout
    assert "only 2 evaluation samples" in res.stdout  # the warning for fewer than 10

def test_memorizing_run_gets_eval_overfitting_and_its_eval_loss_recorded(overfit_run):
    project, _ = overfit_run
    o = YAML(typ="safe", pure=True).load((project/"config.yaml").read_text())["runtime_info"]["output"]
    assert o["evaluations"] == 12 and o["eval_loss"] > o["best_eval_loss"] and o["stopped_early"] is False
    assert any(v.startswith("WARNING eval_overfitting") or "eval_overfitting" in v for v in o["verdicts"]), o["verdicts"]
