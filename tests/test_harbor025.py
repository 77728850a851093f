"""STEP 0 on a job dir written by Harbor 0.25's own code (tests/harbor/build_harbor_fixtures.py, built once and cached):
each agent read from its most faithful source, checked against what the source holds, not only counted."""
import json, shutil, sys
from pathlib import Path
import pytest
from sft_nb.config.schema import load_config
from sft_nb.data.convert import convert
from sft_nb.sources.harbor.trajectories import content_text

sys.path.insert(0, str(Path(__file__).parent / "harbor"))
from harbor025 import HarborUnavailable, build_fixtures  # noqa: E402


@pytest.fixture(scope="session")
def harbor_job():
    "The fixture folder (job/, tasks/, script.json); skipped only when Harbor 0.25 cannot be installed."
    try: return build_fixtures()
    except HarborUnavailable as e: pytest.skip(f"Harbor 0.25 cannot be installed here: {e}")


def _convert(project, tmp_path, fx, scaffold="auto", trials=None, with_cfg=False, **extra):
    "Convert a copy of the job (or of some of its trials) and return the report, IM records and rejects (and the config)."
    job = tmp_path / "job"
    if trials is None: shutil.copytree(fx / "job", job)
    else:
        for t in trials: shutil.copytree(fx / "job" / t, job / t)
    sets = [f"source.job_dir={job}", f"source.scaffold={scaffold}", f"conversion.data_name=h25_{tmp_path.name[:20]}", "conversion.instance_status=all"]
    cfg = load_config(project / "config.yaml", sets + [f"{k}={v}" for k, v in extra.items()], run_name="h25")
    rep = convert(cfg, quiet=True, force=True)
    im = [json.loads(l) for l in rep.im_path.read_text().splitlines()]
    rejects = [json.loads(l) for l in rep.rejects_path.read_text().splitlines()]
    return (rep, im, rejects, cfg) if with_cfg else (rep, im, rejects)


@pytest.fixture(scope="module")
def auto_cfg(project, harbor_job, tmp_path_factory):
    "The whole job converted with `scaffold: auto`: (report, IM records, rejects, config)."
    return _convert(project, tmp_path_factory.mktemp("auto"), harbor_job, with_cfg=True)


@pytest.fixture(scope="module")
def auto(auto_cfg): return auto_cfg[:3]


def script(fx): return json.loads((fx / "script.json").read_text())
def convs(im, trial): return [r for r in im if r["trial"] == trial]
def calls(msgs): return [tc for m in msgs for tc in m.get("tool_calls") or []]
def tool_results(msgs): return {m["tool_call_id"]: m["content"] for m in msgs if m["role"] == "tool"}


def test_auto_reads_each_trial_from_the_most_faithful_source_and_counts_it(auto):
    rep, im, rejects = auto
    assert (rep.seen, rep.kept) == (13, 11)
    assert rep.rejected == {"agent_exception": 1, "no_reward": 1}
    assert rep.sources == {"claude-code-session": 1, "opencode-events": 2, "atif": 8}
    assert rep.scaffolds == {"terminus2": 5, "claude-code": 1, "open-code": 2, "openhands-sdk": 3}
    exc = next(r for r in rejects if r["reason"] == "agent_exception")
    assert (exc["trial"], exc["detail"]) == ("counter-off-by-one__OhNz002", "NonZeroAgentExitCodeError")
    # claude-code (main + subagent) and opencode (2) record neither a system prompt nor tool schemas: said, not invented
    assert rep.warnings["no_system_prompt"] == 4 and rep.warnings["no_tool_schemas"] == 4
    assert rep.warnings["task_metadata_unavailable"] == 1
    assert "sources: atif 8, claude-code-session 1, opencode-events 2" in rep.table()


