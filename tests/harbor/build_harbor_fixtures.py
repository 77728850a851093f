"""Write a Harbor 0.25 job dir through Harbor's own code (run with Python >= 3.12, harbor 0.25.0 importable).

    python build_harbor_fixtures.py OUT_DIR

What is Harbor's code and what is scripted, per agent:
- Every trial: `config.json` is a `TrialConfig` and `result.json` a `TrialResult` (with `ExceptionInfo`,
  `VerifierResult`, `AgentInfo`), dumped as Harbor's trial does (`model_dump_json(indent=4, ...)`); the job
  `result.json` is a `JobResult` whose stats come from `JobStats.from_trial_results`.
- claude-code: the native session log (`agent/sessions/projects/-app/<session>.jsonl` and a subagent transcript under
  `<session>/subagents/agent-<id>.jsonl`) is written here in Claude Code's event format (the CLI needs a live model);
  `agent/trajectory.json` is then derived by Harbor's own `ClaudeCode.populate_context_post_run`.
- opencode: `agent/opencode.txt` holds scripted `opencode run --format=json` events; `agent/trajectory.json` is
  derived by Harbor's own `OpenCode.populate_context_post_run`.
- openhands-sdk: the SDK's event stream is scripted (dicts in the shape the runner extracts from SDK events) and
  `agent/trajectory.json` is written by Harbor's own `build_trajectory` from `openhands_sdk_runner.py` (loaded from
  the wheel's source without importing `openhands.sdk`, which the runner imports at top level).
- terminus-2: its run loop needs a live model and tmux, so its steps are built here with Harbor's own ATIF models
  (`Step`, `ToolCall`, `Observation`, `Trajectory`, `SubagentTrajectoryRef`) exactly as `Terminus2._run_agent_loop`,
  `_summarize` and `_save_subagent_trajectory` build them; the scripted raw model replies are parsed by Harbor's own
  `TerminusJSONPlainParser` / `TerminusXMLPlainParser` and the prompts come from Harbor's own prompt templates.
`script.json` beside the job records the scripted model output (raw replies, thinking, tool calls and what the
tools returned) so tests can check conversions against the source.
"""
import ast, importlib.util, json, os, sys, uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
import harbor
from harbor.models.trajectories import (Agent, FinalMetrics, Metrics, Observation, ObservationResult, Step,
                                        SubagentTrajectoryRef, ToolCall, Trajectory)
from harbor.models.trial.config import TrialConfig
from harbor.models.trial.result import AgentInfo, ExceptionInfo, ModelInfo, TrialResult
from harbor.models.verifier.result import VerifierResult
from harbor.models.job.result import JobResult, JobStats
from harbor.models.agent.context import AgentContext
from harbor.utils.trajectory_utils import format_trajectory_json

HARBOR = Path(harbor.__file__).parent
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
MODEL = "anthropic/claude-sonnet-4-5"
SCRIPT = {}  # trial name -> what the model produced and what tools returned


