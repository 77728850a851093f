"Ready LLaMA-Factory data as a source: local files, Hub ids, one Hub file (offline error), save_to_disk folders, parquet."
import json
import pytest
from sft_nb.config.schema import load_config
from sft_nb.data.convert import convert
from sft_nb.data.register import register, read_dataset_info

SAMPLE = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
FROM_VALUE = {"conversations": [{"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]}


def _cfg(project, *sets, name="lf"):
    return load_config(project / "config.yaml", [f"conversion.data_name={name}", *sets], run_name=name)


def test_local_lf_max_instances_becomes_num_samples(project, tmp_path):
    src = tmp_path / "data.json"
    src.write_text(json.dumps([SAMPLE, FROM_VALUE, SAMPLE]))
    cfg = _cfg(project, "source.type=local_lf", f"source.lf_path={src}", "conversion.max_instances=2", name="lf_max")
    rep = convert(cfg, quiet=True)
    assert (rep.seen, rep.kept, rep.samples) == (3, 3, 3)
    # rendered by the model's own chat template and cut for LLaMA-Factory's `empty` template
    assert json.loads(rep.lf_path.read_text())[1]["messages"] == [{"role": "user", "content": "<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n"},
                                                                   {"role": "assistant", "content": "a2<|im_end|>"}]
    register(cfg, quiet=True)
    assert read_dataset_info(cfg.lf_data_dir / "dataset_info.json")["lf_max"]["num_samples"] == 2


def test_hub_id_is_registered_for_train_time_loading(project, capsys):
    cfg = _cfg(project, "source.type=hf_lf", "source.hf_hub_url=my-org/swe-trajectories", "source.hf_split=train", name="hub")
    rep = convert(cfg)
    assert rep.lf_path is None and "nothing to convert" in capsys.readouterr().out
    register(cfg, quiet=True)
    entry = read_dataset_info(cfg.lf_data_dir / "dataset_info.json")["hub"]
    assert entry["hf_hub_url"] == "my-org/swe-trajectories" and entry["split"] == "train" and entry["formatting"] == "sharegpt"


def test_hub_file_offline_is_a_clear_error(project, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _cfg(project, "source.type=hf_lf", "source.hf_hub_url=my-org/swe-trajectories", "source.hf_file_name=train.json", name="hubfile")
    with pytest.raises(ConnectionError, match="could not fetch train.json of Hub dataset my-org/swe-trajectories.*Offline"):
        convert(cfg, quiet=True)


def test_save_to_disk_folder(project, tmp_path):
    import datasets
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list([SAMPLE] * 3), "test": datasets.Dataset.from_list([SAMPLE])})
    dd.save_to_disk(str(tmp_path / "saved"))
    rep = convert(_cfg(project, "source.type=hf_lf", f"source.hf_hub_url={tmp_path / 'saved'}", name="saved"), quiet=True)
    assert (rep.seen, rep.samples) == (3, 3)


def test_parquet_folder_with_a_bad_row(project, tmp_path):
    import pyarrow as pa, pyarrow.parquet as pq
    (tmp_path / "pq").mkdir()
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "again"}]}
    pq.write_table(pa.Table.from_pylist([SAMPLE, bad, SAMPLE]), tmp_path / "pq" / "train-00000.parquet")
    rep = convert(_cfg(project, "source.type=hf_lf", f"source.hf_hub_url={tmp_path / 'pq'}", name="pq"), quiet=True)
    assert (rep.seen, rep.kept, rep.rejected) == (3, 2, {"invalid_lf_sample": 1})
    (row,) = [json.loads(l) for l in rep.rejects_path.read_text().splitlines()]
    assert row["index"] == 1 and "alternate" in row["detail"]


def test_a_defect_gets_one_code_whichever_source_reads_it(project, tmp_path):
    "One JSONL file with a broken line, a row that is no object and a sample whose roles do not alternate: `local_lf`, a Hub"
    " file (`convert_samples`, what `hf_lf` runs once the file is fetched) and the explorer's reader all name the same code and row."
    from sft_nb.data.convert import resolve_model_path  # wherever the model path is resolved, convert uses it
    from sft_nb.data.conversations import load_conversations
    from sft_nb.render.template import ChatRenderer
    from sft_nb.sources.base import convert_samples
    from sft_nb.sources.rows import read_rows
    path = tmp_path / "defects.jsonl"
    path.write_text("\n".join([json.dumps(SAMPLE), "{broken", json.dumps([1, 2]), json.dumps({"messages": SAMPLE["messages"][:2]}),
                               json.dumps(FROM_VALUE)]) + "\n")
    expected = [("unparseable_line", str(path), 2), ("invalid_row", str(path), 3), ("invalid_lf_sample", str(path), 4)]
    rejects = lambda rep: [(r["reason"], r["file"], r["line"]) for r in map(json.loads, rep.rejects_path.read_text().splitlines())]
    local = convert(_cfg(project, "source.type=local_lf", f"source.lf_path={path}", name="defects_local"), quiet=True)
    assert (local.seen, local.kept) == (5, 2) and rejects(local) == expected
    cfg = _cfg(project, "source.type=hf_lf", "source.hf_hub_url=my-org/defects", "source.hf_file_name=defects.jsonl", name="defects_hub")
    hub = convert_samples(cfg, ChatRenderer(resolve_model_path(cfg)), read_rows(path), str(path), "hf_lf")
    assert (hub.seen, hub.kept) == (5, 2) and rejects(hub) == expected
    with pytest.raises(ValueError, match=r"sample 1 \(row 2\): unparseable_line"):
        load_conversations(path)
