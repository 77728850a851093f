"""STEP 0 speed and memory against a floor, measured side by side in one run.

Generates a synthetic Harbor job (openhands-sdk and claude-code trials of 20-150 turns, tool outputs of realistic size,
the same largest trials in every size)
of about --size-mb megabytes, then measures, each in a fresh subprocess:
  floor    read every input file and JSON-parse only the records conversion needs
           (openhands-sdk: the last successful line of each log; claude-code: every line, since dedup needs them all)
  convert  sft_nb STEP 0 on the same job (IM JSONL + LF JSON + stats, with the demo model's tokenizer)
and prints trials/s, input MB/s, peak RSS and the ratio convert/floor (best of --repeat alternating runs, warm page cache).
`tokens s` is the time the tokenizer alone needs to count the tokens of every converted sample (render + count_batch in a
fresh process): STEP 0 must do that for the length stats, and the floor does not.

    python bench/convert.py --size-mb 100 1000
"""
import argparse, json, os, random, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path

WORDS = ("the of to and a in is it you that he was for on are with as I his they be at one have this from or had by hot word "
         "but what some we can out other were all there when up use your how said an each she which do their time if will way "
         "about many then them write would like so these her long make thing see him two has look more day could go come did "
         "number sound no most people my over know water than call first who may down side been now find def return self "
         "import class None True False value path file test assert error line module function").split()


def text(rng, n_chars):
    out, size = [], 0
    while size < n_chars:
        w = rng.choice(WORDS); out.append(w); size += len(w) + 1
    return " ".join(out)


def tool_output(rng):
    return "\n".join(f"{rng.randrange(1, 2000)}:    {text(rng, rng.randrange(30, 110))}" for _ in range(rng.randrange(5, 60)))


def oh_trial(rng, d, iid, turns):
    from sft_nb.model.demo import DEMO_TOOLS, DEMO_SYSTEM
    msgs = [{"role": "system", "content": DEMO_SYSTEM}, {"role": "user", "content": text(rng, 1500)}]
    with open(d / "agent" / "litellm-trajectory.jsonl", "w") as f:
        for i in range(turns):
            cid = f"call_{i}_{rng.randrange(10**9)}"
            last = i == turns - 1
            reply = {"role": "assistant", "content": None if not last else text(rng, 200), "reasoning_content": text(rng, rng.randrange(100, 600)),
                     "tool_calls": [{"id": cid, "type": "function", "function": {"name": "finish" if last else rng.choice(["terminal", "file_editor"]),
                                                                              "arguments": json.dumps({"command": text(rng, rng.randrange(20, 200))})}}]}
            rec = {"success": True, "request_time": i, "request_body": {"model": "m", "messages": msgs, "tools": DEMO_TOOLS, "temperature": 0.7},
                   "response_body": {"choices": [{"index": 0, "message": reply}], "usage": {"prompt_tokens": 1}}}
            f.write(json.dumps(rec) + "\n")
            if rng.random() < 0.03: f.write(json.dumps({"success": False, "request_time": i, "request_body": {"messages": msgs}}) + "\n")
            msgs = msgs + [reply] + ([] if last else [{"role": "tool", "tool_call_id": cid, "content": tool_output(rng)}])


CC_TOOLS = [{"name": n, "description": f"The {n} tool.", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}, "file_path": {"type": "string"}}}}
            for n in ("Bash", "Read", "Edit", "Write", "Grep", "Glob", "Task", "TodoWrite")]


