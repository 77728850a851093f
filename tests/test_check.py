"""`sft-nb check`, the dry run: a held-out corpus of broken configs, each exiting 2 with its key path; the demo config
passing in well under 5 s without torch; --json; and the deep checks (LLaMA-Factory's own parser, cached)."""
import json, os, time
from pathlib import Path
import pytest
from conftest import BIN, run

# (name, --set overrides, expected key path in the error; extra env)
BROKEN = [
    ("unknown_section", ["trainingg.learning_rate=1"], "runtime_info.input.trainingg", {}),
    ("unknown_conversion_key", ["conversion.max_instance=3"], "runtime_info.input.conversion.max_instance", {}),
    ("unknown_training_key", ["training.learning_rat=1e-4"], "runtime_info.input.training.learning_rat", {}),
    ("wrong_type_lr", ["training.learning_rate=fast"], "runtime_info.input.training.learning_rate", {}),
    ("wrong_type_cutoff", ["training.cutoff_len=[1]"], "runtime_info.input.training.cutoff_len", {}),
    ("missing_data_name", ["conversion.data_name=null"], "runtime_info.input.conversion.data_name", {}),
    ("missing_job_dir", ["source.job_dir=null"], "runtime_info.input.source.job_dir", {}),
    ("missing_lf_path", ["source.type=local_lf"], "runtime_info.input.source.lf_path", {}),
    ("bad_wandb_mode", ["experiment.wandb_mode=cloud"], "runtime_info.input.experiment.wandb_mode", {}),
    ("bad_scaffold", ["source.scaffold=aider"], "runtime_info.input.source.scaffold", {}),
    ("bad_source_type", ["source.type=s3"], "runtime_info.input.source.type", {}),
    ("bad_finetuning_type", ["training.finetuning_type=qlora"], "runtime_info.input.training.finetuning_type", {}),
    ("bad_stage", ["training.stage=grpo"], "runtime_info.input.training.stage", {}),
    ("bad_scheduler", ["training.lr_scheduler_type=cosine_annealing"], "runtime_info.input.training.lr_scheduler_type", {}),
    ("bad_flash_attn", ["training.flash_attn=fa4"], "runtime_info.input.training.flash_attn", {}),
    ("bad_rope_scaling", ["training.rope_scaling=ntk"], "runtime_info.input.training.rope_scaling", {}),
    ("zero_gpus", ["infrastructure.n_gpus_per_node=0"], "runtime_info.input.infrastructure.n_gpus_per_node", {}),
    ("fractional_gpus", ["infrastructure.n_gpus_per_node=1.5"], "runtime_info.input.infrastructure.n_gpus_per_node", {}),
    ("long_context_without_yarn", ["training.cutoff_len=65536"], "runtime_info.input.training.cutoff_len", {}),
    ("beyond_model_positions", ["training.cutoff_len=16384"], "runtime_info.input.training.cutoff_len", {}),
    ("unknown_template", ["training.template=qwen4"], "runtime_info.input.training.template", {}),
    ("save_only_model_resume", ["training.save_only_model=true", "training.resume_from_checkpoint=artifacts/model/nope/checkpoint-5"],
     "runtime_info.input.training.save_only_model", {}),
    ("resume_missing", ["training.resume_from_checkpoint=artifacts/model/nope/checkpoint-5"], "runtime_info.input.training.resume_from_checkpoint", {}),
    ("overwrite_without_env", ["training.overwrite_output_dir=true"], "runtime_info.input.training.overwrite_output_dir", {}),
    ("wandb_online_without_key", ["experiment.wandb_mode=online"], "runtime_info.input.experiment.wandb_mode", {"WANDB_API_KEY": ""}),
    ("more_gpus_than_visible", ["infrastructure.n_gpus_per_node=8"], "runtime_info.input.infrastructure.n_gpus_per_node", {"CUDA_VISIBLE_DEVICES": "0,1"}),
    ("deepspeed_missing", ["training.deepspeed=ds_z9_config.json"], "runtime_info.input.training.deepspeed", {}),
    ("deepspeed_not_json", ["training.deepspeed=../../config.yaml"], "runtime_info.input.training.deepspeed", {}),
    ("job_dir_missing", ["source.job_dir=/nonexistent/job"], "runtime_info.input.source.job_dir", {}),
    ("model_path_missing", ["model.model_name_or_path=/nonexistent/model/dir"], "runtime_info.input.model.model_name_or_path", {}),
    ("model_not_a_hub_id", ["model.model_name_or_path=my model"], "runtime_info.input.model.model_name_or_path", {}),
    ("hub_model_offline_not_cached", ["model.model_name_or_path=sft-nb-test/not-cached"], "runtime_info.input.model.model_name_or_path", {"HF_HUB_OFFLINE": "1"}),
    ("model_dir_incomplete", ["model.model_name_or_path=artifacts/training_config"], "runtime_info.input.model.model_name_or_path", {}),
    ("tunable_out_of_range", ["training.learning_rate=0.5"], "evolving.tunable_params.learning_rate", {}),
    ("tunable_bad_range", ["evolving.tunable_params.num_train_epochs=[5, 1]"], "evolving.tunable_params.num_train_epochs", {}),
    ("run_name_escapes", ["experiment.run_name=../../etc"], "runtime_info.input.experiment.run_name", {}),
    ("run_name_injection", ["experiment.run_name=x; rm -rf ~"], "runtime_info.input.experiment.run_name", {}),
    ("data_name_with_space", ["conversion.data_name=my data"], "runtime_info.input.conversion.data_name", {}),
    ("exclude_file_missing", ["conversion.exclude_repos_file=nope.txt"], "runtime_info.input.conversion.exclude_repos_file", {}),
]


