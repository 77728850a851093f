"""`sft-nb generate` on a model that can only be right if training worked: the demo model trained to overfit one conversation
gives back that conversation's exact tool call with every format check at 100%; the untrained base model does not."""
import json, os
import pytest
from conftest import BIN, run

TOOLS = [{"type": "function", "function": {"name": "bash", "description": "run a shell command",
                                           "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}]
SYSTEM = "You are a coding agent.\n<tools>\n" + "\n".join(json.dumps(t) for t in TOOLS) + "\n</tools>"
CALL = '<tool_call>\n{"name": "bash", "arguments": {"command": "ls -la /repo"}}\n</tool_call>'
CONVERSATION = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "List the files in the repository root."},
                             {"role": "assistant", "content": CALL}]}
SETS = ["source.type=local_lf", "source.lf_path=one.json", "conversion.data_name=one_conv", "training.max_steps=120",
        "training.learning_rate=1.0e-2", "training.lr_scheduler_type=constant", "training.warmup_ratio=0", "training.per_device_train_batch_size=1",
        "training.save_steps=120", "training.logging_steps=20", "evolving.tunable_params.learning_rate=[1.0e-5, 1.0e-1]"]

@pytest.fixture(scope="module")
def overfit(own_project):
    "The demo model trained on one conversation until it knows it by heart (120 steps at a constant 1e-2)."
    (own_project/"one.json").write_text(json.dumps([CONVERSATION]))
    (own_project/"prompts.jsonl").write_text(json.dumps(CONVERSATION) + "\n")
    sets = sum((["--set", s] for s in SETS), [])
    res = run([BIN/"sft-nb", "train", "--config", own_project/"config.yaml", "--run-name", "overfit-one", *sets])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return own_project

def generate(project, *extra):
    res = run([BIN/"sft-nb", "generate", "--config", project/"config.yaml", "--run-name", "overfit-one",
               "--prompts", project/"prompts.jsonl", "--max-new-tokens", "48", *extra])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads(res.stdout[res.stdout.index("{"):])

def test_overfit_model_gives_back_the_exact_tool_call(overfit):
    s = generate(overfit)
    rows = [json.loads(l) for l in (overfit/"artifacts/runs/overfit-one/generations.jsonl").read_text().splitlines()]
    assert len(rows) == s["n"] == 1
    assert rows[0]["response"] == CALL + "<|im_end|>", rows[0]["response"]
    assert (s["tool_calls_parse"], s["known_tools"], s["ends_eot"], s["exact_match"]) == (1.0, 1.0, 1.0, 1.0)
    assert json.loads((overfit/"artifacts/runs/overfit-one/generations.summary.json").read_text()) == s

def test_untrained_base_model_fails_the_same_checks(overfit):
    s = generate(overfit, "--base")
    assert s["exact_match"] == 0.0
    assert s["tool_calls_parse"] != 1.0 or s["known_tools"] != 1.0 or s["ends_eot"] != 1.0

def test_generate_without_a_held_out_split_asks_for_prompts(overfit):
    res = run([BIN/"sft-nb", "generate", "--config", overfit/"config.yaml", "--run-name", "overfit-one"])
    assert res.returncode == 1 and "no held-out split" in res.stderr and "--prompts" in res.stderr
