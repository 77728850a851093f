"""Every supported model family, end to end with the publisher's real chat template: the demo job converted, registered and
tokenized by LLaMA-Factory's own get_dataset trains exactly the tokens transformers' apply_chat_template gives the served
call, with labels on exactly the model's output; per_call samples; two families trained for 2 steps with the base model's
chat template carried into the output dir byte for byte."""
import json
from datetime import datetime
import pytest
from conftest import BIN, run
from family_models import FAMILY_MODELS, build_family_model, corpus
from sft_nb.config.schema import load_config
from sft_nb.data.convert import convert
from sft_nb.render.families import parse_tool_calls
from sft_nb.data.register import register
from sft_nb.render.template import ChatRenderer, render_call

TRAINED = ("llama3_1", "gpt_oss")        # two families trained for 2 steps
TODAY = datetime.now().strftime("%Y-%m-%d")  # transformers' strftime_now gives today: pin sft_nb's render date to it


@pytest.fixture(scope="session")
def family_models(project, tmp_path_factory):
    "One tiny model folder per family, built once (weights only for the families that train)."
    root, texts = tmp_path_factory.mktemp("families"), corpus(project / "artifacts/demo/job")
    return {n: build_family_model(n, root / n, texts, weights=n in TRAINED) for n in FAMILY_MODELS}


def family_cfg(project, name, model, *extra):
    return load_config(project / "config.yaml", [f"model.model_name_or_path={model}", f"conversion.data_name=fam_{name}",
                                                 f"conversion.render_date={TODAY}", "training.cutoff_len=32768", *extra], run_name=f"fam-{name}")


def lf_dataset(cfg):
    "The train dataset exactly as LLaMA-Factory's get_dataset gives it to the trainer."
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer
    from sft_nb.config.lfargs import train_args
    register(cfg, quiet=True)
    model_args, data_args, training_args, _, _ = get_train_args({**train_args(cfg), "overwrite_output_dir": True})
    tm = load_tokenizer(model_args)
    return get_dataset(get_template_and_fix_tokenizer(tm["tokenizer"], data_args), model_args, data_args, training_args, "sft", **tm)["train_dataset"]


def expected_labels(tok, text, turns):
    "Labels that cover exactly the response segments: tokens of the whole text whose characters lie in a response segment."
    spans, pos = [], 0
    for t in turns:
        if t["role"] == "assistant": spans.append((pos, pos + len(t["content"])))
        pos += len(t["content"])
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    inside = lambda a, b: any(s <= a and b <= e for s, e in spans)
    return [i if inside(a, b) else -100 for i, (a, b) in zip(enc["input_ids"], enc["offset_mapping"])]


@pytest.mark.parametrize("name", list(FAMILY_MODELS))
def test_llamafactory_trains_the_served_call_token_for_token(project, family_models, name):
    from transformers import AutoTokenizer
    from sft_nb.render.encode import HFChat
    model = family_models[name]
    cfg = family_cfg(project, name, model)
    report = convert(cfg, quiet=True, force=True)
    assert not {k: v for k, v in report.rejected.items() if k in ("template_refused", "render_failed")}, report.table()
    assert report.kept == report.samples == 20, report.table()
    tok = AutoTokenizer.from_pretrained(model)
    hf = HFChat(tok)
    assert hf.family.name == ChatRenderer(model).family.name == FAMILY_MODELS[name]["family"]
    lf = json.loads(report.lf_path.read_text())
    im = [json.loads(l) for l in report.im_path.read_text().splitlines()]
    ds = lf_dataset(cfg)
    assert len(ds) == len(lf) == len(im) == 20
    for i, (sample, rec) in enumerate(zip(lf, im)):
        call = render_call(hf, rec["messages"], rec["tools"], rec["reasoning"])  # transformers' own apply_chat_template
        assert "".join(t["content"] for t in sample["messages"]) == call.text, f"sample {i}"
        assert ds[i]["input_ids"] == tok(call.text, add_special_tokens=False)["input_ids"], f"sample {i}: input_ids"
        assert ds[i]["labels"] == expected_labels(tok, call.text, sample["messages"]), f"sample {i}: labels"
        assert '"{\\"' not in call.text  # no double-encoded tool-call arguments
        last = sample["messages"][-1]["content"]
        assert last.endswith(hf.family.eot)
        want = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in rec["messages"][-1]["tool_calls"]]
        assert [(c["name"], c["arguments"]) for c in parse_tool_calls(hf.family, last)] == want