def test_claude_code_native_session_is_read_not_harbors_rewritten_atif(auto, harbor_job):
    _, im, _ = auto
    s = script(harbor_job)["psf__requests-2317__Cc00001"]
    main, sub = sorted(convs(im, "psf__requests-2317__Cc00001"), key=lambda r: r["agent_type"])
    assert (main["agent_type"], sub["agent_type"]) == ("main", "subagent")
    assert main["source"]["kind"] == "claude-code-session" and main["source"]["file"].endswith(f"{s['session']}.jsonl")
    assert "subagents/agent-a1b2c3d.jsonl" in sub["source"]["file"]
    m = main["messages"]
    assert m[0] == {"role": "user", "content": s["task"]}
    assert [tc["id"] for tc in calls(m)] == s["main_calls"]
    first = m[1]  # thinking, text and two tool_use blocks were four events of one streamed message: one turn
    assert (first["reasoning_content"], first["content"]) == ("Find where method is converted.", "I'll look at the code and the tests.")
    assert [json.loads(tc["function"]["arguments"]) for tc in first["tool_calls"]] == [{"pattern": "builtin_str", "path": "requests"},
                                                                                      {"command": "ls tests", "description": "List tests"}]
    # every tool result is the tool_result block of the native log, not Harbor's "[stdout]/[metadata]" rewrite
    native = [json.loads(l) for l in Path(main["source"]["file"]).read_text().splitlines()]
    blocks = {b["tool_use_id"]: content_text(b["content"]) for e in native if e["type"] == "user" and isinstance(e["message"]["content"], list)
              for b in e["message"]["content"] if b.get("type") == "tool_result"}
    assert tool_results(m) == blocks and all(v in blocks.values() for v in s["results"].values())
    assert not any("[stdout]" in x or "[metadata]" in x for x in tool_results(m).values())
    assert m[-1] == {"role": "assistant", "content": s["final"]} and main["tools"] == []
    assert [tc["id"] for tc in calls(sub["messages"])] == s["sub_calls"]
    assert sub["messages"][0]["content"] == "Find tests that cover method conversion." and sub["messages"][1]["reasoning_content"] == "Search the tests."


def test_opencode_events_give_calls_outputs_and_reasoning(auto, harbor_job):
    _, im, _ = auto
    s = script(harbor_job)["fix-permissions__Oc00001"]
    (c,) = convs(im, "fix-permissions__Oc00001")
    assert c["source"]["kind"] == "opencode-events" and c["messages"][0] == {"role": "user", "content": s["instruction"]}
    events = [json.loads(l) for l in Path(c["source"]["file"]).read_text().splitlines() if l.startswith("{")]
    uses = [e["part"] for e in events if e["type"] == "tool_use"]
    assert [(tc["id"], tc["function"]["name"], json.loads(tc["function"]["arguments"])) for tc in calls(c["messages"])] == \
           [(p["callID"], p["tool"], p["state"]["input"]) for p in uses]
    assert tool_results(c["messages"]) == s["results"] == {p["callID"]: p["state"]["output"] for p in uses}
    assert c["messages"][1]["reasoning_content"] == s["reasoning"] and c["messages"][-1]["content"] == s["final"]


