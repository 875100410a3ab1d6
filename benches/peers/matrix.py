#!/usr/bin/env python3
"""The performance matrix: the same trainings in percept, PyTorch and JAX, side by side.

    python3 benches/peers/matrix.py                 # every row at 1 and 2 threads, 3 runs each
    python3 benches/peers/matrix.py --quick         # CI smoke test: percept, one epoch, smallest row
    python3 benches/peers/matrix.py --rows small,fashion-1024 --threads 1 --runs 1 --epochs 1

For each row and thread count, the runs alternate percept, PyTorch, JAX, percept, ... (so that
drift on a shared machine hits all three alike), each a fresh process training `--epochs`
epochs. A process reports the median of its epochs' training times; the table shows the median
over the runs, and each ratio to PyTorch is the median of the per-run ratios (run i of percept
against run i of PyTorch). A peer whose Python package is not installed is skipped with a note
(`pip install torch numpy "jax[cpu]"`).

The floor of a row is the epoch's multiply-adds, counted from the layer sizes as dense products
(forward and weight gradient of every layer, input gradient of every layer but the first),
divided by the machine's peak rate of multiply-adds on that many threads, measured at the start
by `cargo run --release --example fma_peak` (benches/peers/fma_peak.rs). percept's first layer
skips the zero pixels of its input, so on nets where that layer dominates it can run below this
dense floor (a ratio under 1).

Only the Python standard library is needed here; the peers' scripts need numpy and their
framework.
"""
import argparse
import gzip
import json
import os
import statistics
import struct
import subprocess
import sys
import time
from importlib.util import find_spec

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FASHION_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

# name, data set, hidden sizes, activation, optimizer, learning rate, batch
ROWS = [
    ("small", "mnist", [128], "relu", "sgd", 0.1, 64),
    ("recipe", "mnist", [512, 256], "relu", "sgd", 0.1, 32),
    ("tanh", "mnist", [512, 256], "tanh", "sgd", 0.1, 64),
    ("mnist-1024", "mnist", [1024, 1024], "relu", "adam", 0.001, 256),
    ("fashion-1024", "fashion", [1024, 1024], "relu", "adam", 0.001, 256),
    ("deep", "mnist", [256] * 5, "relu", "sgd", 0.1, 64),
    ("batch-1024", "mnist", [512, 256], "relu", "sgd", 0.1, 1024),
]

IMPLS = ["percept", "torch", "jax"]
FIGURES = ["median_epoch_seconds", "infer_images_per_s", "peak_rss_mib", "final_test_acc"]


def describe(row):
    name, data, hidden, activation, optimizer, lr, batch = row
    net = "-".join(str(s) for s in [784, *hidden, 10])
    if len(hidden) > 2 and len(set(hidden)) == 1:
        net = f"784-{len(hidden)}x{hidden[0]}-10"
    return f"{name}: {data} {net} {activation} {optimizer} b{batch}"


def training_muladds_per_sample(sizes):
    """Multiply-adds of one sample's training step as dense products: every layer's forward
    product and weight gradient, and every layer's input gradient but the first's."""
    layers = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * sum(layers) + sum(layers[1:])


def idx_count(path):
    """The first dimension of an IDX file (gzip'd or raw), from its header."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        header = f.read(8)
    if len(header) < 8:
        raise ValueError(f"{path}: too short for an IDX header")
    return struct.unpack(">I", header[4:8])[0]


def find_labels(data_dir):
    for name in ("train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte", "train-labels.idx1-ubyte.gz",
                 "train-labels.idx1-ubyte"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{data_dir}: no train-labels-idx1-ubyte(.gz)")


def machine():
    """The CPU's model name and its vector extensions that matter here (Linux), for the header."""
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    vector = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl") if f in flags]
    return f"{model}, {os.cpu_count()} CPUs, {' '.join(vector) or 'no AVX2'}"


def load_average():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")


def build():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "mnist", "--example", "fma_peak"],
                   cwd=ROOT, check=True)
    examples = os.path.join(target_dir(), "release", "examples")
    return os.path.join(examples, "mnist"), os.path.join(examples, "fma_peak")


