"sft-nb on the command line: check prints the plan fast, config mistakes exit 2 naming the key path."
import json, os
from pathlib import Path
from conftest import BIN, run


def test_check_prints_plan(project):
    res = run([BIN / "sft-nb", "check", "--config", project / "config.yaml", "--set", "training.learning_rate=2e-5", "--run-name", "chk"])
    assert res.returncode == 0, res.stderr
    assert "global batch   2 = per-device 2 x accum 1 x 1 process(es)" in res.stdout
    assert "learning_rate: 2.0e-05" in res.stdout and "check: OK" in res.stdout


def test_missing_data_name_exits_2_with_key_path(project, tmp_path):
    text = (project / "config.yaml").read_text().replace("      data_name: demo_openhands", "      data_name: null")
    (tmp_path / "config.yaml").write_text(text)
    res = run([BIN / "sft-nb", "check", "--config", tmp_path / "config.yaml"])
    assert res.returncode == 2
    assert "runtime_info.input.conversion.data_name: missing" in res.stderr


def test_bad_override_type_exits_2(project):
    res = run([BIN / "sft-nb", "check", "--config", project / "config.yaml", "--set", "training.cutoff_len=long"])
    assert res.returncode == 2 and "runtime_info.input.training.cutoff_len" in res.stderr


def test_unknown_key_gets_did_you_mean(project):
    res = run([BIN / "sft-nb", "check", "--config", project / "config.yaml", "--set", "conversion.max_instance=3"])
    assert res.returncode == 2 and "did you mean `max_instances`?" in res.stderr


def test_check_and_import_do_not_load_torch(project):
    code = ("import sys, sft_nb, sft_nb.config.schema, sft_nb.data.convert, sft_nb.data.register, sft_nb.train.launch, sft_nb.runs.results, sft_nb.pipeline\n"
            "from sft_nb.cli import main\n"
            f"rc = main(['check', '--config', {str(project / 'config.yaml')!r}, '--run-name', 'imp'])\n"
            "heavy = [m for m in ('torch', 'transformers', 'llamafactory', 'matplotlib') if m in sys.modules]\n"
            "assert rc == 0 and not heavy, heavy")
    res = run([BIN / "python", "-c", code])
    assert res.returncode == 0, res.stderr


def test_dataprep_converts_and_counts(project):
    res = run([BIN / "sft-nb", "dataprep", "--config", project / "config.yaml", "--set", "conversion.data_name=cli_dp",
               "--set", "conversion.instance_status=resolved"])
    assert res.returncode == 0, res.stderr
    assert "22 seen, 14 kept" in res.stdout
    summary = json.loads((project / "artifacts/data/im_data/cli_dp.summary.json").read_text())
    assert summary["rejected"] == {"status_filtered": 6, "no_reward": 2}


def test_show_mask_prints_trained_tokens(project):
    sets = ["--set", "conversion.data_name=cli_mask"]
    assert run([BIN / "sft-nb", "dataprep", "--config", project / "config.yaml", *sets]).returncode == 0
    res = run([BIN / "sft-nb", "show-mask", "--config", project / "config.yaml", "--index", "1", "--elide", "60", *sets])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "{+" in res.stdout and "trained" in res.stdout
    bad = run([BIN / "sft-nb", "show-mask", "--config", project / "config.yaml", "--index", "99", *sets])
    assert bad.returncode == 1 and "--index 99" in bad.stderr
