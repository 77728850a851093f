"""STEP 0 on hand-written Harbor jobs of every scaffold (tests/fixtures): what each reader keeps, drops and tags, and
that LLaMA-Factory's own dataset loading takes every converted sample (zero dropped)."""
import json, shutil
from pathlib import Path
import pytest
from sft_nb.config.schema import load_config
from sft_nb.data.convert import convert
from sft_nb.data.register import register
from sft_nb.config.lfargs import train_args

FIXTURES = Path(__file__).parent / "fixtures"


def _convert(project, tmp_path, job, scaffold, **extra):
    "Convert a fixture job (copied, so mtimes are the test's own) and return the report and IM records."
    shutil.copytree(FIXTURES / job, tmp_path / job)
    sets = [f"source.job_dir={tmp_path / job / 'job'}", f"source.scaffold={scaffold}", f"conversion.data_name=fx_{job}_{scaffold}"]
    sets += [f"{k}={v}" for k, v in extra.items()]
    cfg = load_config(project / "config.yaml", sets, run_name=f"fx-{job}")
    rep = convert(cfg, quiet=True, force=True)
    im = [json.loads(l) for l in rep.im_path.read_text().splitlines()]
    rejects = [json.loads(l) for l in rep.rejects_path.read_text().splitlines()]
    return cfg, rep, im, rejects


def test_claude_code_dedups_tags_subagents_and_drops_failed_edits(project, tmp_path):
    cfg, rep, im, rejects = _convert(project, tmp_path, "claude_code", "claude-code")
    assert (rep.seen, rep.kept, rep.rejected) == (3, 2, {"no_reward": 1})
    by_id = {}
    for r in im: by_id.setdefault(r["instance_id"], []).append(r)
    main, sub = sorted(by_id["psf__requests-2317"], key=lambda r: r["agent_type"])
    assert (main["agent_type"], sub["agent_type"]) == ("main", "subagent")
    # the last call of each conversation survives: line 8 is a prefix of its exact duplicate on line 9, line 2 of line 3
    assert main["source"]["line"] == 9 and sub["source"]["line"] == 3
    assert main["task_metadata"] == {"difficulty": "easy", "category": "bugfix", "tags": ["http"]}
    roles = [m["role"] for m in main["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "tool", "assistant"]
    edits = [tc["function"]["arguments"] for m in main["messages"] for tc in m.get("tool_calls", []) if tc["function"]["name"] == "Edit"]
    assert edits == ['{"file_path": "/testbed/requests/sessions.py", "old_string": "method = builtin_str(method)", '
                     '"new_string": "method = to_native_string(method)"}'], "the failed Edit is gone; arguments in schema order"
    assert main["messages"][2]["reasoning_content"] == "Start by finding where method is converted."
    assert main["messages"][-1]["content"].startswith("Fixed:") and main["reasoning"] == "slow"
    assert by_id["pallets__flask-4045"][0]["reward"] == 0.0


def test_claude_code_status_filter(project, tmp_path):
    _, rep, im, _ = _convert(project, tmp_path, "claude_code", "claude-code", **{"conversion.instance_status": "resolved"})
    assert rep.rejected == {"no_reward": 1, "status_filtered": 1} and {r["instance_id"] for r in im} == {"psf__requests-2317"}


def test_open_code_drops_title_calls_and_invalid_arguments(project, tmp_path):
    cfg, rep, im, rejects = _convert(project, tmp_path, "open_code", "open-code")
    assert (rep.seen, rep.kept, rep.rejected) == (2, 1, {"no_conversation": 1})
    (conv,) = im
    names = [tc["function"]["name"] for m in conv["messages"] for tc in m.get("tool_calls", [])]
    assert names == ["grep", "edit"] and conv["messages"][0]["content"].startswith("You are opencode")
    assert not any("title generator" in m["content"] for m in conv["messages"])
    assert rejects[0]["instance_id"] == "sympy__sympy-20590" and rejects[0]["reason"] == "no_conversation"


def test_terminus2_alternates_and_writes_json_replies(project, tmp_path):
    cfg, rep, im, _ = _convert(project, tmp_path, "terminus2", "terminus2")
    assert (rep.seen, rep.kept) == (2, 2)
    hello = next(r for r in im if r["instance_id"] == "hello-world")
    assert [m["role"] for m in hello["messages"]] == ["user", "assistant", "user", "assistant"] and hello["tools"] == []
    last = json.loads(hello["messages"][-1]["content"])
    assert last["task_complete"] is True and last["commands"] == [{"keystrokes": "cat hello.txt\n", "duration": 0.1}]
    assert hello["messages"][1]["reasoning_content"] == "Simple file creation."
    assert hello["task_metadata"]["category"] == "file-operations"


def test_generic_atif(project, tmp_path):
    cfg, rep, im, _ = _convert(project, tmp_path, "atif", "atif")
    (conv,) = im
    assert [m["role"] for m in conv["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert conv["messages"][2]["tool_calls"][0]["function"] == {"name": "bash", "arguments": '{"command": "wc -l data.csv"}'}


def test_auto_detects_every_scaffold_in_a_mixed_job(project, tmp_path):
    cfg, rep, im, rejects = _convert(project, tmp_path, "mixed", "auto")
    assert rep.scaffolds == {"claude-code": 2, "open-code": 1, "terminus2": 2, "atif": 1, "openhands-sdk": 1}
    assert rep.seen == 9 and rep.rejected == {"no_reward": 1, "no_conversation": 1}
    sphinx = next(r for r in im if r["instance_id"] == "sphinx-doc__sphinx-8435")
    assert sphinx["messages"][-1]["tool_calls"][0]["function"]["name"] == "finish", "truncated last line and trailing failure skipped"
    text = rep.lf_path.with_suffix(".stats.json").read_text()
    assert json.loads(text)["count"] == rep.samples == len(im)


def test_llamafactory_loads_every_converted_sample(project, tmp_path):
    "Each scaffold's LF output goes through LLaMA-Factory's dataset loading and template encoding with zero samples dropped."
    from transformers import AutoTokenizer
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    cfg, rep, im, _ = _convert(project, tmp_path, "mixed", "auto", **{"training.output_dir": str(tmp_path / "out")})
    register(cfg, quiet=True)
    model_args, data_args, training_args, _, _ = get_train_args({**train_args(cfg), "overwrite_output_dir": True})
    tok = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    template = get_template_and_fix_tokenizer(tok, data_args)
    module = get_dataset(template, model_args, data_args, training_args, stage="sft", tokenizer=tok)
    assert len(module["train_dataset"]) == rep.samples == 8
    trained = [sum(l != -100 for l in ex["labels"]) for ex in module["train_dataset"]]
    assert all(n > 0 for n in trained)
