#!/usr/bin/env python3
"""Runs a shipped recipe over several seeds and prints its line of recipes/RESULTS.md.

    python3 scripts/recipe_results.py recipes/mnist-mlp.toml            # seeds 0, 1, 2
    python3 scripts/recipe_results.py recipes/fashion-mnist-mlp.toml --seeds 0

Each seed is one `percept train --recipe FILE --set training.seed=S --quiet` process, timed by
this script from start to exit (the wall time a user waits: loading, training, the per-epoch
validation passes, the one test measurement, writing the checkpoint). The test accuracy is the
one the run prints: the weights of the epoch chosen on validation, measured once. Prints one
JSON line per seed, then the Markdown row: mean and sample standard deviation of the test
accuracy, its range, the median wall time, and the commit and machine it ran on.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST = re.compile(r"^test: loss [\d.]+, accuracy ([\d.]+)%")
KEPT = re.compile(r"kept epoch (\d+)")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recipe")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated")
    ap.add_argument("--set", action="append", default=[], help="extra KEY=VALUE for percept train")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "percept"], cwd=ROOT, check=True)
    percept = os.path.join(ROOT, "target", "release", "percept")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    runs = []
    with tempfile.TemporaryDirectory() as out:
        for seed in (int(s) for s in args.seeds.split(",") if s.strip()):
            cmd = [percept, "train", "--recipe", args.recipe, "--quiet", "--set", f"training.seed={seed}",
                   "--set", f"output.dir={os.path.join(out, str(seed))}"]
            for extra in args.set:
                cmd += ["--set", extra]
            started = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if proc.returncode != 0:
                sys.exit(f"seed {seed} failed ({proc.returncode}):\n{proc.stderr}")
            accuracy = kept = None
            for line in proc.stdout.splitlines():
                if m := TEST.match(line):
                    accuracy = float(m.group(1))
                if m := KEPT.search(line):
                    kept = int(m.group(1))
            if accuracy is None:
                sys.exit(f"seed {seed}: no test accuracy in the output:\n{proc.stdout}")
            runs.append({"seed": seed, "test_accuracy": accuracy, "kept_epoch": kept,
                         "wall_seconds": round(seconds, 1)})
            print(json.dumps(runs[-1]), flush=True)

    accuracies = [r["test_accuracy"] for r in runs]
    spread = f" ± {statistics.stdev(accuracies):.2f}" if len(runs) > 1 else ""
    wall = statistics.median(r["wall_seconds"] for r in runs)
    print(f"\n| recipe | test accuracy (mean{' ± sd' if spread else ''}) | range | kept epochs | "
          f"wall time (median) | seeds | commit |")
    print("|---|---|---|---|---|---|---|")
    print(f"| `{os.path.basename(args.recipe)}` | {statistics.mean(accuracies):.2f}%{spread} | "
          f"{min(accuracies):.2f}-{max(accuracies):.2f}% | {', '.join(str(r['kept_epoch']) for r in runs)} | "
          f"{wall / 60:.1f} min | {', '.join(str(r['seed']) for r in runs)} | {commit} |")
    print(f"\n{cpu_model()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    main()