def test_per_call_trains_each_reasoning_reply_once_with_history_masked(project, family_models):
    from transformers import AutoTokenizer
    from sft_nb.render.encode import HFChat
    model = family_models["glm4_5"]
    cfg = family_cfg(project, "glm_per_call", model, "conversion.reasoning_turns=per_call")
    report = convert(cfg, quiet=True, force=True)
    im = [json.loads(l) for l in report.im_path.read_text().splitlines()]
    lf = json.loads(report.lf_path.read_text())
    last_call = convert(family_cfg(project, "glm4_5", model), quiet=True)
    full = [json.loads(l) for l in last_call.im_path.read_text().splitlines()]
    assert len(lf) == len(im) == sum(sum(m["role"] == "assistant" and bool(m.get("reasoning_content")) for m in r["messages"]) for r in full) > 20
    tok, ds = AutoTokenizer.from_pretrained(model), lf_dataset(cfg)
    hf = HFChat(tok)
    for i, (sample, rec) in enumerate(zip(lf, im)):
        text = render_call(hf, rec["messages"], rec["tools"], rec["reasoning"]).text
        assert ds[i]["input_ids"] == tok(text, add_special_tokens=False)["input_ids"], f"sample {i}"
        trained = [t for t in ds[i]["labels"] if t != -100]
        assert trained == tok(sample["messages"][-1]["content"], add_special_tokens=False)["input_ids"], f"sample {i}: only the call's own reply trains"


@pytest.mark.parametrize("name", TRAINED)
def test_two_steps_train_and_the_output_serves_with_the_base_template(project, family_models, name):
    model = family_models[name]
    over = [f"model.model_name_or_path={model}", f"conversion.data_name=fam_{name}", f"conversion.render_date={TODAY}",
            "training.max_steps=2", "training.save_steps=1", "training.cutoff_len=4096", f"training.output_dir=fam_{name}_run"]
    res = run([BIN / "sft-nb", "run", "--config", project / "config.yaml", *sum((["--set", o] for o in over), [])], cwd=project)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = project / "artifacts/model" / f"fam_{name}_run"
    for d in (out, out / "checkpoint-1", out / "checkpoint-2"):
        for f in ("tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
            assert (d / f).read_bytes() == (model / f).read_bytes(), f"{d.name}/{f}"
    assert ChatRenderer(out).family.name == FAMILY_MODELS[name]["family"]


def test_check_names_the_template_the_model_and_the_token_when_a_cut_splits_a_token(project):
    "Plain `check` (no torch): a response segment that starts inside a word of the prompt breaks token parity, and says where."
    from sft_nb.preflight.check import check_token_parity
    cfg = load_config(project / "config.yaml", ["conversion.data_name=fam_parity_break"], run_name="fam-parity")
    report = convert(cfg, quiet=True)
    assert check_token_parity(cfg) == []
    lf = json.loads(report.lf_path.read_text())
    p, r = lf[0]["messages"][0], lf[0]["messages"][1]
    assert p["content"].endswith("<|im_start|>assistant\n")
    p["content"], r["content"] = p["content"][:-6], p["content"][-6:] + r["content"]  # cut inside `assistant`
    report.lf_path.write_text("[\n" + "\n,".join(json.dumps(s) for s in lf) + "\n]\n")
    found = check_token_parity(cfg)
    assert [f.key for f in found] == ["runtime_info.input.training.template"]
    assert "sample 0 of fam_parity_break.json" in found[0].what and "model's chat template (chatml) at token" in found[0].what
