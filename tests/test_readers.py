"""Every trajectory reader on a trial of every other format: the trial is kept or rejected with a reason, never a crash."""
import json, shutil
from pathlib import Path
import pytest
from sft_nb.core.rejects import Rejected, REJECT_REASONS
from sft_nb.sources.harbor.scaffolds import SCAFFOLDS, iter_job
from sft_nb.sources.harbor.agent_logs import trial_reader, ReadOptions

FIXTURES = Path(__file__).parent / "fixtures"
JOBS = ["claude_code", "open_code", "terminus2", "atif", "mixed"]


def outcomes(job_dir, scaffold):
    "(trial name, kept scaffold or reject reason) for every trial of a job read as `scaffold`."
    out = []
    for t, sc, convs, _ in iter_job(job_dir, scaffold, reader=trial_reader(ReadOptions())):
        out.append((t.name, convs.reason if isinstance(convs, Rejected) else sc))
    return out


@pytest.mark.parametrize("scaffold", SCAFFOLDS)
@pytest.mark.parametrize("job", JOBS)
def test_every_reader_keeps_or_rejects_every_format(job, scaffold):
    res = outcomes(FIXTURES / job / "job", scaffold)
    assert res, "the job was really read"
    for name, r in res: assert r in REJECT_REASONS or r in SCAFFOLDS, (name, r)


def test_a_reader_that_finds_nothing_is_a_reject(tmp_path):
    "A terminus-2 trajectory whose agent steps are all copied context trains nothing: `no_conversation`, not an IndexError."
    src = FIXTURES / "terminus2" / "job"
    job = tmp_path / "job"; job.mkdir()
    for f in src.iterdir():
        if f.is_file(): shutil.copy(f, job / f.name)
    shutil.copytree(src / "hello-world__Ab12cd3", job / "hello-world__Ab12cd3")
    p = job / "hello-world__Ab12cd3" / "agent" / "trajectory.json"
    doc = json.loads(p.read_text())
    for s in doc["steps"]:
        if s["source"] == "agent": s["is_copied_context"] = True
    p.write_text(json.dumps(doc))
    for scaffold in ("terminus2", "auto"):
        assert outcomes(job, scaffold) == [("hello-world__Ab12cd3", "no_conversation")], scaffold
