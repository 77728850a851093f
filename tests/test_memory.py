"""Memory estimate against independent references: transformers' own models (parameter counts, built on the meta device),
published parameter counts, DeepSpeed's own ZeRO estimators (model states) and peft (LoRA adapter size)."""
import contextlib, io, json, re, subprocess, sys
from pathlib import Path
import pytest
from sft_nb.model.shape import count_params, model_shape
from sft_nb.preflight.memory import GB, Zero, estimate_memory, full_states, lora_params

QWEN2_7B = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_act="silu", hidden_size=3584, intermediate_size=18944,
                max_position_embeddings=131072, num_attention_heads=28, num_hidden_layers=28, num_key_value_heads=4,
                rms_norm_eps=1e-06, rope_theta=1000000.0, tie_word_embeddings=False, torch_dtype="bfloat16", vocab_size=152064)
LLAMA3_8B = dict(architectures=["LlamaForCausalLM"], model_type="llama", attention_bias=False, hidden_act="silu", hidden_size=4096,
                 intermediate_size=14336, max_position_embeddings=8192, num_attention_heads=32, num_hidden_layers=32,
                 num_key_value_heads=8, rms_norm_eps=1e-05, rope_theta=500000.0, tie_word_embeddings=False, torch_dtype="bfloat16",
                 vocab_size=128256)
MIXTRAL_8X7B = dict(architectures=["MixtralForCausalLM"], model_type="mixtral", hidden_size=4096, intermediate_size=14336,
                    num_attention_heads=32, num_hidden_layers=32, num_key_value_heads=8, num_local_experts=8, num_experts_per_tok=2,
                    vocab_size=32000, tie_word_embeddings=False, max_position_embeddings=32768)
QWEN3_30B_A3B = dict(architectures=["Qwen3MoeForCausalLM"], model_type="qwen3_moe", hidden_size=2048, head_dim=128, intermediate_size=6144,
                     moe_intermediate_size=768, num_attention_heads=32, num_key_value_heads=4, num_hidden_layers=48, num_experts=128,
                     num_experts_per_tok=8, vocab_size=151936, tie_word_embeddings=False, decoder_sparse_step=1, mlp_only_layers=[],
                     max_position_embeddings=40960)
QWEN15_MOE_A27B = dict(architectures=["Qwen2MoeForCausalLM"], model_type="qwen2_moe", hidden_size=2048, intermediate_size=5632,
                       moe_intermediate_size=1408, shared_expert_intermediate_size=5632, num_experts=60, num_experts_per_tok=4,
                       num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=16, vocab_size=151936,
                       tie_word_embeddings=False, decoder_sparse_step=1, max_position_embeddings=8192)
# name -> (config.json, published total parameters, published active parameters)
SHAPES = {"Qwen2-7B": (QWEN2_7B, 7.62e9, None), "Llama-3-8B": (LLAMA3_8B, 8.03e9, None),
          "Mixtral-8x7B": (MIXTRAL_8X7B, 46.7e9, 12.9e9),
          "Qwen1.5-MoE-A2.7B": (QWEN15_MOE_A27B, 14.3e9, 2.7e9), "Qwen3-30B-A3B": (QWEN3_30B_A3B, 30.5e9, 3.3e9)}
BUILT = [n for n in SHAPES if n != "Qwen3-30B-A3B"]  # 18k expert modules take 25 s to build even on the meta device

# Counts the real models' parameters on the meta device (no memory), the largest module as DeepSpeed counts it, and peft's LoRA size.
REFERENCE = r"""
import json, sys, torch, transformers, peft
from transformers.modeling_utils import no_init_weights
out = {}
for path in sys.argv[1:]:
    conf = transformers.AutoConfig.for_model(**json.loads(open(path).read()))
    with torch.device("meta"), no_init_weights(): m = transformers.AutoModelForCausalLM.from_config(conf)
    total = sum(p.numel() for p in m.parameters())
    largest = max(sum(p.numel() for p in mod.parameters(recurse=False)) for mod in m.modules())
    lora = None
    if conf.model_type in ("qwen2", "llama"):
        pm = peft.get_peft_model(m, peft.LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
        lora = sum(p.numel() for p in pm.parameters() if p.requires_grad)
    out[path] = {"total": total, "largest": largest, "lora16": lora}
print(json.dumps(out))
"""

@pytest.fixture(scope="module")
def written(tmp_path_factory):
    "Each shape written as a model folder's config.json, as a real checkpoint has it."
    d = tmp_path_factory.mktemp("shapes")
    for name, (c, *_) in SHAPES.items():
        (d/name).mkdir(); (d/name/"config.json").write_text(json.dumps(c))
    return d