def load_module(name, path):
    "A Harbor source file as a module, without running its package's __init__ (which would import litellm)."
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def ts(i): return (T0 + timedelta(seconds=7 * i)).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- trial config / result (Harbor's models)
def write_trial(job, name, agent, task_path, *, reward=None, exception=None, agent_dir=True, model=MODEL, kwargs=None, steps=None):
    d = job / name
    (d / "agent").mkdir(parents=True, exist_ok=True) if agent_dir else d.mkdir(parents=True, exist_ok=True)
    cfg = TrialConfig(task={"path": task_path}, trial_name=name, trials_dir=job,
                      agent={"name": agent, "model_name": model, "kwargs": kwargs or {}})
    (d / "config.json").write_text(cfg.model_dump_json(indent=4, exclude_defaults=True))
    exc = None if exception is None else ExceptionInfo(exception_type=exception[0], exception_message=exception[1],
                                                       exception_traceback=f"Traceback (most recent call last):\n  ...\n{exception[0]}: {exception[1]}",
                                                       occurred_at=T0 + timedelta(minutes=9))
    res = TrialResult(task_name=Path(task_path).name, trial_name=name, trial_uri=(d.resolve()).as_uri(),
                      task_id=cfg.task.get_task_id(), source="fixtures", task_checksum="0" * 16, config=cfg,
                      agent_info=AgentInfo(name=agent, version="unknown", model_info=ModelInfo(name=model.split("/")[-1], provider="anthropic")),
                      agent_result=AgentContext(n_input_tokens=1000, n_output_tokens=200, n_cache_tokens=0),
                      verifier_result=None if reward is None else VerifierResult(rewards={"reward": reward}),
                      exception_info=exc, started_at=T0, finished_at=T0 + timedelta(minutes=10), step_results=steps)
    (d / "result.json").write_text(res.model_dump_json(indent=4))
    if reward is not None:
        (d / "verifier").mkdir(exist_ok=True); (d / "verifier" / "reward.txt").write_text(f"{reward}\n")
    if exception is not None: (d / "exception.txt").write_text(exc.exception_traceback)
    (d / "trial.log").write_text(f"trial {name}\n")
    return d, res


def write_task(tasks, name, metadata):
    t = tasks / name; t.mkdir(parents=True, exist_ok=True)
    (t / "instruction.md").write_text(f"Solve {name}.\n")
    meta = "\n".join(f'{k} = {json.dumps(v)}' for k, v in metadata.items())
    (t / "task.toml").write_text(f'version = "1.0"\n\n[metadata]\n{meta}\n\n[verifier]\ntimeout_sec = 120.0\n')
    return t


# ---------------------------------------------------------------- terminus-2 (steps built as its loop builds them)
PARSERS = {"json": load_module("tjson", HARBOR / "agents/terminus_2/terminus_json_plain_parser.py").TerminusJSONPlainParser,
           "xml": load_module("txml", HARBOR / "agents/terminus_2/terminus_xml_plain_parser.py").TerminusXMLPlainParser}
TEMPLATES = {"json": HARBOR / "agents/terminus_2/templates/terminus-json-plain.txt", "xml": HARBOR / "agents/terminus_2/templates/terminus-xml-plain.txt"}


def json_reply(analysis, plan, commands, complete=False):
    r = {"analysis": analysis, "plan": plan, "commands": [{"keystrokes": k, "duration": d} for k, d in commands]}
    if complete: r["task_complete"] = True
    return json.dumps(r, indent=2)


def xml_reply(analysis, plan, commands, complete=False):
    cmds = "".join(f'<keystrokes duration="{d}">{k}</keystrokes>\n' for k, d in commands)
    return (f"<response>\n<analysis>\n{analysis}\n</analysis>\n<plan>\n{plan}\n</plan>\n<commands>\n{cmds}</commands>\n"
            + ("<task_complete>true</task_complete>\n" if complete else "") + "</response>")


def completion_message(parser, out):  # Terminus2._get_completion_confirmation_message
    again = '"task_complete": true in your JSON response again.' if parser == "json" else "<task_complete>true</task_complete> again."
    return (f"Current terminal state:\n{out}\n\nAre you sure you want to mark the task as complete? This will trigger your "
            f"solution to be graded and you won't be able to make any further corrections. If so, include {again}")


class Terminus:
    "The parts of Terminus2's loop that write trajectory steps, fed with scripted (reply, reasoning, terminal output)."
    def __init__(self, parser="json", raw_content=False, session="t2-session", linear=False, agent_dir=None):
        self.parser_name, self.raw, self.parser, self.session = parser, raw_content, PARSERS[parser](), session
        self.steps, self.pending_completion, self.episode, self.summ = [], False, 0, 0
        self.pending_refs, self.handoff, self.linear, self.agent_dir, self.chat, self.prompt = None, None, linear, agent_dir, [], None

    def start(self, instruction, terminal):
        prompt = TEMPLATES[self.parser_name].read_text().format(instruction=instruction, terminal_state=terminal)
        self.steps.append(Step(step_id=1, timestamp=ts(0), source="user", message=prompt))
        self.prompt = prompt
        return prompt

    def turn(self, reply, terminal_output, reasoning=None):
        "One episode: parse the reply with Harbor's parser and record the step as _run_agent_loop does."
        episode = self.episode; self.episode += 1
        self.chat += [{"role": "user", "content": self.prompt}, {"role": "assistant", "content": reply}]  # Chat.chat(prompt)
        r = self.parser.parse_response(reply)
        feedback = ""
        if r.error:
            feedback += f"ERROR: {r.error}"
            if r.warning: feedback += f"\nWARNINGS: {r.warning}"
        elif r.warning: feedback += f"WARNINGS: {r.warning}"
        if self.pending_refs:
            self.steps.append(Step(step_id=len(self.steps) + 1, timestamp=ts(len(self.steps)), source="system",
                                   message="Performed context summarization and handoff to continue task.",
                                   observation=Observation(results=[ObservationResult(subagent_trajectory_ref=self.pending_refs)]),
                                   extra={"context_management": {"type": "compaction", "boundary": "replace"}}))
            self.pending_refs = None
        if self.handoff:
            if self.linear:  # _split_trajectory_on_summarization: dump this segment, continue from the chat as copied context
                self.dump(self.agent_dir, continued="trajectory.cont-1.json")
                self.session = f"{self.session.split('-cont-')[0]}-cont-{self.summ}"
                self.steps = [Step(step_id=i, source="agent" if m["role"] == "assistant" else m["role"], message=m["content"], is_copied_context=True,
                                   **({"model_name": MODEL} if m["role"] == "assistant" else {})) for i, m in enumerate(self.chat[:-1], 1)]
            else: self.steps.append(Step(step_id=len(self.steps) + 1, timestamp=ts(len(self.steps)), source="user", message=self.handoff))
            self.handoff = None
        message = reply if self.raw else "\n".join(p for p in ([f"Analysis: {r.analysis}"] if r.analysis else []) + ([f"Plan: {r.plan}"] if r.plan else []))
        metrics = Metrics(prompt_tokens=900 + 50 * episode, completion_tokens=120)
        if feedback and "ERROR:" in feedback:
            err = f"Previous response had parsing errors:\n{feedback}\n\nPlease fix these issues and provide a proper {'JSON response' if self.parser_name == 'json' else 'response'}."
            self.steps.append(Step(step_id=len(self.steps) + 1, timestamp=ts(len(self.steps)), source="agent", model_name=MODEL,
                                   message=reply, reasoning_content=reasoning,
                                   observation=Observation(results=[ObservationResult(content=err)]), metrics=metrics))
            self.prompt = err
            return err
        commands = [(c.keystrokes, min(c.duration, 60)) for c in r.commands]
        was_pending = self.pending_completion
        if r.is_task_complete:
            if self.pending_completion: observation = terminal_output
            else: self.pending_completion = True; observation = completion_message(self.parser_name, terminal_output)
        else:
            self.pending_completion = False
            observation = f"Previous response had warnings:\n{feedback}\n\n{terminal_output}" if feedback and "WARNINGS:" in feedback else terminal_output
        tool_calls, results = None, []
        if not self.raw:
            calls = [ToolCall(tool_call_id=f"call_{episode}_{i + 1}", function_name="bash_command",
                              arguments={"keystrokes": k, "duration": d}) for i, (k, d) in enumerate(commands)]
            if commands:
                results.append(ObservationResult(source_call_id=f"call_{episode}_1" if len(commands) == 1 else None, content=observation))
            if r.is_task_complete:
                calls.append(ToolCall(tool_call_id=f"call_{episode}_task_complete", function_name="mark_task_complete", arguments={}))
                if not commands: results.append(ObservationResult(content=observation))
            elif not commands: results.append(ObservationResult(content=observation))
            tool_calls = calls or None
        else: results.append(ObservationResult(content=observation))
        self.steps.append(Step(step_id=len(self.steps) + 1, timestamp=ts(len(self.steps)), source="agent", model_name=MODEL,
                               message=message, reasoning_content=reasoning, tool_calls=tool_calls,
                               observation=Observation(results=results), metrics=metrics))
        self.prompt = observation
        return observation

    def subagent(self, agent_dir, suffix, steps, prompt, response, reasoning=None):
        "Terminus2._run_subagent + _save_subagent_trajectory: prompt step, response step, file."
        steps = list(steps)
        steps.append(Step(step_id=len(steps) + 1, timestamp=ts(50), source="user", message=prompt))
        steps.append(Step(step_id=len(steps) + 1, timestamp=ts(51), source="agent", model_name=MODEL, message=response,
                          reasoning_content=reasoning, metrics=Metrics(prompt_tokens=2000, completion_tokens=300)))
        sid = f"{self.session}-summarization-{self.summ}-{suffix}"
        traj = Trajectory(session_id=sid, agent=Agent(name=f"terminus-2-summarization-{suffix}", version="unknown", model_name=MODEL,
                                                      extra={"parent_session_id": self.session, "summarization_index": self.summ}),
                          steps=steps, final_metrics=FinalMetrics(total_prompt_tokens=2000, total_completion_tokens=300, total_cached_tokens=0))
        path = agent_dir / f"trajectory.summarization-{self.summ}-{suffix}.json"
        path.write_text(format_trajectory_json(traj.to_json_dict()))
        return SubagentTrajectoryRef(session_id=sid, trajectory_path=path.name, extra={"summary": f"Context summarization {self.summ}: {suffix}"})

    def copied(self, n):  # _prepare_copied_trajectory_steps
        out = [s.model_copy(deep=True) for s in self.steps[:n]]
        for s in out:
            s.is_copied_context = True
            if s.metrics:
                s.metrics = None; s.extra = (s.extra or {}) | {"note": "Metrics omitted to avoid duplication - already recorded in parent trajectory"}
        return out

    def summarize(self, agent_dir, instruction, screen, summary, questions, answers):
        "Terminus2._summarize: three subagent files, then the handoff on the next turn."
        self.summ += 1
        n = len(self.steps)
        summary_prompt = f"You are about to hand off your work to another AI agent.\nOriginal Task: {instruction}\nPlease summarize."
        refs = [self.subagent(agent_dir, "summary", self.copied(n), summary_prompt, summary)]
        question_prompt = (f"You are picking up work from a previous AI agent on this task:\n\n**Original Task:** {instruction}\n\n"
                           f"**Summary from Previous Agent:**\n{summary}\n\n**Current Terminal Screen:**\n{screen}\n\nPlease begin by asking several questions.")
        refs.append(self.subagent(agent_dir, "questions", [], question_prompt, questions))
        ans_steps = self.copied(n) + [Step(step_id=n + 1, timestamp=ts(52), source="user", message=summary_prompt, is_copied_context=True),
                                      Step(step_id=n + 2, timestamp=ts(53), source="agent", model_name=MODEL, message=summary, is_copied_context=True,
                                           extra={"note": "Copied from summary subagent - metrics already recorded there"})]
        refs.append(self.subagent(agent_dir, "answers", ans_steps,
                                  "The next agent has a few questions for you, please answer each of them one by one in detail:\n\n" + questions, answers))
        self.pending_refs = refs
        self.chat = [self.chat[0], {"role": "user", "content": question_prompt}, {"role": "assistant", "content": questions}]
        self.handoff = self.prompt = ("Here are the answers the other agent provided.\n\n" + answers + "\n\nContinue working on this task from where the previous agent left off."
                        " You can no longer ask questions. Please follow the spec to interact with the terminal.")
        return dict(summary_prompt=summary_prompt, question_prompt=question_prompt, handoff=self.handoff)

    def dump(self, agent_dir, continued=None):  # _dump_trajectory_with_continuation_index
        cont = self.summ if self.linear and continued is None else 0
        extra = {"parser": self.parser_name, **({"continuation_index": cont} if cont else {})}
        traj = Trajectory(session_id=self.session, agent=Agent(name="terminus-2", version="unknown", model_name=MODEL, extra=extra),
                          steps=self.steps, final_metrics=FinalMetrics(total_prompt_tokens=5000, total_completion_tokens=800, total_cached_tokens=0),
                          continued_trajectory_ref=continued)
        (agent_dir / (f"trajectory.cont-{cont}.json" if cont else "trajectory.json")).write_text(format_trajectory_json(traj.to_json_dict()))


def terminus_trial(job, tasks, name, task, parser, raw=False):
    d, _ = write_trial(job, name, "terminus-2", str(task), reward=1.0, kwargs={"parser_name": parser, **({"trajectory_config": {"raw_content": True}} if raw else {})})
    mk = json_reply if parser == "json" else xml_reply
    t = Terminus(parser, raw, session=f"{name}-session")
    t.start("Create hello.txt containing 'Hello, world!' and count the lines of data.csv.", "root@box:/app# ")
    turns = [
        (mk("The directory is empty apart from data.csv.", "Write hello.txt and count the csv lines in one batch.",
            [("echo 'Hello, world!' > hello.txt\n", 0.1), ("wc -l data.csv\n", 0.1)]), "I need two commands.",
         "root@box:/app# echo 'Hello, world!' > hello.txt\nroot@box:/app# wc -l data.csv\n42 data.csv\nroot@box:/app# "),
        ("Sure! I will now check the file {analysis: broken", "The model forgot the format.", None),
        (mk("hello.txt was written.", "Check its content.", [("cat hello.txt\n", 0.1)]), None,
         "root@box:/app# cat hello.txt\nHello, world!\nroot@box:/app# "),
        (mk("Both parts are done.", "Mark the task complete.", [], complete=True), "Done.", "root@box:/app# "),
        (mk("Confirmed: hello.txt exists and data.csv has 42 lines.", "Complete.", [], complete=True), None, "root@box:/app# "),
    ]
    script = []
    for reply, reasoning, out in turns:
        user = t.turn(reply, out or "", reasoning)
        script.append(dict(reply=reply, reasoning=reasoning, next_user=user, parse_error=out is None))
    t.dump(d / "agent")
    SCRIPT[name] = dict(agent="terminus-2", parser=parser, raw_content=raw, prompt=t.steps[0].message, turns=script)


def terminus_summarization_trial(job, tasks, name, task, linear=False):
    d, _ = write_trial(job, name, "terminus-2", str(task), reward=1.0,
                       kwargs={"parser_name": "json", **({"trajectory_config": {"linear_history": True}} if linear else {})})
    t = Terminus("json", False, session=f"{name}-session", linear=linear, agent_dir=d / "agent")
    instruction = "Fix the failing build in /app/src."
    t.start(instruction, "root@box:/app# ")
    r1 = json_reply("Build fails.", "Look at the error.", [("make 2>&1 | tail -5\n", 5.0)])
    t.turn(r1, "root@box:/app# make 2>&1 | tail -5\nerror: missing header foo.h\nroot@box:/app# ", "Start with the build log.")
    info = t.summarize(d / "agent", instruction, "root@box:/app# ", summary="I ran make; foo.h is missing.",
                       questions="1. Where should foo.h live?\n2. Is there a template?", answers="1. In src/include.\n2. Yes, foo.h.in.")
    r2 = json_reply("Continuing after handoff.", "Create the header from its template.", [("cp src/include/foo.h.in src/include/foo.h && make\n", 10.0)])
    t.turn(r2, "root@box:/app# cp src/include/foo.h.in src/include/foo.h && make\nbuild ok\nroot@box:/app# ")
    r3 = json_reply("Build passes.", "Done.", [], complete=True)
    t.turn(r3, "root@box:/app# "); r4 = json_reply("Build passes, confirmed.", "Done.", [], complete=True); t.turn(r4, "root@box:/app# ")
    t.dump(d / "agent")
    SCRIPT[name] = dict(agent="terminus-2", parser="json", replies=[r1, r2, r3, r4], summary="I ran make; foo.h is missing.",
                        questions="1. Where should foo.h live?\n2. Is there a template?", answers="1. In src/include.\n2. Yes, foo.h.in.", **info)


# ---------------------------------------------------------------- claude-code (native session log -> Harbor's converter)
class Session:
    "Claude Code's session JSONL events: one event per content block of a streamed message, threaded by uuid."
    def __init__(self, sid, sidechain=False, agent_id=None):
        self.sid, self.side, self.agent_id, self.events, self.parent, self.i = sid, sidechain, agent_id, [], None, 0
    def _ev(self, typ, message, t, **extra):
        e = {"parentUuid": self.parent, "isSidechain": self.side, "userType": "external", "cwd": "/app", "sessionId": self.sid,
             "version": "2.0.76", "gitBranch": "", **({"agentId": self.agent_id} if self.agent_id else {}), "type": typ,
             "message": message, "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.sid}/{self.agent_id}/{len(self.events)}")), "timestamp": ts(t), **extra}
        self.parent = e["uuid"]; self.events.append(e); return e
    def user(self, text, t): self._ev("user", {"role": "user", "content": text}, t)
    def assistant(self, msg_id, blocks, t, model="claude-sonnet-4-5-20250929"):
        for b in blocks:  # each content block is its own event sharing message.id, as Claude Code streams them
            self._ev("assistant", {"model": model, "id": msg_id, "type": "message", "role": "assistant", "content": [b], "stop_reason": None,
                                   "stop_sequence": None, "usage": {"input_tokens": 12, "cache_read_input_tokens": 3000, "output_tokens": 80}},
                     t, requestId=f"req_{msg_id}")
    def result(self, call_id, content, t, tool_use_result=None, is_error=False):
        self._ev("user", {"role": "user", "content": [{"tool_use_id": call_id, "type": "tool_result", "content": content, "is_error": is_error}]},
                 t, **({"toolUseResult": tool_use_result} if tool_use_result is not None else {}))
    def write(self, path): path.parent.mkdir(parents=True, exist_ok=True); path.write_text("".join(json.dumps(e) + "\n" for e in self.events))


