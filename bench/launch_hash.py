"""What a launch spends hashing its data file, without and with the remembered hash, side by side in one run.

Every launch hashes the LF data file for the tokenize cache key and for the launch record (`sft_nb.core.files.file_sha256`).
Writes a --size-mb MB file, then in fresh processes (best of --repeat, alternating, warm page cache) measures:
  first     the hash read from the bytes (what every launch paid before the hash was remembered)
  again     the next launch: the remembered hash, valid while size, mtime, ctime and inode are unchanged

    python bench/launch_hash.py --size-mb 1000
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

HASH = "import sys; from sft_nb.core.files import file_sha256; print(file_sha256(sys.argv[1]))"


def timed(path):
    "Wall seconds and output of hashing `path` in a fresh process (interpreter start subtracted)."
    t0 = time.perf_counter(); out = subprocess.run([sys.executable, "-c", HASH, path], capture_output=True, text=True, check=True).stdout
    t1 = time.perf_counter(); subprocess.run([sys.executable, "-c", "import sft_nb.core.files"], check=True); t2 = time.perf_counter()
    return (t1 - t0) - (t2 - t1), out.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="sft_nb_hash_"))
    try:
        f = d / "data.json"
        with open(f, "wb") as out:
            block = os.urandom(1 << 20)
            for _ in range(args.size_mb): out.write(block)
        subprocess.run(["cat", str(f)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        first, again = [], []
        for _ in range(args.repeat):
            (d / ".data.json.sha256").unlink(missing_ok=True)
            s1, h1 = timed(str(f)); s2, h2 = timed(str(f))
            assert h1 == h2, "the remembered hash differs from the bytes' hash"
            first.append(s1); again.append(s2)
        a, b = min(first), max(min(again), 0.0)
        print(f"{'size':>8} {'first s':>8} {'again s':>8} {'saved per launch (2 hashes) s':>30}")
        print(f"{args.size_mb:>7}M {a:8.3f} {b:8.3f} {2 * (a - b):30.2f}")
    finally: shutil.rmtree(d)


if __name__ == "__main__": main()
