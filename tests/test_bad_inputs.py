"""The bad-input corpus: a Harbor job whose trials each carry one defect. Every defective trial lands in the rejects
file with its own reason code; the good ones (and the ones whose defect is tolerable) are kept; nothing else is lost."""
import json, shutil
from pathlib import Path
import pytest
from sft_nb.config.schema import load_config
from sft_nb.data.convert import convert
from sft_nb.model.demo import build_demo_job


def _log(d): return d / "agent" / "litellm-trajectory.jsonl"
def _lines(d): return [json.loads(l) for l in _log(d).read_text().splitlines()]
def _write_lines(d, lines): _log(d).write_text("".join(json.dumps(l) + "\n" for l in lines))
def _last_ok(lines): return max(i for i, l in enumerate(lines) if l.get("success") is not False)


def _edit_messages(d, fn):
    "Apply `fn` to the message list of the last successful line."
    lines = _lines(d)
    i = _last_ok(lines)
    fn(lines[i]["request_body"]["messages"])
    _write_lines(d, lines[:i + 1])


def _set_config(d, obj): (d / "config.json").write_text(json.dumps(obj) if not isinstance(obj, str) else obj)


def _first_tool_index(msgs): return next(i for i, m in enumerate(msgs) if m["role"] == "tool")


DEFECTS = {  # trial -> (what is wrong with it, expected reason or None when it must still be kept)
    "no_config": (lambda d: (d / "config.json").unlink(), "bad_trial_config"),
    "config_not_json": (lambda d: _set_config(d, "{task: oops"), "bad_trial_config"),
    "config_without_task": (lambda d: _set_config(d, {"trial_name": "x"}), "bad_trial_config"),
    "config_task_is_text": (lambda d: _set_config(d, {"task": "owner__repo-1"}), "bad_trial_config"),
    "no_result": (lambda d: (d / "result.json").unlink(), "no_reward"),
    "verifier_crashed": (lambda d: (d / "result.json").write_text(json.dumps({"verifier_result": None, "exception_info": {"exception_type": "VerifierError"}})), "no_reward"),
    "no_log": (lambda d: _log(d).unlink(), "no_trajectory"),
    "empty_log": (lambda d: _log(d).write_text(""), "empty_trajectory"),
    "all_calls_failed": (lambda d: _write_lines(d, [{**l, "success": False} for l in _lines(d)]), "all_calls_failed"),
    "garbage_log": (lambda d: _log(d).write_bytes(b"<html>502 Bad Gateway</html>\n\x00\x01\n"), "invalid_json"),
    "no_response_body": (lambda d: _write_lines(d, [{k: v for k, v in l.items() if k != "response_body"} for l in _lines(d)]), "invalid_record"),
    "messages_not_a_list": (lambda d: _write_lines(d, [{**l, "request_body": {**l["request_body"], "messages": {"0": "x"}}} for l in _lines(d)]), "invalid_record"),
    "message_is_a_list": (lambda d: _edit_messages(d, lambda m: m.insert(1, ["user", "hi"])), "invalid_record"),
    "starts_with_assistant": (lambda d: _edit_messages(d, lambda m: m.__delitem__(slice(0, 2))), "bad_roles"),
    "dangling_tool_call": (lambda d: _edit_messages(d, lambda m: m[2]["tool_calls"].append(
        {"id": "call_unanswered", "type": "function", "function": {"name": "terminal", "arguments": "{}"}})), "dangling_tool_call"),
    "orphan_tool_message": (lambda d: _edit_messages(d, lambda m: m[_first_tool_index(m)].update(tool_call_id="call_nobody")), "orphan_tool_message"),
    "arguments_not_json": (lambda d: _edit_messages(d, lambda m: m[2]["tool_calls"][0]["function"].update(arguments="ls -la")), "invalid_tool_arguments"),
    "too_little_reasoning": (lambda d: _edit_messages(d, lambda m: [x.pop("reasoning_content", None) for x in m[3:]]), None),
    "excluded_repo": (lambda d: _set_config(d, {"task": {"path": "/tasks/django__django-15000"}}), "excluded_repo"),
    "non_utf8_bytes": (lambda d: _log(d).write_bytes(_log(d).read_bytes().replace(b"Let me look", b"Let me \xff\xfe look")), None),
    "truncated_last_line": (lambda d: _log(d).write_text(_log(d).read_text() + '{"success": true, "request_body": {"mess'), None),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, project):
    "A job of one good trial plus one trial per defect; converted once."
    root = tmp_path_factory.mktemp("bad")
    demo = build_demo_job(root / "demo")
    good = next(d for d in sorted(demo.iterdir()) if d.is_dir() and json.loads((d / "result.json").read_text())["verifier_result"]
                and json.loads((d / "result.json").read_text())["verifier_result"]["rewards"]["reward"] == 1.0)
    job = root / "job"
    job.mkdir()
    (job / "result.json").write_text(json.dumps({"stats": {"evals": {}}}))
    (job / "README.txt").write_text("a stray file is not a trial")
    (job / ".cache").mkdir()
    for i, name in enumerate(["good", *DEFECTS]):
        d = job / name
        shutil.copytree(good, d)
        _set_config(d, {"task": {"path": f"/tasks/owner__repo-{100 + i}"}, "agent": {"name": "openhands-sdk"}})
        if name != "good": DEFECTS[name][0](d)
    (root / "exclude.txt").write_text("# eval repos\ndjango/django\n")
    cfg = load_config(project / "config.yaml", [f"source.job_dir={job}", "conversion.data_name=bad_corpus",
                                                f"conversion.exclude_repos_file={root / 'exclude.txt'}", "conversion.reasoning_ratio=0.5"], run_name="bad")
    rep = convert(cfg, quiet=True, force=True)
    rejects = {json.loads(l)["trial"]: json.loads(l) for l in rep.rejects_path.read_text().splitlines()}
    im = {json.loads(l)["trial"]: json.loads(l) for l in rep.im_path.read_text().splitlines()}
    return rep, rejects, im


DEFECTS["too_little_reasoning"] = (DEFECTS["too_little_reasoning"][0], "reasoning_check_failed")


def test_corpus_has_at_least_15_distinct_defects():
    assert len(DEFECTS) >= 15 and len({reason for _, reason in DEFECTS.values() if reason}) >= 12


@pytest.mark.parametrize("name", list(DEFECTS))
def test_each_defect_gets_its_reason(corpus, name):
    rep, rejects, im = corpus
    expected = DEFECTS[name][1]
    if expected is None:
        assert name in im and name not in rejects
    else:
        assert rejects[name]["reason"] == expected, rejects.get(name)
        assert name not in im


def test_nothing_else_is_lost(corpus):
    rep, rejects, im = corpus
    names = {"good", *DEFECTS}
    assert rep.seen == len(names), "stray files and hidden folders are not trials"
    assert set(rejects) | set(im) == names and not set(rejects) & set(im)
    assert rep.kept == len(im) and sum(rep.rejected.values()) == len(rejects)


def test_tolerable_defects_keep_their_content(corpus):
    rep, rejects, im = corpus
    assert any("\ufffd" in (m.get("reasoning_content") or "") for m in im["non_utf8_bytes"]["messages"])
    assert im["truncated_last_line"]["messages"] == im["good"]["messages"]


def test_rejects_say_where(corpus):
    rep, rejects, im = corpus
    assert rejects["all_calls_failed"]["file"].endswith("litellm-trajectory.jsonl")
    assert rejects["no_response_body"]["line"] is not None and rejects["orphan_tool_message"]["detail"].startswith("message ")
