"""LoRA on the demo: the defaults reach the YAML, the adapter trains and saves, and `export` merges it into a model that computes
exactly what base + adapter compute (and not what the base computes)."""
import json
from pathlib import Path
import pytest
from conftest import BIN, run

LORA = ["--set", "training.finetuning_type=lora", "--set", "training.learning_rate=1.0e-3", "--set", "training.max_steps=3",
        "--set", "training.save_steps=3", "--set", "conversion.data_name=lora_demo"]

@pytest.fixture(scope="module")
def lora_run(own_project):
    "A three-step LoRA run of the demo (defaults only: rank 16, alpha 32, all linear layers)."
    res = run([BIN/"sft-nb", "train", "--config", own_project/"config.yaml", "--run-name", "lora-demo", *LORA])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return own_project, own_project/"artifacts/model/lora-demo"

def test_lora_defaults_reach_the_yaml_and_the_adapter_is_saved(lora_run):
    project, out = lora_run
    yaml = (project/"artifacts/training_config/lora-demo.yaml").read_text()
    for line in ("finetuning_type: lora", "lora_rank: 16", "lora_alpha: 32", "lora_target: all"): assert line in yaml
    cfg = json.loads((out/"adapter_config.json").read_text())
    assert (cfg["r"], cfg["lora_alpha"]) == (16, 32)
    assert set(cfg["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert (out/"adapter_model.safetensors").is_file() and not (out/"model.safetensors").exists()

def test_export_merges_the_adapter_into_the_base_model(lora_run):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    project, out = lora_run
    res = run([BIN/"sft-nb", "export", "--config", project/"config.yaml", "--run-name", "lora-demo"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    merged = project/"artifacts/model/lora-demo-merged"
    assert f"merged model: {merged}" in res.stdout and (merged/"model.safetensors").is_file()
    assert not list(merged.parent.glob(".lora-demo-merged.tmp-*"))
    base_path = project/"artifacts/demo/model"
    ids = torch.tensor([[5, 17, 99, 230, 41, 7]])
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(base_path, torch_dtype=torch.float32)
        want_base = base(ids).logits
        want = PeftModel.from_pretrained(base, out).eval()(ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged, torch_dtype=torch.float32)(ids).logits
    assert torch.allclose(got, want, atol=1e-4)
    assert (got - want_base).abs().max() > 1e-3  # the adapter learned something, and the merge kept it
    again = run([BIN/"sft-nb", "export", "--config", project/"config.yaml", "--run-name", "lora-demo"])
    assert again.returncode == 1 and "exists and is not empty" in again.stderr  # never overwrites a merged model

def test_export_needs_a_run_name_and_a_lora_run(lora_run, tmp_path):
    project, _ = lora_run
    res = run([BIN/"sft-nb", "export", "--config", project/"config.yaml"])
    assert res.returncode == 2 and "needs --run-name" in res.stderr
    (project/"artifacts/training_config/full-x.yaml").write_text("finetuning_type: full\noutput_dir: /x\n")
    res = run([BIN/"sft-nb", "export", "--config", project/"config.yaml", "--run-name", "full-x"])
    assert res.returncode == 1 and "already a whole model" in res.stderr

def check_json(project, *sets, env=None):
    import os
    res = run([BIN/"sft-nb", "check", "--json", "--config", project/"config.yaml", *sum((["--set", s] for s in sets), [])],
              env={**os.environ, "CUDA_VISIBLE_DEVICES": "", **(env or {})})
    return res.returncode, json.loads(res.stdout)

def test_qlora_on_a_cpu_is_a_check_error_naming_the_key(project):
    rc, out = check_json(project, "training.finetuning_type=lora", "training.quantization_bit=4", "training.learning_rate=2.0e-4")
    assert rc == 2
    assert [e["key"] for e in out["errors"]] == ["runtime_info.input.training.quantization_bit"]
    assert "needs a CUDA GPU" in out["errors"][0]["what"]
    rc, out = check_json(project, "training.finetuning_type=lora", "training.learning_rate=2.0e-4")
    assert rc == 0 and out["plan"]["train_args"]["lora_rank"] == 16 and out["plan"]["method"] == "lora"