def test_corpus_is_big_enough():
    assert len(BROKEN) >= 25 and len({b[2] for b in BROKEN}) >= 25


@pytest.mark.parametrize("name,sets,key,env", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_exits_2_with_key_path(project, name, sets, key, env):
    args = [BIN / "sft-nb", "check", "--config", project / "config.yaml"]
    if not any(s.startswith("experiment.run_name=") for s in sets): args += ["--run-name", f"chk-{name}"]
    for s in sets: args += ["--set", s]
    res = run(args, env={**os.environ, **env})
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    lines = [l for l in res.stderr.splitlines() if l.startswith("ERROR")]
    assert any(key + ":" in l and " -> " in l for l in lines), lines


def test_demo_config_checks_fast_without_torch(project):
    code = ("import sys, time; t = time.time()\n"
            "from sft_nb.cli import main\n"
            f"rc = main(['check', '--config', {str(project / 'config.yaml')!r}, '--run-name', 'fast'])\n"
            "print('SECONDS', time.time() - t)\n"
            "assert rc == 0 and 'torch' not in sys.modules and 'llamafactory' not in sys.modules, sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'llamafactory'))[:5]")
    t0 = time.time()
    res = run([BIN / "python", "-c", code])
    wall = time.time() - t0
    assert res.returncode == 0, res.stderr[-2000:]
    assert wall < 5, f"sft-nb check took {wall:.1f} s"
    print(f"sft-nb check on the demo config: {wall:.2f} s wall (process start included)")


def test_json_output(project):
    res = run([BIN / "sft-nb", "check", "--config", project / "config.yaml", "--json", "--run-name", "js",
               "--set", "training.save_steps=500", "--set", "training.logging_steps=5"])
    out = json.loads(res.stdout)
    assert res.returncode == 0 and out["ok"] is True and out["plan"]["global_batch"] == 2
    assert {w["key"] for w in out["warnings"]} >= {"runtime_info.input.training.save_steps", "runtime_info.input.training.logging_steps"}
    bad = run([BIN / "sft-nb", "check", "--config", project / "config.yaml", "--json", "--set", "training.template=qwen4"])
    assert bad.returncode == 2 and json.loads(bad.stdout)["errors"][0]["key"] == "runtime_info.input.training.template"


def test_deep_check_runs_llamafactory_parser_and_caches(project):
    sets = ["--set", "training.stage=pt", "--set", "training.neat_packing=true"]  # LLaMA-Factory: neat_packing only in SFT
    res = run([BIN / "sft-nb", "check", "--config", project / "config.yaml", "--deep", "--run-name", "deep", *sets])
    assert res.returncode == 2 and "neat_packing" in res.stderr and "LLaMA-Factory's parser refuses" in res.stderr
    ok = run([BIN / "sft-nb", "check", "--config", project / "config.yaml", "--deep", "--run-name", "deep2"])
    assert ok.returncode == 0, ok.stderr[-2000:]
    again = run([BIN / "sft-nb", "check", "--config", project / "config.yaml", "--run-name", "deep3"])
    assert "LLaMA-Factory parser: ok (cached)" in again.stdout


def test_choices_match_llamafactory():
    from llamafactory.extras.constants import AttentionFunction, RopeScaling
    from sft_nb.config.schema import CHOICES
    assert CHOICES["training.flash_attn"] == [a.value for a in AttentionFunction]
    assert CHOICES["training.rope_scaling"] == [r.value for r in RopeScaling]