def measure_peak(fma_peak, threads, quick):
    """Peak multiply-adds per second per thread count, from fma_peak's JSON."""
    command = [fma_peak, "--json", "--threads", ",".join(str(t) for t in threads)]
    if quick:
        command += ["--samples", "2", "--seconds", "0.05"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    peaks = json.loads(out)["peak_muladds_per_s"]
    return {int(t): rate for t, rate in peaks.items()}


def command_for(impl, row, data_dir, threads, epochs, binary):
    _, _, hidden, activation, optimizer, lr, batch = row
    flags = ["--data", data_dir, "--epochs", str(epochs), "--batch", str(batch),
             "--hidden", ",".join(str(h) for h in hidden), "--activation", activation,
             "--optimizer", optimizer, "--lr", str(lr), "--threads", str(threads), "--seed", "0", "--json"]
    if impl == "percept":
        return [binary, *flags]
    if impl == "torch":
        return [sys.executable, os.path.join(HERE, "torch_mlp.py"), *flags]
    return [sys.executable, os.path.join(HERE, "jax_mlp.py"), *flags]


def run_once(command, timeout):
    """The final JSON object of one training process, or None (with the error on stderr)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  timed out after {timeout} s: {' '.join(command)}", file=sys.stderr)
        return None
    finals = [line for line in done.stdout.splitlines() if '"final"' in line]
    if done.returncode != 0 or not finals:
        print(f"  failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(finals[-1])


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs, muladds, peak):
    """One cell of the matrix from its runs ({impl: [final JSON or None, ...]}): medians of each
    figure, the medians of the per-run ratios to PyTorch, and the floor."""
    cell = {"medians": {}, "ratios": {}}
    for impl, finals in runs.items():
        cell["medians"][impl] = {k: median_or_none([f.get(k) if f else None for f in finals]) for k in FIGURES}
    torch_runs = runs.get("torch", [])
    for impl, finals in runs.items():
        if impl == "torch" or not torch_runs:
            continue
        cell["ratios"][impl] = {}
        for k in FIGURES[:3]:
            pairs = [a[k] / b[k] for a, b in zip(finals, torch_runs) if a and b and b.get(k)]
            cell["ratios"][impl][k] = median_or_none(pairs)
    cell["floor_seconds"] = muladds / peak if peak else None
    percept = cell["medians"].get("percept", {}).get("median_epoch_seconds")
    cell["percept_over_floor"] = percept / cell["floor_seconds"] if percept and cell["floor_seconds"] else None
    return cell


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def tables(results, impls):
    """The matrix as Markdown tables (lines)."""
    peers = [i for i in impls if i != "torch"]
    lines = ["Training: median seconds per epoch, ratios to PyTorch (lower is faster), floor from the FMA peak,",
             "load: the 1-minute load average after the cell's runs (2 or more on 2 CPUs: the machine was busy)",
             ""]
    head = ["row", "threads"] + [f"{i} s" for i in impls] + [f"{i}/torch" for i in peers if "torch" in impls]
    head += ["floor s", "percept/floor", "load"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        c = r["cell"]
        cells = [r["row"], str(r["threads"])]
        cells += [fmt(c["medians"][i]["median_epoch_seconds"], ".3f") for i in impls]
        if "torch" in impls:
            cells += [fmt(c["ratios"][i]["median_epoch_seconds"], ".2f") for i in peers]
        cells += [fmt(c["floor_seconds"], ".3f"), fmt(c["percept_over_floor"], ".2f"), fmt(r.get("load"), ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Inference (test set, images/s; ratios: higher is faster) and peak RSS (MiB; lower is smaller)", ""]
    head = ["row", "threads"] + [f"{i} img/s" for i in impls]
    head += [f"{i}/torch" for i in peers if "torch" in impls]
    head += [f"{i} MiB" for i in impls] + [f"{i}/torch" for i in peers if "torch" in impls]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        c = r["cell"]
        cells = [r["row"], str(r["threads"])]
        cells += [fmt(c["medians"][i]["infer_images_per_s"], ".0f") for i in impls]
        if "torch" in impls:
            cells += [fmt(c["ratios"][i]["infer_images_per_s"], ".2f") for i in peers]
        cells += [fmt(c["medians"][i]["peak_rss_mib"], ".0f") for i in impls]
        if "torch" in impls:
            cells += [fmt(c["ratios"][i]["peak_rss_mib"], ".2f") for i in peers]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Test accuracy after the runs' epochs (median)", ""]
    head = ["row", "threads"] + impls
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        c = r["cell"]
        lines.append("| " + " | ".join([r["row"], str(r["threads"])]
                                       + [fmt(c["medians"][i]["final_test_acc"], ".4f") for i in impls]) + " |")
    return lines


def targets(results):
    """Issue 31's targets checked against the results: (what, measured, limit, met) with
    `met` None when a figure is missing. `results` entries carry "name", "threads", "cell"."""
    checks = []

    def cell(name, threads):
        return next((r["cell"] for r in results if r["name"] == name and r["threads"] == threads), None)

    def check(what, value, limit, at_most=True):
        met = None if value is None else (value <= limit if at_most else value >= limit)
        checks.append((what, value, ("≤ " if at_most else "≥ ") + format(limit, "g"), met))

    def ratio(c, key):
        return c["ratios"].get("percept", {}).get(key) if c else None

    c = cell("fashion-1024", 1)
    if c:
        check("fashion-1024 at 1 thread: percept epoch / FMA floor", c["percept_over_floor"], 1.15)
    c = cell("mnist-1024", 2)
    if c:
        check("mnist-1024 at 2 threads: percept / PyTorch epoch", ratio(c, "median_epoch_seconds"), 0.5)
    for threads, limit in ((1, 0.25), (2, 0.2)):
        c = cell("small", threads)
        if c:
            check(f"small at {threads} thread(s): percept / PyTorch epoch (small-net target)",
                  ratio(c, "median_epoch_seconds"), limit)
    for r in results:
        c, where = r["cell"], f"{r['name']} at {r['threads']} thread(s)"
        check(f"{where}: percept / PyTorch epoch", ratio(c, "median_epoch_seconds"), 0.6)
        check(f"{where}: percept / PyTorch inference", ratio(c, "infer_images_per_s"), 1.3, at_most=False)
        check(f"{where}: percept peak RSS MiB", c["medians"].get("percept", {}).get("peak_rss_mib"), 150)
    return checks


def target_lines(checks):
    met = sum(1 for c in checks if c[3])
    missing = sum(1 for c in checks if c[3] is None)
    lines = [f"Targets (issue 31): {met} of {len(checks)} met"
             + (f", {missing} without a figure" if missing else ""), ""]
    for what, value, limit, ok in checks:
        verdict = "no figure" if ok is None else ("met" if ok else "NOT met")
        lines.append(f"- {what}: {fmt(value, '.3f')} (target {limit}): {verdict}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: percept only, one run of one epoch of the smallest row at 1 thread")
    ap.add_argument("--runs", type=int, default=3, help="processes per implementation and cell")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per process")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    ap.add_argument("--rows", default="", help="row names, comma-separated (default all): "
                    + ", ".join(r[0] for r in ROWS))
    ap.add_argument("--impls", default=",".join(IMPLS), help="implementations to run (percept always runs)")
    ap.add_argument("--mnist", default=os.path.join(ROOT, "datasets", "mnist"))
    ap.add_argument("--fashion", default=FASHION_DEBIAN_DIR,
                    help="Fashion-MNIST IDX directory (Debian: apt-get install dataset-fashion-mnist)")
    ap.add_argument("--timeout", type=float, default=900,
                    help="seconds after which a training process is stopped and counted as failed")
    ap.add_argument("--json-out", help="also write every run's figures and the summary to this file")
    args = ap.parse_args()

    if args.quick:
        args.runs, args.epochs, args.threads, args.rows, args.impls = 1, 1, "1", "small", "percept"
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [w for w in wanted if w not in {r[0] for r in ROWS}]
    if unknown:
        ap.error(f"unknown row(s) {unknown}; rows: {', '.join(r[0] for r in ROWS)}")
    rows = [r for r in ROWS if not wanted or r[0] in wanted]
    impls = ["percept"]
    for impl, module in (("torch", "torch"), ("jax", "jax")):
        if impl not in args.impls.split(","):
            continue
        if find_spec(module) is None or find_spec("numpy") is None:
            print(f"note: {impl} skipped ({module} or numpy not installed: pip install torch numpy \"jax[cpu]\")")
            continue
        impls.append(impl)
    data_dirs = {"mnist": args.mnist, "fashion": args.fashion}
    for row in list(rows):
        if not os.path.isdir(data_dirs[row[1]]):
            print(f"note: row {row[0]} skipped ({row[1]} not found at {data_dirs[row[1]]})")
            rows.remove(row)

    mnist_binary, fma_peak = build()
    peaks = measure_peak(fma_peak, threads, args.quick)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(f"matrix: {started}; {machine()}")
    print(f"{', '.join(impls)}; {args.runs} run(s) of {args.epochs} epoch(s) per cell")
    print("FMA peak: " + ", ".join(f"{t} thread(s) {peaks[t] / 1e9:.1f} G multiply-adds/s" for t in threads))
    results = []
    for row in rows:
        name, data = row[0], row[1]
        sizes = [784, *row[2], 10]
        samples = idx_count(find_labels(data_dirs[data]))
        muladds = samples * training_muladds_per_sample(sizes)
        for t in threads:
            runs = {impl: [] for impl in impls}
            for run in range(args.runs):
                for impl in impls:
                    command = command_for(impl, row, data_dirs[data], t, args.epochs, mnist_binary)
                    final = run_once(command, args.timeout)
                    runs[impl].append(final)
                    seconds = fmt(final and final.get("median_epoch_seconds"), ".3f")
                    print(f"  {name} t{t} run {run + 1}: {impl} {seconds} s/epoch", file=sys.stderr, flush=True)
            cell = summarize(runs, muladds, peaks.get(t))
            results.append({"row": describe(row), "name": name, "threads": t, "muladds_per_epoch": muladds,
                            "load": load_average(), "runs": runs, "cell": cell})
    print()
    print("\n".join(tables(results, impls)))
    checks = targets(results)
    if not args.quick:
        print()
        print("\n".join(target_lines(checks)))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"started": started, "peaks": peaks, "impls": impls, "results": results,
                       "targets": checks}, f, indent=1)
    # A smoke test fails when percept produced no figures.
    failed = [r["row"] for r in results if r["cell"]["medians"]["percept"]["median_epoch_seconds"] is None]
    if failed:
        print(f"error: percept failed on {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