def claude_code_trial(job, tasks, name, task):
    from harbor.agents.installed.claude_code import ClaudeCode
    d, _ = write_trial(job, name, "claude-code", str(task), reward=1.0)
    sid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    s, sub = Session(sid), Session(sid, sidechain=True, agent_id="a1b2c3d")
    task_text = "Fix the bug in requests/sessions.py where method is converted with builtin_str."
    s.user(task_text, 1)
    s.assistant("msg_01", [{"type": "thinking", "thinking": "Find where method is converted.", "signature": "sig1"},
                           {"type": "text", "text": "I'll look at the code and the tests."},
                           {"type": "tool_use", "id": "toolu_01", "name": "Grep", "input": {"pattern": "builtin_str", "path": "requests"}},
                           {"type": "tool_use", "id": "toolu_02", "name": "Bash", "input": {"command": "ls tests", "description": "List tests"}}], 2)
    s.result("toolu_01", "requests/sessions.py:428:        method = builtin_str(method)", 3)
    s.result("toolu_02", "test_requests.py\ntest_utils.py", 4, {"stdout": "test_requests.py\ntest_utils.py", "stderr": "", "interrupted": False, "isImage": False})
    s.assistant("msg_02", [{"type": "tool_use", "id": "toolu_03", "name": "Task",
                            "input": {"description": "Find tests", "prompt": "Find tests that cover method conversion.", "subagent_type": "Explore"}}], 5)
    sub.user("Find tests that cover method conversion.", 6)
    sub.assistant("msg_s1", [{"type": "thinking", "thinking": "Search the tests.", "signature": "sig2"},
                             {"type": "tool_use", "id": "toolu_s1", "name": "Grep", "input": {"pattern": "method", "path": "tests"}}], 7, model="claude-haiku-4-5")
    sub.result("toolu_s1", "tests/test_requests.py:88: def test_binary_method", 8)
    sub.assistant("msg_s2", [{"type": "text", "text": "test_binary_method in tests/test_requests.py covers it."}], 9, model="claude-haiku-4-5")
    s.result("toolu_03", [{"type": "text", "text": "test_binary_method in tests/test_requests.py covers it."}], 10,
             {"status": "completed", "totalDurationMs": 4000})
    s.assistant("msg_03", [{"type": "tool_use", "id": "toolu_04", "name": "Edit",
                            "input": {"file_path": "/app/requests/sessions.py", "old_string": "method = builtin_str(method)", "new_string": "method = to_native_string(method)"}}], 11)
    s.result("toolu_04", "The file /app/requests/sessions.py has been updated.", 12, {"filePath": "/app/requests/sessions.py", "oldString": "method = builtin_str(method)"})
    s.assistant("msg_04", [{"type": "thinking", "thinking": "Run the test.", "signature": "sig3"},
                           {"type": "tool_use", "id": "toolu_05", "name": "Bash", "input": {"command": "pytest -q tests -k binary"}}], 13)
    s.result("toolu_05", "1 passed", 14, {"stdout": "1 passed", "stderr": "", "interrupted": False, "isImage": False})
    s.assistant("msg_05", [{"type": "text", "text": "Fixed: method is now converted with to_native_string."}], 15)
    sessions = d / "agent" / "sessions" / "projects" / "-app"
    s.write(sessions / f"{sid}.jsonl"); sub.write(sessions / sid / "subagents" / "agent-a1b2c3d.jsonl")
    (d / "agent" / "claude-code.txt").write_text(json.dumps({"type": "result", "subtype": "success", "total_cost_usd": 0.0412, "session_id": sid}) + "\n")
    agent = ClaudeCode(logs_dir=d / "agent", model_name=MODEL, skip_model_parsing=True)
    agent.populate_context_post_run(AgentContext())
    SCRIPT[name] = dict(agent="claude-code", session=sid, task=task_text,
                        main_calls=["toolu_01", "toolu_02", "toolu_03", "toolu_04", "toolu_05"], sub_calls=["toolu_s1"],
                        final="Fixed: method is now converted with to_native_string.",
                        results={"toolu_01": "requests/sessions.py:428:        method = builtin_str(method)", "toolu_02": "test_requests.py\ntest_utils.py",
                                 "toolu_05": "1 passed"})


