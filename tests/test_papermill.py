"The parameterized notebook, run as a user runs it: papermill nbs/train.ipynb out.ipynb -p lr 2e-5."
import json, math
from pathlib import Path
from ruamel.yaml import YAML
from conftest import REPO, BIN, run


def text_of(nb: dict) -> str:
    "Every output text of an executed notebook."
    return "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for c in nb["cells"] for o in c.get("outputs", []))


def test_train_notebook_trains_plots_and_writes_output(own_project):
    project = own_project
    before = (project / "config.yaml").read_text()
    out = project / "out.ipynb"
    res = run([BIN / "papermill", REPO / "nbs/train.ipynb", out, "--cwd", project, "-p", "lr", "2e-5", "-p", "smoke", "True", "-r", "run_name", "001"])
    assert res.returncode == 0, res.stderr[-4000:]

    nb = json.loads(out.read_text())
    images = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1, "the loss plot is embedded in the output notebook"

    doc = YAML().load((project / "config.yaml").read_text())
    o = doc["runtime_info"]["output"]
    assert o["run_name"] == "001" and o["status"] == "success"
    assert math.isfinite(o["final_loss"]) and o["total_steps"] == 20
    assert o["overrides"] == {"training.learning_rate": 2e-05}
    od = Path(o["output_dir"])
    assert od == project / "artifacts/model/001"
    assert (od / "checkpoint-10/model.safetensors").exists() and (od / "checkpoint-20/model.safetensors").exists()
    assert (od / "model.safetensors").exists() and Path(o["loss_plot"]).read_bytes()[:4] == b"\x89PNG"
    gen = YAML(typ="safe", pure=True).load(Path(o["train_yaml"]).read_text())
    assert gen["learning_rate"] == 2e-05 and isinstance(gen["learning_rate"], float)

    assert o["smoke"]["ok"] and "smoke          one optimizer step on the longest batch" in text_of(nb), "smoke: true ran the smoke step first"
    assert o["health"] == "ok" and (project / "artifacts/runs/001/output.json").exists(), "healthy, and archived"
    gens = [json.loads(l) for l in (project / "artifacts/runs/001/generations.jsonl").read_text().splitlines()]
    assert len(gens) == 3 and "training samples" in text_of(nb), "the last section shows three generations, labelled as training prompts"
    log = Path(o["log"]).read_text()
    assert "Invalid role tag" not in log and "Cannot find valid samples" not in log, "LLaMA-Factory dropped samples"

    after = (project / "config.yaml").read_text()
    head = before.split("  output: {}")[0]
    assert after.startswith(head), "everything before runtime_info.output (comments, order, input) is untouched"
    assert after.split("evolving:")[1] == before.split("evolving:")[1]


def test_dry_run_only_plans(own_project):
    project = own_project
    out = project / "dry.ipynb"
    res = run([BIN / "papermill", REPO / "nbs/train.ipynb", out, "--cwd", project, "-p", "dry_run", "True", "-r", "run_name", "dry"])
    assert res.returncode == 0, res.stderr[-3000:]
    text = out.read_text()
    assert "global batch" in text and not (project / "artifacts/model/dry").exists()


def test_help_notebook_lists_typed_parameters():
    res = run([BIN / "papermill", "--help-notebook", REPO / "nbs/train.ipynb"])
    assert res.returncode == 0
    for p in ("lr: float", "epochs: float", "batch_size: int", "grad_accum: int", "max_steps: int", "max_instances: int",
              "n_gpus: int", "run_name: str", "dry_run: bool", "resume: bool", "config: str"):
        assert p in res.stdout, p
