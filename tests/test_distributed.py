"""The distributed path on CPU: 2 processes with DDP (gloo), with DeepSpeed ZeRO-3, and as two nodes of one process each
(loopback) give the same per-step losses as 1 process at the same global batch (1 x 2 accumulation == 2 processes x 1)."""
import socket, subprocess
import pytest
from conftest import BIN
from sft_nb.config.schema import load_config
from sft_nb.pipeline import run_pipeline
from sft_nb.runs.results import read_trainer_log

TOL = 1e-3  # absolute, per logged step; LLaMA-Factory logs losses rounded to 4 decimals
COMMON = ["conversion.data_name=dist", "training.max_steps=6", "training.per_device_train_batch_size=2", "training.save_steps=6",
          "training.packing=false"]  # the sampler set explicitly: group_by_length (packing: auto) orders by the global batch, which differs between 1 and 2 processes


def _losses(project, name, overrides):
    cfg = load_config(project / "config.yaml", COMMON + overrides, run_name=name)
    r = run_pipeline(cfg, steps=("convert", "register", "train"), quiet=True)
    assert r.launch.returncode == 0
    log = read_trainer_log(cfg.output_dir)
    assert [x["current_steps"] for x in log if "loss" in x] == [1, 2, 3, 4, 5, 6]
    return [x["loss"] for x in log if "loss" in x]


@pytest.fixture(scope="module")
def single(project):
    return _losses(project, "dist-1proc", ["training.gradient_accumulation_steps=2", "infrastructure.n_gpus_per_node=1"])


def test_ddp_two_processes_match_one(project, single):
    ddp = _losses(project, "dist-ddp2", ["training.gradient_accumulation_steps=1", "infrastructure.n_gpus_per_node=2"])
    assert max(abs(a - b) for a, b in zip(single, ddp)) <= TOL, (single, ddp)
    assert ddp[-1] < ddp[0], "the loss falls"


def test_zero3_two_processes_match_one(project, single):
    z3 = _losses(project, "dist-z3", ["training.gradient_accumulation_steps=1", "infrastructure.n_gpus_per_node=2",
                                      "training.deepspeed=ds_z3_config.json"])
    assert max(abs(a - b) for a, b in zip(single, z3)) <= TOL, (single, z3)
    # DeepSpeed writes `latest` + global_step6/ and no optimizer.pt: an interrupted ZeRO sweep point resumes from it
    from sft_nb.sweep import complete_checkpoint
    od = load_config(project / "config.yaml", COMMON, run_name="dist-z3").output_dir
    assert (od / "checkpoint-6" / "latest").is_file() and not (od / "checkpoint-6" / "optimizer.pt").exists()
    assert complete_checkpoint(od) == od / "checkpoint-6"


def test_two_nodes_on_loopback_match_one(project, single):
    "Two `sft-nb train` processes, nnodes=2 and node_rank 0/1 with one process each, share the artifacts: node 0 converts and writes results."
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    sets = [a for o in COMMON + ["training.gradient_accumulation_steps=1", "infrastructure.n_gpus_per_node=1", "infrastructure.nnodes=2",
                                 "infrastructure.master_addr=127.0.0.1", f"infrastructure.master_port={port}"] for a in ("--set", o)]
    cmd = lambda rank: [str(BIN / "sft-nb"), "train", "--config", str(project / "config.yaml"), "--run-name", "dist-2nodes", *sets,
                        "--set", f"infrastructure.node_rank={rank}"]
    nodes = [subprocess.Popen(cmd(r), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in (1, 0)]
    outs = [p.communicate(timeout=900)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
    assert "waiting up to" in outs[0] and "STEP 3 final loss" in outs[1] and "STEP 3" not in outs[0]
    cfg = load_config(project / "config.yaml", COMMON, run_name="dist-2nodes")
    log = read_trainer_log(cfg.output_dir)
    two = [x["loss"] for x in log if "loss" in x]
    assert [x["current_steps"] for x in log if "loss" in x] == [1, 2, 3, 4, 5, 6]
    assert max(abs(a - b) for a, b in zip(single, two)) <= TOL, (single, two)
    logs = sorted(p.name for p in (project / "artifacts/logs").glob("dist-2nodes_*.log"))
    assert len(logs) == 2 and any(".node1." in n for n in logs), logs
