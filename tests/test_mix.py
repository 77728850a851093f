"Several sources: instruction files in every format (and auto), their defect codes, the mixed LLaMA-Factory YAML, LF's own loader on it, and a training run whose steps the plan predicted."
import json
import pytest
from ruamel.yaml import YAML
from conftest import copy_project
from sft_nb.config.schema import load_config
from sft_nb.data.convert import convert
from sft_nb.pipeline import run_step

ALPACA = [{"instruction": f"Add {i} and {i}.", "input": "", "output": f"{2 * i}"} for i in range(4)] + \
         [{"instruction": "Translate.", "input": "bonjour", "output": "hello", "system": "You translate.", "history": [["hi", "hello"]]}]
DOLLY = [{"instruction": f"Name a colour ({i}).", "context": "Colours of the rainbow." if i % 2 else "", "response": ["red", "blue", "green", "violet"][i],
          "category": "open_qa"} for i in range(4)]
OPENORCA = [{"id": f"orca.{i}", "system_prompt": "You are a helpful assistant." if i else "", "question": f"What is {i} squared?",
             "response": f"{i * i}"} for i in range(4)]
MESSAGES = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
SHAREGPT = [{"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}]
WEIGHTS = [2, 1, 1, 1]


def write_rows(path, rows):
    "Rows as a JSON array (.json), JSON lines (.jsonl) or parquet (.parquet)."
    if path.suffix == ".parquet":
        import pyarrow as pa, pyarrow.parquet as pq
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".jsonl": path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else: path.write_text(json.dumps(rows))
    return path


def lf_cfg(project, path, name, *sets):
    return load_config(project / "config.yaml", ["source.type=local_lf", f"source.lf_path={path}", f"conversion.data_name={name}", *sets], run_name=name)


def lf_messages(report):
    return [s["messages"] for s in json.loads(report.lf_path.read_text())]


def rendered(project, messages):
    "A row's conversation as STEP 0 must write it: rendered with the model's chat template and cut into trained segments."
    from sft_nb.model.demo import resolve_model_path
    from sft_nb.render.template import ChatRenderer, render_sample
    return render_sample(ChatRenderer(resolve_model_path(load_config(project / "config.yaml"))), messages, None, "fast").turns


@pytest.mark.parametrize("fmt, rows, suffix, first", [
    ("alpaca", ALPACA, ".json", [{"role": "user", "content": "Add 0 and 0."}, {"role": "assistant", "content": "0"}]),
    ("dolly", DOLLY, ".jsonl", [{"role": "user", "content": "Name a colour (0)."}, {"role": "assistant", "content": "red"}]),
    ("openorca", OPENORCA, ".parquet", [{"role": "user", "content": "What is 0 squared?"}, {"role": "assistant", "content": "0"}]),
    ("messages", MESSAGES, ".jsonl", MESSAGES[0]["messages"]),
    ("sharegpt", SHAREGPT, ".json", [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]),
])
def test_each_format_given_and_detected_becomes_rendered_conversations(project, tmp_path, fmt, rows, suffix, first):
    path = write_rows(tmp_path / f"{fmt}{suffix}", rows)
    for given in (fmt, "auto"):
        rep = convert(lf_cfg(project, path, f"fmt_{fmt}_{given}", f"source.format={given}"), quiet=True)
        assert (rep.seen, rep.kept, rep.rejected) == (len(rows), len(rows), {})
        assert rep.format.startswith(f"{fmt} (") and ("auto:" in rep.format) == (given == "auto")
        assert lf_messages(rep)[0] == rendered(project, first)


def test_alpaca_query_system_and_history_become_turns(project, tmp_path):
    rep = convert(lf_cfg(project, write_rows(tmp_path / "a.json", ALPACA), "alpaca_turns"), quiet=True)
    assert lf_messages(rep)[4] == rendered(project, [{"role": "system", "content": "You translate."}, {"role": "user", "content": "hi"},
                                                     {"role": "assistant", "content": "hello"}, {"role": "user", "content": "Translate.\nbonjour"},
                                                     {"role": "assistant", "content": "hello"}])


def test_columns_map_other_names(project, tmp_path):
    path = write_rows(tmp_path / "qa.jsonl", [{"ask": "Why?", "say": "Because.", "sys": "Be short."}])
    rep = convert(lf_cfg(project, path, "qa_cols", "source.columns={prompt: ask, response: say, system: sys}"), quiet=True)
    assert rep.format.startswith("columns (") and lf_messages(rep) == [rendered(project, [{"role": "system", "content": "Be short."},
                                                                                   {"role": "user", "content": "Why?"}, {"role": "assistant", "content": "Because."}])]


def test_each_defect_is_a_reject_with_code_file_and_row(project, tmp_path):
    good = {"instruction": "q", "output": "r"}
    lines = [json.dumps(good), "{not json", json.dumps(["a", "list"]), json.dumps({"input": "x", "output": "r"}),
             json.dumps({"instruction": "q", "output": "   "}), json.dumps({"instruction": "q", "output": 42}),
             json.dumps({"instruction": "q", "output": "r", "history": [["only a prompt"]]}), json.dumps(good)]
    path = tmp_path / "defects.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rep = convert(lf_cfg(project, path, "defects", "source.format=alpaca"), quiet=True)
    codes = {"unparseable_line": 2, "invalid_row": 3, "missing_field": 4, "blank_field": 5, "non_string_field": 6, "invalid_history": 7}
    assert rep.rejected == dict.fromkeys(codes, 1) and rep.kept == 2 and rep.kept + sum(rep.rejected.values()) == rep.seen == len(lines)
    rows = [json.loads(l) for l in rep.rejects_path.read_text().splitlines()]
    assert {r["reason"]: r["line"] for r in rows} == codes and {r["file"] for r in rows} == {str(path)}
    sharegpt = write_rows(tmp_path / "bad.json", SHAREGPT + [{"conversations": [{"from": "human", "value": "q"}]}])
    rep = convert(lf_cfg(project, sharegpt, "defects_sharegpt"), quiet=True)
    assert (rep.kept, rep.rejected) == (1, {"invalid_lf_sample": 1})


def test_auto_says_when_it_cannot_tell(project, tmp_path):
    with pytest.raises(ValueError, match=r"source.format: cannot tell the format from the columns \['ask', 'say'\]"):
        convert(lf_cfg(project, write_rows(tmp_path / "odd.json", [{"ask": "q", "say": "r"}]), "odd"), quiet=True)


@pytest.fixture(scope="module")
def mix(project, tmp_path_factory):
    "A project whose config mixes the demo job with small Alpaca (JSON), Dolly (JSONL, one broken line) and OpenOrca (parquet) files."
    d = copy_project(project, tmp_path_factory.mktemp("mix"))
    write_rows(d / "alpaca.json", ALPACA)
    (d / "dolly.jsonl").write_text("".join(json.dumps(r) + "\n" for r in DOLLY) + "{broken\n")
    write_rows(d / "orca.parquet", OPENORCA)
    y = YAML()
    doc = y.load((d / "config.yaml").read_text())
    inp = doc["runtime_info"]["input"]
    del inp["source"]
    inp["sources"] = [{"type": "harbor_job", "job_dir": "demo", "data_name": "demo_openhands", "weight": WEIGHTS[0]},
                      {"type": "local_lf", "lf_path": "alpaca.json", "data_name": "alpaca", "weight": WEIGHTS[1]},
                      {"type": "local_lf", "lf_path": "dolly.jsonl", "format": "dolly", "data_name": "dolly", "weight": WEIGHTS[2]},
                      {"type": "local_lf", "lf_path": "orca.parquet", "data_name": "orca", "weight": WEIGHTS[3]}]
    inp["mix"] = {"strategy": "interleave_under"}
    with open(d / "config.yaml", "w") as f: y.dump(doc, f)
    return d


SMALL = ["conversion.max_instances=3", "training.per_device_train_batch_size=1", "training.num_train_epochs=1", "training.save_steps=100",
         "training.warmup_ratio=0.0", "training.deepspeed=null", "training.cutoff_len=256"]


@pytest.fixture(scope="module")
def mixed(mix):
    "STEP 0-1 run on every source of the mix."
    cfg = load_config(mix / "config.yaml", SMALL, run_name="mix-run")
    r = run_step(cfg, "convert", quiet=True)
    run_step(cfg, "register", r, quiet=True)
    return cfg, r


def test_every_source_converts_to_its_own_file_and_key(mixed):
    cfg, r = mixed
    assert [rep.data_name for rep in r.reports] == ["demo_openhands", "alpaca", "dolly", "orca"]
    assert [(rep.kept, rep.rejected) for rep in r.reports[1:]] == [(5, {}), (4, {"unparseable_line": 1}), (4, {})]
    for rep in r.reports:
        assert rep.lf_path == cfg.lf_data_dir / f"{rep.data_name}.json" and (cfg.lf_data_dir / f"{rep.data_name}.manifest.json").is_file()
        assert (cfg.im_data_dir / f"{rep.data_name}.summary.json").is_file() and rep.rejects_path.is_file()
    info = json.loads((cfg.lf_data_dir / "dataset_info.json").read_text())
    assert all(info[k]["file_name"] == f"{k}.json" for k in cfg.dataset_keys)
    assert [info[k].get("num_samples") for k in cfg.dataset_keys] == [None, 3, 3, 3]  # max_instances: the trials kept, the rows LF draws


def test_mix_yaml_lists_keys_in_order_with_normalized_probs(mixed):
    from sft_nb.train.launch import write_train_yaml
    cfg, _ = mixed
    args = YAML(typ="safe").load(write_train_yaml(cfg).read_text())
    assert args["dataset"] == "demo_openhands,alpaca,dolly,orca" and args["mix_strategy"] == "interleave_under"
    probs = [float(p) for p in args["interleave_probs"].split(",")]
    assert probs == [w / sum(WEIGHTS) for w in WEIGHTS] and abs(sum(probs) - 1) < 1e-12
    concat = load_config(cfg.path, [*SMALL, "mix.strategy=concat"], run_name="mix-concat")
    assert "interleave_probs" not in YAML(typ="safe").load(write_train_yaml(concat).read_text())


def test_check_says_concat_ignores_weights(mixed):
    from sft_nb.preflight.check import run_checks
    cfg, _ = mixed
    concat = load_config(cfg.path, [*SMALL, "mix.strategy=concat"], run_name="mix-concat")
    found = [f for f in run_checks(concat, parity=False) if f.key == "runtime_info.input.mix.strategy"]
    assert len(found) == 1 and "ignores the weights of sources[0], sources[1], sources[2], sources[3]" in found[0].what
    assert not [f for f in run_checks(cfg, parity=False) if f.key == "runtime_info.input.mix.strategy"]


def test_plan_shows_each_source_and_its_share(mixed):
    from sft_nb.preflight.plan import plan, format_plan
    cfg, r = mixed
    p = plan(cfg)
    assert [s["kind"] for s in p["sources"]] == ["harbor_job", "local_lf (alpaca)", "local_lf (dolly)", "local_lf (openorca)"]
    assert [(s["kept"], s["rejected"]) for s in p["sources"]] == [(rep.kept, rep.seen - rep.kept) for rep in r.reports]
    assert [(s["kept"], s["rejected"]) for s in p["sources"]][1:] == [(5, 0), (4, 1), (4, 0)]
    assert all((s["tokens"] or s["chars"]) > 0 for s in p["sources"]) and [s["loads"] for s in p["sources"]] == [3, 3, 3, 3]
    assert sum(s["in_mix"] for s in p["sources"]) == p["samples"] == p["total_steps"] < 12  # first_exhausted stops before all 12 are drawn
    text = format_plan(p)
    assert "mix of 4 sources, interleave_under (seed 42)" in text and "local_lf (openorca)" in text


def lf_dataset(args):
    "LLaMA-Factory's own train dataset for these arguments (its parser, tokenizer, template and get_dataset)."
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    model_args, data_args, training_args, _, _ = get_train_args(args)
    tm = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tm["tokenizer"], data_args)
    return get_dataset(template, model_args, data_args, training_args, stage="sft", **tm)["train_dataset"]


def test_llamafactory_loads_the_mix_dropping_nothing(mixed):
    from sft_nb.config.lfargs import train_args
    from sft_nb.preflight.plan import plan
    cfg, _ = mixed
    ds = lf_dataset(train_args(cfg))
    assert len(ds) == plan(cfg)["samples"]  # the interleave draw the plan replays, and no sample dropped
    assert all(any(l != -100 for l in labels) for labels in ds["labels"])
    concat = load_config(cfg.path, [*SMALL, "mix.strategy=concat"], run_name="mix-concat")
    assert len(lf_dataset(train_args(concat))) == plan(concat)["samples"] == 3 * 4  # concat: every registered sample


def test_training_on_interleave_mix_runs_the_planned_steps(mixed):
    from sft_nb.preflight.plan import plan
    cfg, r = mixed
    planned = plan(cfg)["total_steps"]
    run_step(cfg, "train", r, quiet=True)
    assert r.launch.returncode == 0
    state = json.loads((cfg.output_dir / "trainer_state.json").read_text())
    assert state["max_steps"] == state["global_step"] == planned >= 2
