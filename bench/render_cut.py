"""The segment cut against today's ChatML rendering, side by side: is finding the model's turn boundaries linear in turns?

On the longest conversation of the demo job, and on the same conversation with its tool turns repeated x2, x4, x8, x16, x32
(so that it has up to ~250 turns), measures per conversation (best of --repeat, warm):
  chatml   render once with the chat template + split on ChatML markers (the renderer before the family registry)
  cut      sft_nb.render.template.render_call: render the last call's prompt and the full conversation, find the earlier replies with
           the family's turn expression in one pass, cut into prompt/response segments
and prints ms, ms per turn, and the ratio cut/chatml. Linear means ms per turn stays flat as turns grow.

    python bench/render_cut.py
"""
import argparse, re, sys, tempfile, time
from pathlib import Path
from sft_nb.model.demo import ensure_demo
from sft_nb.render.template import ChatRenderer, render_call
from sft_nb.core.rejects import Rejected
from sft_nb.sources.harbor.scaffolds import iter_job
from sft_nb.sources.harbor.agent_logs import ReadOptions, trial_reader

TURN = re.compile(r"<\|im_start\|>(system|user|assistant)\n(.*?)<\|im_end\|>\n?", re.S)


def chatml_render(r, messages, tools):
    "The rendering before the family registry: one render, split on ChatML markers."
    text = r.render(messages, tools)
    return [m.groups() for m in TURN.finditer(text)]


def best(f, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return min(ts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    paths = ensure_demo(Path(tempfile.mkdtemp()) / "artifacts")
    r = ChatRenderer(paths["model"])
    convs = [c for _, _, cs, _ in iter_job(paths["job"], "openhands-sdk", "all", None, "adaptive", 0.2, trial_reader(ReadOptions())) if not isinstance(cs, Rejected) for c, _ in cs]
    conv = max(convs, key=lambda c: len(c["messages"]))
    head, body, last = conv["messages"][:2], conv["messages"][2:-1], conv["messages"][-1:]
    print(f"longest demo conversation: {len(conv['messages'])} messages; repeated tool turns below")
    print(f"{'x':>3} {'messages':>9} {'chatml ms':>10} {'cut ms':>8} {'chatml ms/turn':>15} {'cut ms/turn':>12} {'cut/chatml':>11}")
    for k in (1, 2, 4, 8, 16, 32):
        msgs = head + body * k + last
        a = best(lambda: chatml_render(r, msgs, conv["tools"]), args.repeat)
        b = best(lambda: render_call(r, msgs, conv["tools"]), args.repeat)
        n = len(msgs)
        print(f"{k:>3} {n:>9} {a * 1e3:>10.2f} {b * 1e3:>8.2f} {a * 1e3 / n:>15.4f} {b * 1e3 / n:>12.4f} {b / a:>10.2f}x")


if __name__ == "__main__":
    sys.exit(main())
