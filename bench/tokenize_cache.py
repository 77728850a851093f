"""The tokenize step against LLaMA-Factory's own preprocessing at launch, measured side by side in one run.

Builds a synthetic Harbor job (bench/convert.py's generator) of about --size-mb MB, converts and registers it, then
measures, each in a fresh process (best of --repeat, alternating):
  lf_launch   LLaMA-Factory's own preprocessing as `llamafactory-cli train` does it at launch without a cache
              (get_train_args, load_tokenizer, template, get_dataset; preprocessing_num_workers from sft_nb's YAML)
  tokenize    sft_nb's tokenize step (the same get_dataset on every core, saved for `tokenized_path`, stats sidecar)
  load        what a launch with the cache does instead (get_dataset finds `tokenized_path` and loads it)
and then launch-to-first-step: `llamafactory-cli train` with max_steps 1 on the generated YAML, without and with
`tokenized_path` (wall seconds until the process ends after its first optimizer step).

    python bench/tokenize_cache.py --size-mb 50
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent)); sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from convert import make_job

SETUP = r"""
import sys
from sft_nb.config.schema import load_config
from sft_nb.pipeline import run_pipeline
cfg = load_config(sys.argv[1], [f"source.job_dir={sys.argv[2]}", "source.scaffold=auto", "conversion.data_name=bench", f"training.cutoff_len={sys.argv[3]}"], run_name="bench")
run_pipeline(cfg, ("convert", "register"), quiet=True)
"""

LF_LAUNCH = r"""
import json, sys
from llamafactory.hparams import get_train_args
from llamafactory.model import load_tokenizer
from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
args = json.loads(open(sys.argv[1]).read())
m, d, t, f, _ = get_train_args(args)
tok = load_tokenizer(m)
get_dataset(get_template_and_fix_tokenizer(tok["tokenizer"], d), m, d, t, stage="sft", **tok)
"""

TOKENIZE = r"""
import json, shutil, sys
from sft_nb.config.schema import load_config
from sft_nb.data.tokenized import ensure_tokenized, tokenized_root
cfg = load_config(sys.argv[1], [f"source.job_dir={sys.argv[2]}", "source.scaffold=auto", "conversion.data_name=bench", f"training.cutoff_len={sys.argv[3]}"], run_name="bench")
shutil.rmtree(tokenized_root(cfg), ignore_errors=True)
print("CACHE=" + str(ensure_tokenized(cfg, quiet=True)))
"""


def measure(argv, env=None):
    "Wall seconds and stdout of a fresh process."
    t0 = time.perf_counter()
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env)
    if p.returncode: raise RuntimeError(f"{argv[:3]} failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return time.perf_counter() - t0, p.stdout + p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=30.0)
    ap.add_argument("--cutoff", type=int, default=16384)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    py, work = sys.executable, Path(tempfile.mkdtemp(prefix="sft_nb_tok_"))
    env = {**os.environ, "DISABLE_VERSION_CHECK": "1", "TOKENIZERS_PARALLELISM": "true"}
    (work / "config.yaml").write_text("runtime_info:\n  input:\n    source: {type: harbor_job, job_dir: demo}\n    conversion: {data_name: bench}\n"
                                      "    training: {max_steps: 1, per_device_train_batch_size: 1, save_steps: 1000, logging_steps: 1}\n")
    subprocess.run([py, "-c", f"from sft_nb.model.demo import ensure_demo; ensure_demo({str(work / 'artifacts')!r})"], check=True)
    n, total = make_job(work / "job", a.size_mb)
    subprocess.run([py, "-c", SETUP, str(work / "config.yaml"), str(work / "job"), str(a.cutoff)], check=True, stderr=subprocess.DEVNULL)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sft_nb.config.schema import load_config
    from sft_nb.train.launch import train_args, dump_yaml
    cfg = load_config(work / "config.yaml", [f"source.job_dir={work / 'job'}", "source.scaffold=auto", "conversion.data_name=bench", f"training.cutoff_len={a.cutoff}"], run_name="bench")
    args = {**train_args(cfg), "report_to": "none", "overwrite_output_dir": True}
    (work / "args.json").write_text(json.dumps(args))
    lf, tok = [], []
    for _ in range(a.repeat):
        lf.append(measure([py, "-c", LF_LAUNCH, work / "args.json"], env)[0])
        t, out = measure([py, "-c", TOKENIZE, work / "config.yaml", work / "job", a.cutoff], env); tok.append(t)
    cache = next(l for l in out.splitlines() if l.startswith("CACHE="))[6:]
    (work / "args_cached.json").write_text(json.dumps({**args, "tokenized_path": cache}))
    load = min(measure([py, "-c", LF_LAUNCH, work / "args_cached.json"], env)[0] for _ in range(a.repeat))
    stats = json.loads(Path(cache + ".stats.json").read_text())["stats"]["train"]
    print(f"{n} trials, {total / 1e6:.0f} MB of logs -> {stats['sequences']} samples, {stats['tokens']} tokens (cutoff_len {a.cutoff}); {os.cpu_count()} cores")
    print(f"| phase | seconds | vs LF at launch |\n|---|---|---|")
    print(f"| LF's own preprocessing at launch (preprocessing_num_workers={args['preprocessing_num_workers']}) | {min(lf):.1f} | 1.00x |")
    print(f"| sft_nb tokenize step ({os.cpu_count()} workers, + save + stats) | {min(tok):.1f} | {min(lf) / min(tok):.2f}x |")
    print(f"| a launch's data loading with the cache | {load:.1f} | {min(lf) / load:.2f}x |")
    cli = Path(py).parent / "llamafactory-cli"
    rows = []
    for name, extra in (("without cache", {}), ("with tokenized_path", {"tokenized_path": cache})):
        y = work / f"{name.split()[0]}.yaml"
        y.write_text(dump_yaml({**args, **extra, "output_dir": str(work / "out" / name.split()[0])}))
        t, out = measure([cli, "train", y], env)
        assert ("Loaded tokenized dataset" in out) == bool(extra), "the cache was not (or unexpectedly) used"
        rows.append((name, t))
    print(f"\n| launch to first step (max_steps 1, one process) | seconds |\n|---|---|")
    for name, t in rows: print(f"| {name} | {t:.1f} |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
