"""The tokenize step (sft_nb.data.tokenized): the cached data is exactly what LLaMA-Factory's own preprocessing gives at launch,
and the cache is reused only while nothing that changes the tokens differs."""
import json
import pytest
from sft_nb.config.schema import load_config
from sft_nb.pipeline import run_pipeline
from sft_nb.train.launch import train_args
from sft_nb.data.tokenized import cache_key, ensure_tokenized


@pytest.fixture(scope="module")
def cfg(own_project):
    "The demo config, converted and registered (20 samples)."
    c = load_config(own_project / "config.yaml", ["training.cutoff_len=512"], run_name="tok")
    run_pipeline(c, ("convert", "register"), quiet=True)
    return c


def lf_own_preprocessing(args: dict) -> dict:
    "What `llamafactory-cli train` tokenizes at launch without a cache: split -> (input_ids, labels) per sample."
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    model_args, data_args, training_args, finetuning_args, _ = get_train_args({**args, "report_to": "none"})
    assert data_args.tokenized_path is None
    tok = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tok["tokenizer"], data_args)
    m = get_dataset(template, model_args, data_args, training_args, stage="sft", **tok)
    return {split: [(r["input_ids"], r["labels"]) for r in m[k]] for split, k in (("train", "train_dataset"), ("validation", "eval_dataset")) if m.get(k)}


def saved(path) -> dict:
    from datasets import load_from_disk
    return {split: [(r["input_ids"], r["labels"]) for r in ds] for split, ds in load_from_disk(str(path)).items()}


@pytest.mark.parametrize("extra", [[], ["training.val_size=0.25", "training.train_on_prompt=true"],
                                   ["training.packing=true", "training.preprocessing_num_workers=2"]], ids=["plain", "val_split", "packing"])
def test_cached_tokens_equal_llamafactory_own_preprocessing(cfg, extra):
    "Sample for sample, the cache built with 2 workers holds the input_ids/labels LLaMA-Factory computes itself at launch."
    c = load_config(cfg.path, ["training.cutoff_len=512", *extra], run_name="tok")
    args = train_args(c)
    dest = ensure_tokenized(c, args, workers=2, quiet=True)
    got, want = saved(dest), lf_own_preprocessing(args)
    assert set(got) == set(want) and all(len(v) for v in want.values())
    for split in want: assert got[split] == want[split], split
    stats = json.loads((dest.parent / f"{dest.name}.stats.json").read_text())["stats"]
    assert stats["train"]["sequences"] == len(want["train"])
    assert stats["train"]["tokens"] == sum(len(i) for i, _ in want["train"])
    assert stats["train"]["supervised_tokens"] == sum(sum(x != -100 for x in l) for _, l in want["train"])


def test_other_learning_rate_reuses_the_cache(cfg, capsys):
    first = ensure_tokenized(cfg, workers=2)
    other = load_config(cfg.path, ["training.cutoff_len=512", "training.learning_rate=3e-4", "training.num_train_epochs=5"], run_name="tok2")
    assert ensure_tokenized(other, workers=2) == first
    assert "reused" in capsys.readouterr().out.splitlines()[-1]


def test_token_changing_edits_miss_the_cache(cfg):
    "Another cutoff_len, one more sample, or an edited tokenizer each give another key."
    args = train_args(cfg)
    key = cache_key(args)
    assert cache_key({**args, "learning_rate": 1.0}) == key
    assert cache_key({**args, "cutoff_len": 256}) != key
    data = cfg.lf_data_dir / f"{cfg.data_name}.json"
    samples, raw = json.loads(data.read_text()), data.read_bytes()
    tok_cfg = __import__("pathlib").Path(args["model_name_or_path"]) / "tokenizer_config.json"
    tok_raw, stamps = tok_cfg.read_bytes(), {p: (p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in (data, tok_cfg)}
    try:
        data.write_text(json.dumps(samples + samples[:1]))
        assert cache_key(args) != key
        data.write_bytes(raw)
        assert cache_key(args) == key
        tok_cfg.write_text(json.dumps({**json.loads(tok_raw), "model_max_length": 12345}))
        assert cache_key(args) != key
    finally:  # put back bytes and times, so STEP 0's manifest and the stale-data check see the files they recorded
        data.write_bytes(raw); tok_cfg.write_bytes(tok_raw)
        for p, ns in stamps.items(): __import__("os").utime(p, ns=ns)
    assert cache_key(args) == key


def test_training_loads_the_tokenized_cache(cfg):
    "The pipeline's YAML sets tokenized_path, and LLaMA-Factory loads it instead of preprocessing."
    from sft_nb.config.schema import load_config
    c = load_config(cfg.path, ["training.cutoff_len=512", "training.max_steps=2", "training.save_steps=100"], run_name="tok-train")
    r = run_pipeline(c, ("convert", "register", "tokenize", "train", "results"), quiet=True)
    log = r.launch.log_path.read_text()
    assert f"Loaded tokenized dataset from {r.tokenized}" in log
    assert "Running tokenizer on dataset" not in log
    import yaml
    assert yaml.safe_load((c.artifacts / "training_config" / "tok-train.yaml").read_text())["tokenized_path"] == str(r.tokenized)
    m = r.output["measured"]  # what the archive keeps: real tokens/s and the MFU it implies
    assert m["real_tokens_per_s"] > 0 and 0 < m["implied_mfu"] < 1 and m["gpu_type"] == "H100"


def test_dataprep_tokenizes_unless_told_not_to(own_project):
    "`sft-nb dataprep` builds the cache; `--no-tokenize` only converts."
    from conftest import BIN, run
    from sft_nb.data.tokenized import tokenized_root
    base = [BIN / "sft-nb", "dataprep", "--config", own_project / "config.yaml", "--set", "training.cutoff_len=300"]
    c = load_config(own_project / "config.yaml", ["training.cutoff_len=300"], run_name="x")
    before = set(tokenized_root(c).glob("*.stats.json"))
    res = run([*base, "--no-tokenize"])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "STEP 1b" not in res.stdout and set(tokenized_root(c).glob("*.stats.json")) == before
    res = run(base)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "STEP 1b tokenize built" in res.stdout and len(set(tokenized_root(c).glob("*.stats.json")) - before) == 1
    res = run([BIN / "sft-nb", "check", "--config", own_project / "config.yaml", "--set", "training.cutoff_len=300",
               "--set", "infrastructure.gpu_type=H200", "--set", "infrastructure.n_gpus_per_node=8"])
    est = next(l for l in res.stdout.splitlines() if l.startswith("estimate"))
    assert "GPU-hours" in est and "(tokenized)" in est and "8 x H200 at 989 TFLOP/s" in est, est
    assert any(l.startswith("batching       packing auto: random batches are") for l in res.stdout.splitlines()), res.stdout