# ---------------------------------------------------------------- opencode (opencode.txt events -> Harbor's converter)
def opencode_trial(job, tasks, name, task_path, reward=1.0):
    from harbor.agents.installed.opencode import OpenCode
    d, _ = write_trial(job, name, "opencode", task_path, reward=reward)
    sid = "ses_" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:20]
    ms = lambda i: int((T0 + timedelta(seconds=5 * i)).timestamp() * 1000)
    ev = lambda typ, i, part=None, **kw: {"type": typ, "timestamp": ms(i), "sessionID": sid, **({"part": part} if part is not None else {}), **kw}
    instruction = "Make the script fix.sh executable and run it."
    tool = lambda cid, tool, inp, out: {"id": "prt_" + cid, "sessionID": sid, "messageID": "msg_x", "type": "tool", "callID": cid, "tool": tool,
                                        "state": {"status": "completed", "input": inp, "output": out, "title": tool, "metadata": {}, "time": {"start": 1, "end": 2}}}
    finish = lambda i: ev("step_finish", i, {"type": "step-finish", "reason": "tool-calls" if i < 9 else "stop", "cost": 0.001,
                                              "tokens": {"input": 1200, "output": 90, "reasoning": 20, "cache": {"read": 0, "write": 0}}})
    events = [ev("user", 0, parts=[{"type": "text", "text": instruction}]),
              ev("step_start", 1, {"type": "step-start"}),
              ev("reasoning", 1, {"type": "reasoning", "text": "Check the file mode first."}),
              ev("text", 1, {"type": "text", "text": "Let me look at fix.sh."}),
              ev("tool_use", 2, tool("call_oc1", "bash", {"command": "ls -l fix.sh", "description": "Show mode"}, "-rw-r--r-- 1 root root 20 fix.sh")),
              ev("tool_use", 2, tool("call_oc2", "read", {"filePath": "/app/fix.sh"}, "<file>\n00001| #!/bin/sh\n00002| echo fixed\n</file>")),
              finish(3),
              ev("step_start", 4, {"type": "step-start"}),
              ev("tool_use", 5, tool("call_oc3", "bash", {"command": "chmod +x fix.sh && ./fix.sh", "description": "Run it"}, "fixed")),
              finish(6),
              ev("step_start", 7, {"type": "step-start"}),
              ev("text", 8, {"type": "text", "text": "fix.sh is executable and printed 'fixed'."}),
              finish(9)]
    (d / "agent" / "opencode.txt").write_text("Performing one time database migration...\n" + "".join(json.dumps(e) + "\n" for e in events))
    agent = OpenCode(logs_dir=d / "agent", model_name=MODEL, skip_model_parsing=True)
    agent.populate_context_post_run(AgentContext())
    SCRIPT[name] = dict(agent="opencode", instruction=instruction, calls=["call_oc1", "call_oc2", "call_oc3"],
                        results={"call_oc1": "-rw-r--r-- 1 root root 20 fix.sh", "call_oc2": "<file>\n00001| #!/bin/sh\n00002| echo fixed\n</file>", "call_oc3": "fixed"},
                        reasoning="Check the file mode first.", final="fix.sh is executable and printed 'fixed'.")


