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
    from sft_nb.adapters import export_merged
    from sft_nb.config import load_config
    project, out = lora_run
    merged = export_merged(load_config(project/"config.yaml"), "lora-demo", quiet=True)
    assert merged == project/"artifacts/model/lora-demo-merged" and (merged/"model.safetensors").is_file()
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
    with pytest.raises(FileExistsError): export_merged(load_config(project/"config.yaml"), "lora-demo", quiet=True)