def cc_trial(rng, d, iid, turns):
    system = [{"type": "text", "text": text(rng, 3000), "cache_control": {"type": "ephemeral"}}]
    msgs = [{"role": "user", "content": [{"type": "text", "text": text(rng, 1500)}]}]
    with open(d / "agent" / "litellm-trajectory.jsonl", "w") as f:
        for i in range(turns):
            last = i == turns - 1
            blocks = [{"type": "thinking", "thinking": text(rng, rng.randrange(100, 600)), "signature": "s" * 40}]
            if last: blocks.append({"type": "text", "text": text(rng, 200)})
            else: blocks.append({"type": "tool_use", "id": f"toolu_{i}", "name": rng.choice(["Bash", "Read", "Edit", "Grep"]), "input": {"command": text(rng, 80)}})
            sent = [dict(m) for m in msgs]
            if isinstance(sent[-1]["content"], list):  # the moving cache marker on the newest message
                sent[-1] = {**sent[-1], "content": [*sent[-1]["content"][:-1], {**sent[-1]["content"][-1], "cache_control": {"type": "ephemeral"}}]}
            rec = {"success": True, "request_time": 2 * i, "request_body": {"model": "claude", "system": system, "messages": sent, "tools": CC_TOOLS, "max_tokens": 32000},
                   "response_body": {"content": blocks, "usage": {"input_tokens": 1}}}
            f.write(json.dumps(rec) + "\n")
            if i % 15 == 5:  # a subagent side conversation of a few calls
                sub = [{"role": "user", "content": [{"type": "text", "text": "find " + text(rng, 100)}]}]
                for j in range(3):
                    sub_reply = [{"type": "tool_use", "id": f"toolu_s{i}_{j}", "name": "Grep", "input": {"command": text(rng, 40)}}]
                    f.write(json.dumps({"success": True, "request_time": 2 * i + 1, "request_body": {"model": "claude", "system": [{"type": "text", "text": "You search."}],
                            "messages": sub, "tools": [t for t in CC_TOOLS if t["name"] in ("Read", "Grep", "Glob")]}, "response_body": {"content": sub_reply}}) + "\n")
                    sub = sub + [{"role": "assistant", "content": sub_reply}, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_s{i}_{j}", "content": tool_output(rng)}]}]
            msgs = msgs + [{"role": "assistant", "content": blocks}]
            if not last: msgs.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": tool_output(rng)}]})


# Trial lengths cycle through this list, so a small job and a large one hold the same largest trials of each scaffold:
# peak memory then shows whether it grows with the number of trials (it must not), not with the luck of the draw.
TURNS = [150, 150, 20, 110, 45, 130, 70, 95, 30]


def make_job(dest: Path, size_mb: float, seed=0):
    "A Harbor job of about size_mb MB: half openhands-sdk, half claude-code trials."
    rng, total, n = random.Random(seed), 0, 0
    rewards = {"1.0": [], "0.0": []}
    while total < size_mb * 1e6:
        scaffold = "openhands-sdk" if n % 2 == 0 else "claude-code"
        iid = f"owner__repo-{n}"
        d = dest / f"{iid}__{rng.randrange(16**7):07x}"
        (d / "agent").mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"task": {"path": f"/tasks/{iid}"}, "agent": {"name": scaffold}}))
        reward = 1.0 if rng.random() < 0.7 else 0.0
        (d / "result.json").write_text(json.dumps({"verifier_result": {"rewards": {"reward": reward}}, "exception_info": None}))
        rewards[str(reward)].append(d.name)
        (oh_trial if scaffold == "openhands-sdk" else cc_trial)(rng, d, iid, TURNS[n % len(TURNS)])
        total += (d / "agent" / "litellm-trajectory.jsonl").stat().st_size
        n += 1
    (dest / "result.json").write_text(json.dumps({"stats": {"evals": {"bench": {"reward_stats": {"reward": rewards}}}}}))
    return n, total


FLOOR = r"""
import sys, orjson
from pathlib import Path
job = Path(sys.argv[1])
for d in sorted(p for p in job.iterdir() if p.is_dir()):
    agent = orjson.loads((d/"config.json").read_bytes())["agent"]["name"]
    orjson.loads((d/"result.json").read_bytes())
    data = (d/"agent"/"litellm-trajectory.jsonl").read_bytes()
    if agent == "claude-code":
        for line in data.splitlines(): orjson.loads(line)
    else:
        end = len(data)
        while True:
            start = data.rfind(b"\n", 0, end - 1) + 1
            rec = orjson.loads(data[start:end])
            if rec.get("success") is not False: break
            end = start
"""

TOKENIZE = r"""
import json, sys
from sft_nb.render.template import ChatRenderer
r = ChatRenderer(sys.argv[1])
texts = [r.render(rec["messages"], rec["tools"]) for rec in map(json.loads, open(sys.argv[2]))]
r.count_batch(texts)
"""

CONVERT = r"""
import sys
from sft_nb.config.schema import load_config
from sft_nb.data.convert import convert
cfg = load_config(sys.argv[1], [f"source.job_dir={sys.argv[2]}", "source.scaffold=auto", "conversion.data_name=bench", "training.cutoff_len=65536"], run_name="bench")
rep = convert(cfg, quiet=True, force=True)
assert rep.kept == rep.seen, rep.table()
"""


def measure(code, *args):
    "Wall seconds and peak RSS (MB) of `python -c code args` in a fresh process."
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    if status: raise RuntimeError(f"benchmark child failed with status {status}")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, nargs="+", default=[100.0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the generated jobs")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sft_nb_bench_"))
    (work / "config.yaml").write_text("runtime_info:\n  input:\n    source: {type: harbor_job, job_dir: demo}\n    conversion: {data_name: bench}\n")
    subprocess.run([sys.executable, "-c", f"from sft_nb.model.demo import ensure_demo; ensure_demo({str(work / 'artifacts')!r})"], check=True)
    print(f"{'size':>8} {'trials':>6} {'floor s':>8} {'conv s':>8} {'ratio':>6} {'tokens s':>9} {'trials/s':>9} {'MB/s':>7} {'floor RSS':>10} {'conv RSS':>9}")
    for size in args.size_mb:
        job = work / f"job_{int(size)}"
        n, total = make_job(job, size)
        subprocess.run(["cat", *map(str, job.rglob("*.jsonl"))], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        floors, convs = [], []
        for _ in range(args.repeat):  # alternate, so drift hits both sides alike
            floors.append(measure(FLOOR, job)); convs.append(measure(CONVERT, work / "config.yaml", job))
        (tf, rf), (tc, rc) = min(floors), min(convs)
        rf, rc = max(r for _, r in floors), max(r for _, r in convs)
        tt, _ = measure(TOKENIZE, work / "artifacts/demo/model", work / "artifacts/data/im_data/bench.jsonl")
        print(f"{total / 1e6:7.0f}M {n:6d} {tf:8.2f} {tc:8.2f} {tc / tf:6.2f} {tt:9.2f} {n / tc:9.1f} {total / 1e6 / tc:7.1f} {rf:9.0f}M {rc:8.0f}M", flush=True)
        if not args.keep: shutil.rmtree(job)
    if not args.keep: shutil.rmtree(work)


if __name__ == "__main__":
    main()