# ---------------------------------------------------------------- openhands-sdk (the runner's build_trajectory)
def runner_build_trajectory():
    "Harbor's `build_trajectory` from openhands_sdk_runner.py, compiled from the wheel's source on its own."
    src = (HARBOR / "agents/installed/openhands_sdk_runner.py").read_text()
    fn = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "build_trajectory")
    ns = {"os": os, "Any": object}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "openhands_sdk_runner.py", "exec"), ns)
    return ns["build_trajectory"]


OH_TOOLS = [{"type": "function", "function": {"name": n, "description": f"The {n} tool.", "parameters": {"type": "object", "properties": p, "required": list(p)[:1]}}}
            for n, p in [("terminal", {"command": {"type": "string"}, "is_input": {"type": "boolean"}}),
                         ("file_editor", {"command": {"type": "string"}, "path": {"type": "string"}, "old_str": {"type": "string"}, "new_str": {"type": "string"}}),
                         ("task_tracker", {"command": {"type": "string"}}), ("finish", {"message": {"type": "string"}}), ("think", {"thought": {"type": "string"}})]]
OH_SYSTEM = "You are OpenHands agent, a helpful AI assistant that can interact with a computer to solve tasks."


def openhands_events(kind):
    "The runner's event dicts as it extracts them from SDK MessageEvent / ActionEvent / ObservationEvent (AgentErrorEvent is not extracted)."
    user = lambda c: {"type": "user_message", "content": c, "timestamp": ts(0)}
    act = lambda i, cid, n, a: {"type": "assistant_message", "content": "", "timestamp": ts(i), "tool_calls": [{"id": cid, "name": n, "arguments": a}]}
    obs = lambda i, cid, c: {"type": "tool_result", "tool_call_id": cid, "content": c, "timestamp": ts(i)}
    ev = [user("Fix the off-by-one error in counter.py so that tests pass.")]
    ev += [act(1, "call_a", "terminal", {"command": "cat counter.py", "is_input": False}),  # parallel calls of one LLM response:
           act(1, "call_b", "terminal", {"command": "pytest -q", "is_input": False}),      # one ActionEvent each, then their observations
           obs(2, "call_a", "def count(n):\n    return range(n - 1)"), obs(3, "call_b", "1 failed")]
    ev += [act(4, "call_c", "file_editor", {"command": "str_replace", "path": "/app/counter.py", "old_str": "range(n - 1", "new_str": "range(n"})]
    if kind == "timeout":  # the agent was killed while this call ran: no observation
        return ev + [obs(5, "call_c", "The file /app/counter.py has been edited."),
                     act(6, "call_t", "terminal", {"command": "pytest -q", "is_input": False})]
    ev += [obs(5, "call_c", "The file /app/counter.py has been edited."),
           act(6, "call_bad", "file_editor", {"command": "view", "path": 7})]  # AgentErrorEvent: no ObservationEvent
    ev += [act(7, "call_d", "terminal", {"command": "pytest -q", "is_input": False}), obs(8, "call_d", "3 passed")]
    if kind == "nonzero":  # the process exited non-zero right after the last call: never answered
        return ev + [act(9, "call_e", "terminal", {"command": "git diff", "is_input": False})]
    return ev + [act(9, "call_f", "finish", {"message": "Fixed the off-by-one error; tests pass."}),
                 obs(10, "call_f", "Fixed the off-by-one error; tests pass.")]


