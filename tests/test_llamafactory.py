"""What LLaMA-Factory itself says about sft_nb's outputs: the generated arguments parse, the rendered samples encode
to exactly the tokens the model's own chat template gives, and registration is idempotent."""
import json, os, socket
import pytest
from conftest import BIN, run
from sft_nb.config.schema import load_config, ConfigError
from sft_nb.data.convert import convert
from sft_nb.data.register import register
from sft_nb.config.lfargs import train_args

VARIANTS = {
    "demo": [],
    "zero3": ["training.deepspeed=ds_z3_config.json", "infrastructure.n_gpus_per_node=2"],
    "lora": ["training.finetuning_type=lora", "training.lora_rank=8", "training.lora_target=all"],
    "packing": ["training.packing=true", "training.neat_packing=true"],
    "schedule": ["training.max_steps=7", "training.lr_scheduler_type=linear", "training.warmup_ratio=0.2", "training.save_only_model=true"],
}


PARSE = """
import json, sys
from llamafactory.hparams import get_train_args
model_args, data_args, training_args, finetuning_args, _ = get_train_args(json.loads(sys.argv[1]))
print(json.dumps({"learning_rate": training_args.learning_rate, "template": data_args.template, "cutoff_len": data_args.cutoff_len,
                  "finetuning_type": finetuning_args.finetuning_type, "deepspeed": bool(training_args.deepspeed)}))
"""


@pytest.mark.parametrize("name", VARIANTS)
def test_generated_args_pass_llamafactory_parser(project, name):
    "Every generated key is accepted by LLaMA-Factory's own parser (no model is loaded)."
    cfg = load_config(project / "config.yaml", VARIANTS[name], run_name=f"parse-{name}")
    args = train_args(cfg)
    # LLaMA-Factory accepts DeepSpeed only inside a distributed launch: give the parser a one-process torch.distributed env.
    env = {**os.environ, "LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port())} if "deepspeed" in args else None
    res = run([BIN / "python", "-c", PARSE, json.dumps(args)], env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    parsed = json.loads(res.stdout.strip().splitlines()[-1])
    cutoff = 2048 - bool(args.get("packing"))  # LLaMA-Factory keeps one token of each packed block free (packing: auto resolved)
    assert parsed == {"learning_rate": cfg.training["learning_rate"], "template": "empty", "cutoff_len": cutoff,
                      "finetuning_type": cfg.training["finetuning_type"], "deepspeed": "deepspeed" in args}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def test_unknown_training_key_is_refused_by_parser(project):
    from llamafactory.hparams import get_train_args
    cfg = load_config(project / "config.yaml", ["training.learning_rat=1e-4"], run_name="parse-bad")
    with pytest.raises(ValueError, match="learning_rat"):
        get_train_args(train_args(cfg))


def test_lf_template_encodes_exactly_the_model_chat_template(project):
    "LLaMA-Factory's `empty` encoding of every converted sample == transformers' apply_chat_template tokens of the served call."
    from transformers import AutoTokenizer
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from sft_nb.render.encode import HFChat
    from sft_nb.render.template import render_call
    cfg = load_config(project / "config.yaml", ["conversion.data_name=parity"], run_name="parity")
    report = convert(cfg, quiet=True)
    tok = AutoTokenizer.from_pretrained(project / "artifacts/demo/model")
    template = get_template_and_fix_tokenizer(tok, DataArguments(template="empty"))
    lf = json.loads(report.lf_path.read_text())
    im = [json.loads(l) for l in report.im_path.read_text().splitlines()]
    assert len(lf) == len(im) == 20
    for sample, rec in zip(lf, im):
        msgs = sample["messages"]
        pairs = template.encode_multiturn(tok, msgs, None, None)
        lf_ids = [i for p, r in pairs for i in p + r]
        hf_text = render_call(HFChat(tok), rec["messages"], rec["tools"], rec["reasoning"]).text
        assert tok.decode(lf_ids) == hf_text
        assert lf_ids == tok(hf_text, add_special_tokens=False)["input_ids"]
        trained = [r for _, r in pairs]
        assert len(trained) == sum(m["role"] == "assistant" for m in rec["messages"])


def test_registration_is_idempotent(project):
    cfg = load_config(project / "config.yaml", ["conversion.data_name=reg", "dataset.name=reg_key"], run_name="reg")
    convert(cfg, quiet=True)
    info = register(cfg, quiet=True)
    first, mtime = info.read_bytes(), info.stat().st_mtime_ns
    register(cfg, quiet=True)
    assert info.read_bytes() == first and info.stat().st_mtime_ns == mtime
    entry = json.loads(first)["reg_key"]
    assert entry == {"file_name": "reg.json", "formatting": "sharegpt", "columns": {"messages": "messages"},
                     "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                              "assistant_tag": "assistant", "system_tag": "system"}}


def test_missing_data_name_names_the_key(tmp_path):
    (tmp_path / "config.yaml").write_text("runtime_info:\n  input:\n    source: {type: harbor_job, job_dir: demo}\n")
    with pytest.raises(ConfigError, match=r"runtime_info\.input\.conversion\.data_name: missing"):
        load_config(tmp_path / "config.yaml")
