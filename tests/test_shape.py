"""The one parameter counter (`sft_nb.model.shape`) against real references: real published `config.json` files
(tests/fixtures/model_configs, sources in SOURCES.md) and their published parameter counts, and `sum(p.numel())` of the
models transformers itself builds from those configs and from tiny dense and mixture-of-experts configs."""
import json, subprocess, sys
from pathlib import Path
import pytest
from sft_nb.model.shape import count_params, model_shape

FIXTURES = Path(__file__).parent / "fixtures" / "model_configs"
# file -> (published total, published active, whether the published active count leaves out the input embedding)
# Mixtral: mistral.ai's "46.7B total, 12.9B active"; gpt-oss-20b: OpenAI's model card "20.91B total, 3.61B active",
# where the active count leaves the embedding table out (a lookup does no FLOPs; the unembedding is counted).
PUBLISHED = {"mistralai--Mixtral-8x7B-v0.1": (46.7e9, 12.9e9, False), "openai--gpt-oss-20b": (20.91e9, 3.61e9, True)}
# Published figures are rounded to three significant digits (46.7B, 12.9B, 3.61B): half a unit of the last digit is
# at most 0.4% of the figure; 1% leaves room for that and nothing a wrong layer count or a missing expert could hide in
# (one Mixtral layer is 3% of its total, one gpt-oss expert group 3.8% of its active count).
TOLERANCE = 0.01

# Tiny configs of every family the counter knows: dense (Llama, Qwen2 tied, Qwen3 with q/k norms) and mixture-of-experts
# (Qwen2-MoE with shared expert, sparse step and an MLP-only layer; Qwen3-MoE; Mixtral; DeepSeek-V2 MLA without q
# compression and a dense first layer; DeepSeek-V3 with q compression; gpt-oss with biases, sinks and fused experts).
BASE = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=64)
MLA = dict(num_key_value_heads=4, moe_intermediate_size=16, n_routed_experts=6, num_experts_per_tok=2, first_k_dense_replace=1,
           kv_lora_rank=12, qk_rope_head_dim=4, qk_nope_head_dim=8, v_head_dim=8)
TINY = {
    "llama": dict(BASE, model_type="llama"),
    "qwen2": dict(BASE, model_type="qwen2", tie_word_embeddings=True),
    "qwen3": dict(BASE, model_type="qwen3", head_dim=16),
    "qwen2_moe": dict(BASE, model_type="qwen2_moe", moe_intermediate_size=16, shared_expert_intermediate_size=40, num_experts=6,
                      num_experts_per_tok=2, decoder_sparse_step=2, mlp_only_layers=[2]),
    "qwen3_moe": dict(BASE, model_type="qwen3_moe", head_dim=8, moe_intermediate_size=16, num_experts=6, num_experts_per_tok=2,
                      mlp_only_layers=[0]),
    "mixtral": dict(BASE, model_type="mixtral", num_local_experts=4, num_experts_per_tok=2),
    "deepseek_v2": dict(BASE, model_type="deepseek_v2", **MLA, n_shared_experts=2, moe_layer_freq=1, q_lora_rank=None),
    "deepseek_v3": dict(BASE, model_type="deepseek_v3", **MLA, n_shared_experts=1, q_lora_rank=10, n_group=1, topk_group=1),
    "gpt_oss": dict(BASE, model_type="gpt_oss", head_dim=8, num_local_experts=4, num_experts_per_tok=2, attention_bias=True,
                    layer_types=["sliding_attention", "full_attention", "sliding_attention"], sliding_window=8),
}

# Builds each config with transformers (real weights on the CPU for the tiny ones, the meta device for the real sizes)
# and counts its parameters and its largest single module.
BUILD = r"""
import contextlib, json, sys, torch, transformers
from transformers.modeling_utils import no_init_weights
out = {}
for name, c in json.loads(sys.stdin.read()).items():
    conf = transformers.AutoConfig.for_model(**{k: v for k, v in c.items() if k != "quantization_config"})
    big = c["hidden_size"] > 1000
    with (torch.device("meta") if big else contextlib.nullcontext()), (no_init_weights() if big else contextlib.nullcontext()):
        m = transformers.AutoModelForCausalLM.from_config(conf)
    out[name] = {"total": sum(p.numel() for p in m.parameters()),
                 "largest": max(sum(p.numel() for p in mod.parameters(recurse=False)) for mod in m.modules())}
print(json.dumps(out))
"""


def real(name: str) -> dict:
    "A fixture config.json, as a dict."
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def built():
    "transformers' own counts for every tiny config and every real fixture (in a subprocess: torch stays out of this one)."
    configs = {**TINY, **{n: real(n) for n in PUBLISHED}}
    res = subprocess.run([sys.executable, "-c", BUILD], input=json.dumps(configs), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", list(TINY))
def test_count_equals_what_transformers_builds(name, built):
    p = count_params(model_shape(TINY[name]))
    assert (p["total"], p["largest_module"]) == (built[name]["total"], built[name]["largest"])


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_real_config_json_counts_match_transformers_and_published(name, built):
    s = model_shape(real(name)); p = count_params(s)
    assert (p["total"], p["largest_module"]) == (built[name]["total"], built[name]["largest"])
    total, active, without_embedding = PUBLISHED[name]
    assert abs(p["total"] - total) / total < TOLERANCE, p["total"]
    ours = p["active"] - s.vocab * s.hidden * without_embedding
    assert abs(ours - active) / active < TOLERANCE, ours


def test_dense_first_layers_and_sparse_steps_change_the_count():
    "Layers without experts hold a dense MLP: the count moves by exactly the difference (what estimate used to miss)."
    c = TINY["deepseek_v2"]
    dense_first, all_moe = count_params(model_shape(c)), count_params(model_shape({**c, "first_k_dense_replace": 0}))
    h, e, mi, i = c["hidden_size"], c["n_routed_experts"], c["moe_intermediate_size"], c["intermediate_size"]
    moe_mlp = e * 3 * h * mi + h * e + 3 * h * mi * c["n_shared_experts"]
    assert all_moe["total"] - dense_first["total"] == moe_mlp - 3 * h * i
    assert all_moe["active"] - dense_first["active"] == moe_mlp - (e - 2) * 3 * h * mi - 3 * h * i


def test_fixtures_are_the_files_sources_md_names():
    sources = (FIXTURES / "SOURCES.md").read_text()
    for f in FIXTURES.glob("*.json"):
        assert f.name in sources, f"{f.name} has no source in SOURCES.md"
        org, name = f.stem.split("--")
        assert json.loads(f.read_text())["model_type"] and f"{org}/{name}" in sources