def openhands_trial(job, tasks, name, task, kind="ok", reward=1.0, exception=None, agent_dir=None):
    d, _ = write_trial(job, name, "openhands-sdk", str(task), reward=reward, exception=exception)
    agent_dir = agent_dir or d / "agent"
    agent_dir.mkdir(parents=True, exist_ok=True)
    traj = runner_build_trajectory()(openhands_events(kind), {"prompt_tokens": 5000, "completion_tokens": 400}, MODEL, OH_SYSTEM, OH_TOOLS)
    (agent_dir / "trajectory.json").write_text(json.dumps(traj, indent=2))
    (agent_dir / "instruction.txt").write_text("Fix the off-by-one error in counter.py so that tests pass.")
    (agent_dir / "openhands_sdk.txt").write_text("Starting agent with instruction: Fix the off-by-one error...\nCaptured 5 tool definitions\n")
    SCRIPT.setdefault(name, dict(agent="openhands-sdk", kind=kind, events=openhands_events(kind)))
    return d


def multi_step_trial(job, tasks, name, task):
    "A multi-step task: each step's logs under steps/<step>/agent/ (no agent/ at the trial root)."
    from harbor.models.trial.result import StepResult
    steps = [StepResult(step_name=n, verifier_result=VerifierResult(rewards={"reward": 1.0})) for n in ("setup", "solve")]
    d, _ = write_trial(job, name, "openhands-sdk", str(task), reward=1.0, agent_dir=False, steps=steps)
    for n in ("setup", "solve"):
        a = d / "steps" / n / "agent"; a.mkdir(parents=True)
        traj = runner_build_trajectory()(openhands_events("ok"), {"prompt_tokens": 10}, MODEL, OH_SYSTEM, OH_TOOLS)
        traj["steps"][1]["message"] = f"[{n}] " + traj["steps"][1]["message"]
        (a / "trajectory.json").write_text(json.dumps(traj, indent=2))
        (d / "steps" / n / "verifier").mkdir(); (d / "steps" / n / "verifier" / "reward.txt").write_text("1.0\n")
    SCRIPT[name] = dict(agent="openhands-sdk", steps=["setup", "solve"])


