#!/usr/bin/env python3
"""PyTorch (CPU) peer of percept's `mnist` example: the same multi-layer perceptron, loss,
optimizer and data, trained with the same flags, reporting the same JSON keys.

    python3 benches/peers/torch_mlp.py --data datasets/mnist --hidden 128 --epochs 2 --threads 1

The whole data set is kept as float32 tensors (scaled once), and each epoch indexes minibatches
through a seeded permutation: the fastest idiomatic PyTorch loop (a DataLoader adds per-sample
Python work). `train_seconds` covers only the training loop of an epoch (no loading, no
evaluation). Inference is the whole test set in one forward pass, no_grad, eval mode, median
of --infer-reps runs after a warm-up. One JSON object per epoch, then a summary with
"final": true.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idx import load_dataset  # noqa: E402  (numpy only)

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="directory with the four IDX files")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", default="512,256", help="hidden layer sizes, comma-separated")
    ap.add_argument("--activation", choices=["relu", "tanh", "sigmoid"], default="relu")
    ap.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=None,
                    help="momentum/nesterov (default 0.9) and rmsprop (default 0), as percept")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="accepted for parity: output is always JSON")
    ap.add_argument("--infer-reps", type=int, default=5)
    return ap.parse_args(argv)


def build_optimizer(torch, params, args):
    """The optimizer percept's `OptimizerKind::rule` builds for the same flags."""
    lr, wd = args.lr, args.weight_decay
    momentum = args.momentum
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if args.optimizer in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=0.9 if momentum is None else momentum,
                               nesterov=args.optimizer == "nesterov", weight_decay=wd)
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if args.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if args.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum or 0.0, weight_decay=wd)
    return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)


def main():
    args = parse_args()
    import torch
    import torch.nn as nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    started = time.perf_counter()
    xtr_np, ytr_np, xte_np, yte_np = load_dataset(args.data)
    xtr, ytr = torch.from_numpy(xtr_np), torch.from_numpy(ytr_np)
    xte, yte = torch.from_numpy(xte_np), torch.from_numpy(yte_np)
    data_load_seconds = time.perf_counter() - started

    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    activation = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[args.activation]
    layers, width = [], xtr.shape[1]
    for size in hidden:
        layers += [nn.Linear(width, size), activation()]
        width = size
    layers.append(nn.Linear(width, int(ytr.max()) + 1))
    model = nn.Sequential(*layers)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = build_optimizer(torch, model.parameters(), args)

    generator = torch.Generator().manual_seed(args.seed)
    n = xtr.shape[0]

    def test_accuracy():
        model.eval()
        with torch.no_grad():
            accuracy = (model(xte).argmax(1) == yte).float().mean().item()
        model.train()
        return accuracy

    records = []
    for epoch in range(1, args.epochs + 1):
        running, batches = 0.0, 0
        started = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, args.batch):
            batch = order[i:i + args.batch]
            optimizer.zero_grad()
            loss = loss_fn(model(xtr[batch]), ytr[batch])
            loss.backward()
            optimizer.step()
            running += loss.item()
            batches += 1
        seconds = time.perf_counter() - started
        record = {"epoch": epoch, "train_seconds": round(seconds, 4), "loss": round(running / batches, 5),
                  "test_acc": round(test_accuracy(), 4)}
        records.append(record)
        print(json.dumps(record), flush=True)

    model.eval()
    times = []
    with torch.no_grad():
        model(xte).argmax(1)  # warm-up
        for _ in range(args.infer_reps):
            started = time.perf_counter()
            model(xte).argmax(1)
            times.append(time.perf_counter() - started)
    infer_seconds = statistics.median(times)
    print(json.dumps({
        "final": True, "impl": "torch", "torch_version": torch.__version__,
        "threads": torch.get_num_threads(), "batch": args.batch, "hidden": hidden,
        "activation": args.activation, "optimizer": args.optimizer, "lr": args.lr, "epochs": args.epochs,
        "total_train_seconds": round(sum(r["train_seconds"] for r in records), 4),
        "median_epoch_seconds": round(statistics.median(r["train_seconds"] for r in records), 4),
        "final_test_acc": records[-1]["test_acc"],
        "data_load_seconds": round(data_load_seconds, 3),
        "infer_images_per_s": round(xte.shape[0] / infer_seconds, 1),
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