def test_openhands_sdk_atif_merges_split_calls_keeps_tools_and_ends_on_finish(auto, harbor_job):
    rep, im, _ = auto
    (c,) = convs(im, "counter-off-by-one__Oh00001")
    doc = json.loads(Path(c["source"]["file"]).read_text())
    assert c["messages"][0] == {"role": "system", "content": doc["steps"][0]["message"]}
    assert [t["function"]["name"] for t in c["tools"]] == ["terminal", "file_editor", "task_tracker", "finish", "think"]
    roles = [m["role"] for m in c["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "tool", "assistant"]
    # every kept call and result is the one the SDK events hold; call_a's observation was overwritten by the runner,
    # call_bad errored (no observation): both dropped and counted, never invented
    events = {e["tool_calls"][0]["id"]: e["tool_calls"][0] for e in script(harbor_job)["counter-off-by-one__Oh00001"]["events"] if e.get("tool_calls")}
    obs = {e["tool_call_id"]: e["content"] for e in script(harbor_job)["counter-off-by-one__Oh00001"]["events"] if e["type"] == "tool_result"}
    for tc in calls(c["messages"]): assert json.loads(tc["function"]["arguments"]) == events[tc["id"]]["arguments"]
    assert [tc["id"] for tc in calls(c["messages"])] == ["call_b", "call_c", "call_d", "call_f"]
    assert all(obs[k] == v for k, v in tool_results(c["messages"]).items())
    assert c["messages"][-1]["tool_calls"][0]["function"]["name"] == "finish"
    assert rep.warnings["unanswered_calls_dropped"] >= 2


def _terminus_check(c, s, parse_errors="keep_masked"):
    "Each assistant turn is the reply the model wrote; each next user turn what the harness sent back."
    msgs = c["messages"]
    assert msgs[0] == {"role": "user", "content": s["prompt"]} and c["tools"] == []
    turns = [t for t in s["turns"] if not (t["parse_error"] and parse_errors == "drop")]
    asst = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    assert len(asst) == len(turns)
    for i, t in zip(asst, turns):
        assert msgs[i]["content"] == t["reply"]
        assert msgs[i].get("reasoning_content") == t["reasoning"]
        assert msgs[i].get("train", True) is not (t["parse_error"] and parse_errors == "keep_masked")
        if i + 1 < len(msgs): assert msgs[i + 1] == {"role": "user", "content": t["next_user"]}


@pytest.mark.parametrize("trial", ["hello-world__T2json1", "hello-world__T2xml02", "hello-world__T2raw03"])
def test_terminus2_replies_are_what_the_model_wrote(auto, harbor_job, trial):
    _, im, _ = auto
    s = script(harbor_job)[trial]
    (c,) = convs(im, trial)
    _terminus_check(c, s)
    if s["parser"] == "xml": assert c["messages"][1]["content"].startswith("<response>")
    if s["raw_content"]: assert "Analysis:" not in json.dumps(c["messages"])  # the raw reply, not wrapped again


@pytest.mark.parametrize("policy", ["keep", "drop"])
def test_terminus2_parse_error_policies(project, harbor_job, tmp_path, policy):
    _, im, _ = _convert(project, tmp_path, harbor_job, "terminus2", ["hello-world__T2json1"], **{"conversion.terminus_parse_errors": policy})
    (c,) = im
    _terminus_check(c, script(harbor_job)["hello-world__T2json1"], policy)


def test_terminus2_summarization_gives_own_conversations(auto, harbor_job):
    _, im, _ = auto
    s = script(harbor_job)["fix-build__T2sum04"]
    cs = convs(im, "fix-build__T2sum04")
    main = [c for c in cs if c["agent_type"] == "main"]
    subs = {Path(c["source"]["file"]).name: c for c in cs if c["agent_type"] == "subagent"}
    assert len(main) == 2 and sorted(subs) == [f"trajectory.summarization-1-{k}.json" for k in ("answers", "questions", "summary")]
    before, after = main
    assert [m["content"] for m in before["messages"] if m["role"] == "assistant"] == s["replies"][:1]
    # after the handoff the chat holds the first prompt, the question prompt, the questions and the answers
    assert after["messages"][0]["content"].endswith(s["question_prompt"])
    assert after["messages"][1] == {"role": "assistant", "content": s["questions"], "train": False}
    assert after["messages"][2]["content"] == s["handoff"]
    assert [m["content"] for m in after["messages"] if m["role"] == "assistant"][1:] == s["replies"][1:]
    summary = subs["trajectory.summarization-1-summary.json"]["messages"]
    assert summary[-1] == {"role": "assistant", "content": s["summary"]} and summary[-2]["content"].endswith(s["summary_prompt"])
    copied = [m for m in summary[:-1] if m["role"] == "assistant"]
    assert copied and all(m["train"] is False for m in copied), "copied context is never trained twice"
    assert subs["trajectory.summarization-1-questions.json"]["messages"][-1]["content"] == s["questions"]
    assert subs["trajectory.summarization-1-answers.json"]["messages"][-1]["content"] == s["answers"]


def test_terminus2_linear_history_continuation_trains_each_reply_once(auto, harbor_job):
    _, im, _ = auto
    s = script(harbor_job)["fix-build__T2lin06"]
    cs = convs(im, "fix-build__T2lin06")
    files = sorted({Path(c["source"]["file"]).name for c in cs})
    assert files == ["trajectory.cont-1.json", "trajectory.json"] + [f"trajectory.summarization-1-{k}.json" for k in ("answers", "questions", "summary")]
    trained = [m["content"] for c in cs if c["agent_type"] == "main" for m in c["messages"] if m["role"] == "assistant" and m.get("train", True)]
    assert trained == s["replies"], "every reply of the main agent trained exactly once; the copied context is not"
    cont = next(c for c in cs if c["source"]["file"].endswith("cont-1.json"))
    assert cont["messages"][1] == {"role": "assistant", "content": s["questions"], "train": False}
    assert cont["messages"][0]["content"].endswith(s["question_prompt"]) and cont["messages"][2]["content"] == s["handoff"]


def test_replies_marked_train_false_are_context_not_targets_in_the_lf_data(auto):
    "terminus-2's copied context (and unparsed replies under keep_masked) reach the model as prompt text, never as a target."
    rep, im, _ = auto
    lf = json.loads(rep.lf_path.read_text())
    seg = lambda want: [t["content"] for s in lf for t in s["messages"] if (t["role"] == "assistant") == want]
    targets, prompts = "\n".join(seg(True)), "\n".join(seg(False))
    said = lambda train: {m["content"] for c in im for m in c["messages"] if m["role"] == "assistant" and isinstance(m.get("content"), str)
                          and m.get("train", True) is train}
    masked = said(False) - said(True)  # a text also trained in another conversation may be a target there
    assert masked, "the job has replies marked train: false"
    for text in masked: assert text not in targets and text in prompts, text[:200]
    for text in said(True): assert text in targets, text[:200]


def test_exceptions_rejected_unless_kept_and_unanswered_calls_trimmed(auto, project, harbor_job, tmp_path):
    _, im, _ = auto
    (to,) = convs(im, "counter-off-by-one__OhTo003")  # AgentTimeoutError is kept by default: the work up to the timeout is real
    assert to["reward"] == 0.0 and "call_t" not in [tc["id"] for tc in calls(to["messages"])]
    assert to["messages"][-1]["role"] == "assistant"
    rep, im2, _ = _convert(project, tmp_path, harbor_job, "auto", ["counter-off-by-one__OhNz002"],
                           **{"conversion.keep_exceptions": "[AgentTimeoutError, NonZeroAgentExitCodeError]"})
    (nz,) = im2
    assert rep.kept == 1 and [tc["id"] for tc in calls(nz["messages"])] == ["call_b", "call_c", "call_d"]
    assert rep.warnings["unanswered_calls_trimmed"] == 1


def test_relative_task_path_keeps_instance_id_and_warns(auto):
    _, im, _ = auto
    (rel,) = convs(im, "fix-permissions__OcRel02")
    (ab,) = convs(im, "fix-permissions__Oc00001")
    assert rel["instance_id"] == ab["instance_id"] == "fix-permissions"
    assert rel["task_metadata"] == {} and ab["task_metadata"]["category"] == "system"


def test_multi_step_task_gives_one_conversation_per_step(auto):
    _, im, _ = auto
    cs = convs(im, "two-step-setup__OhMs004")
    assert [Path(c["source"]["file"]).parts[-3] for c in cs] == [c["task_step"] for c in cs] == ["setup", "solve"]
    assert [c["messages"][1]["content"].split("]")[0] for c in cs] == ["[setup", "[solve"]


def test_forced_scaffolds_read_their_own_sources(project, harbor_job, tmp_path):
    rep, im, _ = _convert(project, tmp_path / "cc", harbor_job, "claude-code", ["psf__requests-2317__Cc00001"])
    assert rep.sources == {"claude-code-session": 1} and len(im) == 2
    rep, im, _ = _convert(project, tmp_path / "oc", harbor_job, "open-code", ["fix-permissions__Oc00001"])
    assert rep.sources == {"opencode-events": 1}
    rep, im, _ = _convert(project, tmp_path / "oh", harbor_job, "openhands-sdk", ["counter-off-by-one__Oh00001", "two-step-setup__OhMs004"])
    assert (rep.kept, rep.sources) == (2, {"atif": 2})
    # the generic ATIF reader on claude-code's derived trajectory: sidechain steps become their own subagent conversation
    rep, im, _ = _convert(project, tmp_path / "at", harbor_job, "atif", ["psf__requests-2317__Cc00001"])
    assert sorted(r["agent_type"] for r in im) == ["main", "subagent"] and rep.sources == {"atif": 1}
    main = next(r for r in im if r["agent_type"] == "main")  # tool results: the raw blocks Harbor kept, not its [stdout] rewrite
    assert {k: v for k, v in tool_results(main["messages"]).items() if k in script(harbor_job)["psf__requests-2317__Cc00001"]["results"]} == \
           script(harbor_job)["psf__requests-2317__Cc00001"]["results"]
    # terminus2 forced on other agents' trajectories: rejected, not read as empty terminus replies
    rep, im, rejects = _convert(project, tmp_path / "t2", harbor_job, "terminus2",
                                ["counter-off-by-one__Oh00001", "fix-permissions__Oc00001", "hello-world__T2json1"])
    assert rep.rejected == {"scaffold_mismatch": 2} and rep.kept == 1


def test_missing_schemas_are_warned_and_filled_from_files(project, harbor_job, tmp_path):
    from sft_nb.preflight.check import check_schemas
    rep, im, _, cfg = _convert(project, tmp_path / "bare", harbor_job, "auto", ["psf__requests-2317__Cc00001"], with_cfg=True)
    assert [f.key.rsplit(".", 1)[-1] for f in check_schemas(cfg)] == ["tools_file", "system_prompt_file"]
    tools = [{"name": n, "description": n, "input_schema": {"type": "object", "properties": {}}} for n in ("Bash", "Edit", "Grep", "Task")]
    (tmp_path / "tools.json").write_text(json.dumps(tools)); (tmp_path / "system.md").write_text("You are Claude Code.")
    rep, im, _, cfg = _convert(project, tmp_path / "filled", harbor_job, "auto", ["psf__requests-2317__Cc00001"], with_cfg=True,
                               **{"conversion.tools_file": str(tmp_path / "tools.json"), "conversion.system_prompt_file": str(tmp_path / "system.md")})
    assert all(r["messages"][0] == {"role": "system", "content": "You are Claude Code."} for r in im)
    assert all([t["function"]["name"] for t in r["tools"]] == ["Bash", "Edit", "Grep", "Task"] for r in im)
    assert "no_tool_schemas" not in rep.warnings and check_schemas(cfg) == []


def test_llamafactory_loads_every_sample_of_the_harbor_job(auto_cfg, tmp_path):
    "The converted Harbor job goes through LLaMA-Factory's own dataset loading and template encoding with zero samples dropped."
    from transformers import AutoTokenizer
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from sft_nb.data.register import register
    from sft_nb.config.lfargs import train_args
    rep, im, _, cfg = auto_cfg
    register(cfg, quiet=True)
    args = {**train_args(cfg), "output_dir": str(tmp_path / "out"), "overwrite_output_dir": True}
    model_args, data_args, training_args, _, _ = get_train_args(args)
    tok = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    module = get_dataset(get_template_and_fix_tokenizer(tok, data_args), model_args, data_args, training_args, stage="sft", tokenizer=tok)
    assert len(module["train_dataset"]) == rep.samples == len(im)
    assert all(sum(l != -100 for l in ex["labels"]) > 0 for ex in module["train_dataset"])