def main(out):
    out = Path(out); job, tasks = out / "job", out / "tasks"
    job.mkdir(parents=True); tasks.mkdir()
    meta = lambda cat: {"author_name": "fixtures", "difficulty": "easy", "category": cat, "tags": ["harbor025"]}
    hello, req, build, perms, counter, multi = (write_task(tasks, n, meta(c)) for n, c in
        [("hello-world", "file-operations"), ("psf__requests-2317", "bugfix"), ("fix-build", "build"), ("fix-permissions", "system"),
         ("counter-off-by-one", "bugfix"), ("two-step-setup", "multi-step")])
    terminus_trial(job, tasks, "hello-world__T2json1", hello, "json")
    terminus_trial(job, tasks, "hello-world__T2xml02", hello, "xml")
    terminus_trial(job, tasks, "hello-world__T2raw03", hello, "json", raw=True)
    terminus_summarization_trial(job, tasks, "fix-build__T2sum04", build)
    terminus_summarization_trial(job, tasks, "fix-build__T2lin06", build, linear=True)  # linear_history: trajectory.cont-1.json
    claude_code_trial(job, tasks, "psf__requests-2317__Cc00001", req)
    opencode_trial(job, tasks, "fix-permissions__Oc00001", str(perms))
    opencode_trial(job, tasks, "fix-permissions__OcRel02", "datasets/terminal-bench/fix-permissions")  # relative to Harbor's cwd
    openhands_trial(job, tasks, "counter-off-by-one__Oh00001", counter)
    openhands_trial(job, tasks, "counter-off-by-one__OhNz002", counter, kind="nonzero", reward=1.0,
                    exception=("NonZeroAgentExitCodeError", "Agent command exited with code 1"))
    openhands_trial(job, tasks, "counter-off-by-one__OhTo003", counter, kind="timeout", reward=0.0,
                    exception=("AgentTimeoutError", "Agent execution timed out after 900.0 seconds"))
    multi_step_trial(job, tasks, "two-step-setup__OhMs004", multi)
    d, _ = write_trial(job, "psf__requests-2317__CcErr05", "claude-code", str(req),
                       exception=("EnvironmentStartTimeoutError", "Environment start timed out after 600 seconds"))
    results = [TrialResult.model_validate_json((p / "result.json").read_text()) for p in sorted(job.iterdir()) if (p / "result.json").exists()]
    stats = JobStats.from_trial_results(results, n_total_trials=len(results))
    jr = JobResult(id=uuid.uuid5(uuid.NAMESPACE_URL, "harbor025-job"), started_at=T0, finished_at=T0 + timedelta(hours=1),
                   n_total_trials=len(results), stats=stats)
    (job / "result.json").write_text(jr.model_dump_json(indent=4, exclude={"trial_results"}))
    (job / "config.json").write_text(json.dumps({"job_name": "harbor025", "n_attempts": 1}, indent=4))
    (out / "script.json").write_text(json.dumps(SCRIPT, indent=1))
    print(f"wrote {len(results)} trials to {job} with harbor from {HARBOR}")


if __name__ == "__main__":
    main(sys.argv[1])
