"""`sft-nb generate` on a model that can only be right if training worked: the demo model trained to overfit one conversation
gives back that conversation's exact tool call with every format check at 100%, fully fine-tuned or as a LoRA adapter loaded on the base;
the untrained base model does not."""
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

def write_conversation(project):
    "The one conversation as training data (one.json) and as the prompt to answer (prompts.jsonl)."
    (project/"one.json").write_text(json.dumps([CONVERSATION]))
    (project/"prompts.jsonl").write_text(json.dumps(CONVERSATION) + "\n")

def train_on_conversation(project, run_name, sets):
    "`sft-nb train` on the one conversation with these overrides; the project back."
    write_conversation(project)
    res = run([BIN/"sft-nb", "train", "--config", project/"config.yaml", "--run-name", run_name, *sum((["--set", s] for s in sets), [])])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return project

@pytest.fixture(scope="module")
def overfit(own_project):
    "The demo model trained on one conversation until it knows it by heart (120 steps at a constant 1e-2)."
    return train_on_conversation(own_project, "overfit-one", SETS)

# LoRA on every linear layer, and the output layer trained whole (`additional_target`): the tiny demo model's tied embeddings are so
# small that LoRA alone cannot make its logits sharp enough to be sure of greedy decoding (measured: p(reference token) ~0.002).
LORA_SETS = ["training.finetuning_type=lora", "training.lora_rank=8", "training.lora_alpha=16", "training.lora_target=all",
             "training.additional_target=lm_head", "training.max_steps=60", "training.save_steps=60"]

@pytest.fixture(scope="module")
def overfit_lora(own_project):
    "A LoRA adapter on the demo model trained on the same conversation (60 steps at a constant 1e-2: loss 0.001 by step 60)."
    return train_on_conversation(own_project, "overfit-lora", SETS + LORA_SETS)

def generate(project, *extra, run_name="overfit-one"):
    res = run([BIN/"sft-nb", "generate", "--config", project/"config.yaml", "--run-name", run_name,
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

def test_lora_adapter_on_the_base_gives_back_the_exact_tool_call(overfit_lora):
    s = generate(overfit_lora, run_name="overfit-lora")
    adapter = overfit_lora/"artifacts/model/overfit-lora"
    assert s["model"] == str(adapter) and (adapter/"adapter_model.safetensors").exists() and not (adapter/"model.safetensors").exists()
    rows = [json.loads(l) for l in (overfit_lora/"artifacts/runs/overfit-lora/generations.jsonl").read_text().splitlines()]
    assert len(rows) == s["n"] == 1
    assert rows[0]["response"] == CALL + "<|im_end|>", rows[0]["response"]
    assert (s["family"], s["tool_calls_parse"], s["known_tools"], s["ends_eot"], s["exact_match"]) == ("chatml", 1.0, 1.0, 1.0, 1.0)

def test_untrained_base_model_fails_the_same_checks(overfit):
    s = generate(overfit, "--base")
    assert s["exact_match"] == 0.0
    assert s["tool_calls_parse"] != 1.0 or s["known_tools"] != 1.0 or s["ends_eot"] != 1.0

def test_generate_without_a_held_out_split_asks_for_prompts(overfit):
    res = run([BIN/"sft-nb", "generate", "--config", overfit/"config.yaml", "--run-name", "overfit-one"])
    assert res.returncode == 1 and "no held-out split" in res.stderr and "--prompts" in res.stderr
