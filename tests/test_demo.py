"The offline demo: deterministic, and its chat template renders the same in transformers and in sft_nb's renderer."
import json
from sft_nb.model.demo import build_demo_job, CHAT_TEMPLATE
from sft_nb.render.template import ChatRenderer


def _tree(d):
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_demo_job_is_deterministic(tmp_path):
    a, b = build_demo_job(tmp_path / "a" / "job"), build_demo_job(tmp_path / "b" / "job")
    assert _tree(a) == _tree(b)


def test_demo_model_is_qwen2_with_chatml_tokens(project):
    m = project / "artifacts/demo/model"
    cfg = json.loads((m / "config.json").read_text())
    assert cfg["architectures"] == ["Qwen2ForCausalLM"] and cfg["model_type"] == "qwen2"
    vocab = json.loads((m / "tokenizer.json").read_text())
    added = {t["content"] for t in vocab["added_tokens"]}
    assert {"<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "</tool_call>",
            "<tool_response>", "</tool_response>"} <= added
    assert (m / "chat_template.jinja").read_text() == CHAT_TEMPLATE


def test_renderer_matches_transformers_apply_chat_template(project):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(project / "artifacts/demo/model")
    r = ChatRenderer(project / "artifacts/demo/model")
    logs = sorted((project / "artifacts/demo/job").glob("*/agent/litellm-trajectory.jsonl"))
    assert len(logs) >= 20
    for log in logs:
        rec = [json.loads(l) for l in log.read_text().splitlines() if json.loads(l).get("success")][-1]
        msgs = rec["request_body"]["messages"] + [rec["response_body"]["choices"][0]["message"]]
        tools = rec["request_body"]["tools"]
        assert r.render(msgs, tools) == tok.apply_chat_template(msgs, tools=tools, tokenize=False)
        text = r.render(msgs, tools)
        assert r.count(text) == len(tok(text, add_special_tokens=False)["input_ids"])
