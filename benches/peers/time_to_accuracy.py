#!/usr/bin/env python3
"""Time to accuracy: recipes/mnist-mlp.toml in percept beside the same recipe in PyTorch.

    python3 benches/peers/time_to_accuracy.py                 # 3 rounds, seeds 0, 1, 2, 98%
    python3 benches/peers/time_to_accuracy.py --rounds 1 --target 0.97

Each round runs `percept train --recipe recipes/mnist-mlp.toml --test-every-epoch` and then
benches/peers/torch_recipe.py with the same seed and thread count, one after the other. The
clock is this script's: seconds from starting the process to reading the line of the first
epoch whose test accuracy reaches --target (process start, imports, data loading, training,
the per-epoch validation and test passes all count). The process is then stopped. The test
figures choose nothing: they only time the run. Prints each round and the medians, and the
ratio percept / PyTorch (the median of the per-round ratios).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PERCEPT_LINE = re.compile(r"^epoch\s+(\d+)\s+test_loss\s+\S+\s+test_acc\s+([\d.]+)%")


def until(cmd, accuracy_of, target, timeout):
    """Runs `cmd` until a line reports `target`; returns (seconds, epoch) or (None, last epoch)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, bufsize=1)
    result, last = None, 0
    try:
        for line in proc.stdout:
            found = accuracy_of(line)
            if found is None:
                continue
            epoch, accuracy = found
            last = epoch
            if accuracy >= target:
                result = (round(time.perf_counter() - started, 2), epoch)
                break
            if time.perf_counter() - started > timeout:
                break
    finally:
        proc.kill()
        proc.wait()
    return result or (None, last)


def percept_accuracy(line):
    m = PERCEPT_LINE.match(line.strip())
    return (int(m.group(1)), float(m.group(2)) / 100.0) if m else None


def torch_accuracy(line):
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return (record["epoch"], record["test_acc"]) if "test_acc" in record else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds; round i uses seed i")
    ap.add_argument("--target", type=float, default=0.98)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=os.path.join(ROOT, "datasets", "mnist"))
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "percept"], cwd=ROOT, check=True)
    percept = os.path.join(ROOT, "target", "release", "percept")
    have_torch = subprocess.run([sys.executable, "-c", "import torch"],
                                stderr=subprocess.DEVNULL).returncode == 0
    if not have_torch:
        print("note: torch is not installed (pip install torch numpy): PyTorch skipped")
    rows = []
    # percept's checkpoint and history go to a scratch folder, not over the user's runs/mnist-mlp.
    scratch = tempfile.TemporaryDirectory()
    for seed in range(args.rounds):
        p = until([percept, "train", "--recipe", "recipes/mnist-mlp.toml", "--test-every-epoch",
                   "--threads", str(args.threads), "--set", f"training.seed={seed}",
                   "--set", f"data.dataset={args.data}",
                   "--set", f"output.dir={os.path.join(scratch.name, str(seed))}"],
                  percept_accuracy, args.target, args.timeout)
        t = (None, 0)
        if have_torch:
            t = until([sys.executable, os.path.join(HERE, "torch_recipe.py"), "--data", args.data,
                       "--threads", str(args.threads), "--seed", str(seed)],
                      torch_accuracy, args.target, args.timeout)
        ratio = round(p[0] / t[0], 3) if p[0] and t[0] else None
        rows.append({"seed": seed, "percept_s": p[0], "percept_epoch": p[1], "torch_s": t[0],
                     "torch_epoch": t[1], "ratio": ratio})
        print(json.dumps(rows[-1]), flush=True)

    def median(key):
        values = [r[key] for r in rows if r[key] is not None]
        return statistics.median(values) if values else None

    print(f"\nseconds from process start to the first epoch at {100 * args.target:.0f}% test accuracy, "
          f"recipes/mnist-mlp.toml, {args.threads} threads, {args.rounds} round(s)\n")
    print("| seed | percept s (epoch) | PyTorch s (epoch) | percept / PyTorch |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['percept_s']} ({r['percept_epoch']}) | {r['torch_s']} ({r['torch_epoch']}) "
              f"| {r['ratio']} |")
    print(f"| median | {median('percept_s')} | {median('torch_s')} | {median('ratio')} |")


if __name__ == "__main__":
    main()