@pytest.fixture(scope="module")
def reference(written):
    "transformers' and peft's own counts for every shape (in a subprocess: torch stays out of this one)."
    paths = [str(written/n/"config.json") for n in BUILT]
    res = subprocess.run([sys.executable, "-c", REFERENCE, *paths], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    return {n: got[str(written/n/"config.json")] for n in BUILT}

@pytest.mark.parametrize("name", list(SHAPES))
def test_parameter_count_from_config_json_matches_transformers_and_published(name, written, reference):
    counts = count_params(model_shape(json.loads((written/name/"config.json").read_text())))
    _, published, active = SHAPES[name]
    if name in reference: assert counts["total"] == reference[name]["total"]
    assert abs(counts["total"] - published)/published < 0.01
    if active: assert abs(counts["active"] - active)/active < 0.02  # published to two digits (3.3B for 3.35B)
    if name in reference: assert counts["largest_module"] == reference[name]["largest"]

@pytest.mark.parametrize("name", ["Qwen2-7B", "Llama-3-8B"])
def test_lora_all_linear_size_matches_peft(name, reference):
    assert lora_params(model_shape(SHAPES[name][0]), 16) == reference[name]["lora16"]

def deepspeed_table(fn, *args, **kw)->dict:
    "DeepSpeed's printed estimate as {(offload_param, offload_optimizer): per-GPU GB} (zero_init=1 rows only)."
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): fn(*args, **kw)
    rows = {}
    for cpu, gpu, opts in re.findall(r"([\d.]+)GB \|\s+([\d.]+)GB \| (.*)", buf.getvalue()):
        if "zero_init=0" in opts: continue
        off = dict(re.findall(r"(offload_\w+)=(\S+?),?(?:\s|$)", opts))
        rows[("cpu" in off.get("offload_param", "none"), "cpu" in off["offload_optimizer"])] = float(gpu)
    return rows

@pytest.mark.parametrize("name", ["Qwen2-7B", "Llama-3-8B"])
@pytest.mark.parametrize("gpus,nodes", [(1, 1), (8, 1), (8, 2)])
def test_full_model_states_match_deepspeed_estimators(name, gpus, nodes, reference):
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs_all_cold
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs_all_cold
    P, largest = reference[name]["total"], reference[name]["largest"]
    counts = count_params(model_shape(SHAPES[name][0]))
    world = gpus*nodes
    z3 = deepspeed_table(estimate_zero3_model_states_mem_needs_all_cold, P, largest, num_gpus_per_node=gpus, num_nodes=nodes)
    z2 = deepspeed_table(estimate_zero2_model_states_mem_needs_all_cold, P, num_gpus_per_node=gpus, num_nodes=nodes)
    assert len(z3) == 3 and len(z2) == 2
    ours = lambda z: full_states(counts["total"], counts["largest_module"], world, z)/GB
    for (param, opt), ds in z3.items():
        assert ours(Zero(3, opt, param, True)) == pytest.approx(ds, rel=0.10), (param, opt)
    for (_, opt), ds in z2.items():
        assert ours(Zero(2, opt, False, True)) == pytest.approx(ds, rel=0.10), opt

@pytest.mark.parametrize("name", ["Qwen2-7B", "Llama-3-8B"])
def test_lora_and_qlora_of_7b_models_land_in_the_usual_ranges(name):
    "Weights and adapter states: LoRA ~16 GB (bf16 weights), QLoRA ~6 GB (4-bit) for 7-8B models on one GPU."
    m = estimate_memory(SHAPES[name][0], {"finetuning_type": "lora", "lora_rank": 16, "bf16": True, "cutoff_len": 2048}, None)
    assert 14 <= m["lora"]["model_states_gb"] <= 18
    assert 5 <= m["qlora"]["model_states_gb"] <= 8
    assert m["full"]["model_states_gb"] > 110 and not m["full"]["fits"] and m["lora"]["fits"]

def test_advice_for_a_7b_full_run_on_one_80gb_gpu_is_lora_and_on_eight_is_zero():
    args = {"finetuning_type": "full", "cutoff_len": 4096, "per_device_train_batch_size": 2, "bf16": True}
    assert estimate_memory(QWEN2_7B, args, None, world=1)["set"] == ["training.finetuning_type=lora"]
    assert estimate_memory(QWEN2_7B, args, None, world=8)["set"] == ["training.deepspeed=ds_z2_config.json"]
    # 70B-class on 24 GB GPUs: QLoRA sharded by ZeRO-3 on eight; on one, CPU offload is the last resort, with the smallest method
    big = {**LLAMA3_8B, "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80, "num_attention_heads": 64}
    m = estimate_memory(big, args, None, world=8, gpu_gb=24)
    assert m["params_b"] == pytest.approx(70.6, abs=0.1)
    assert {"training.quantization_bit=4", "training.deepspeed=ds_z3_config.json"} <= set(m["set"]), m["advice"]
    one = estimate_memory(big, args, None, world=1, gpu_gb=24)["set"]
    assert "training.deepspeed=ds_z3_offload_config.json" in one and "training.quantization_bit=4" in one

def test_check_json_reports_memory_and_advice_for_a_7b_model(project, written):
    "`sft-nb check --json` on a Qwen2-7B folder (config.json only): the estimate, the seed-table advice and the --set lines."
    import os
    from conftest import BIN, run
    sets = [f"model.model_name_or_path={written/'Qwen2-7B'}", "infrastructure.n_gpus_per_node=8", "training.cutoff_len=4096",
            "training.bf16=true", "training.learning_rate=1.0e-3"]
    res = run([BIN/"sft-nb", "check", "--json", "--config", project/"config.yaml", *sum((["--set", s] for s in sets), [])],
              env={**os.environ, "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"})
    out = json.loads(res.stdout)
    m = out["memory"]
    assert m["params_b"] == pytest.approx(7.616, abs=0.001) and m["world"] == 8 and m["gpu_memory_gb"] == 80
    assert not m["full"]["fits"] and m["set"] == ["training.deepspeed=ds_z2_config.json"]
    assert "7-8B: LoRA; full fine-tuning needs several GPUs" in m["advice"]
    warned = {w["key"].removeprefix("runtime_info.input."): w for w in out["warnings"]}
    assert warned["training"]["fix"] == "--set training.deepspeed=ds_z2_config.json"
    assert "20x the top of the usual range for full" in warned["training.learning_rate"]["what"]
