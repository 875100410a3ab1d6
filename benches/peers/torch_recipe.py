#!/usr/bin/env python3
"""PyTorch (CPU) peer of recipes/mnist-mlp.toml, for the time-to-accuracy comparison.

    python3 benches/peers/torch_recipe.py --data datasets/mnist --threads 2 --seed 0

The same recipe as percept's: 784-1024-1024-10, ReLU, dropout 0.3 after each hidden layer,
nn.Linear's default initialization, cross-entropy with label smoothing 0.1, SGD with Nesterov
momentum 0.9 and learning rate 0.05, a cosine schedule stepped after every batch (to 0 at the
end of the run), batch 128, 30 epochs; 10% of the training images held out (stratified by
class, seeded) and evaluated after every epoch, as percept does to choose the kept epoch.

As `percept train --test-every-epoch`, the test set is measured after every epoch (it chooses
nothing) and printed, one JSON object per epoch with the seconds since the process started
(before `import torch`), then a summary with "final": true. time_to_accuracy.py times the run
from outside and stops it at its target.
"""
import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idx import load_dataset  # noqa: E402  (numpy only)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="directory with the four MNIST IDX files")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def stratified_split(labels, fraction, seed):
    """Indices (train, validation): `fraction` of each class held out, seeded."""
    import numpy as np
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction))
        held.append(idx[:k])
        train.append(idx[k:])
    return np.concatenate(train), np.concatenate(held)


def main():
    args = parse_args()
    import torch
    import torch.nn as nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xtr_np, ytr_np, xte_np, yte_np = load_dataset(args.data)
    train_idx, val_idx = stratified_split(ytr_np, 0.1, args.seed)
    xtr, ytr = torch.from_numpy(xtr_np[train_idx]), torch.from_numpy(ytr_np[train_idx])
    xva, yva = torch.from_numpy(xtr_np[val_idx]), torch.from_numpy(ytr_np[val_idx])
    xte, yte = torch.from_numpy(xte_np), torch.from_numpy(yte_np)

    model = nn.Sequential(
        nn.Linear(784, 1024), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(1024, 10),
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    n = xtr.shape[0]
    steps = args.epochs * ((n + args.batch - 1) // args.batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator = torch.Generator().manual_seed(args.seed)

    def accuracy(x, y):
        model.eval()
        with torch.no_grad():
            value = (model(x).argmax(1) == y).float().mean().item()
        model.train()
        return value

    best_val, chosen = -1.0, 0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, args.batch):
            batch = order[i:i + args.batch]
            optimizer.zero_grad()
            loss_fn(model(xtr[batch]), ytr[batch]).backward()
            optimizer.step()
            schedule.step()
        val = accuracy(xva, yva)
        if val > best_val:
            best_val, chosen = val, epoch
        test = accuracy(xte, yte)
        print(json.dumps({"epoch": epoch, "validation_acc": round(val, 4), "test_acc": round(test, 4),
                          "seconds": round(time.perf_counter() - STARTED, 2)}), flush=True)
    print(json.dumps({"final": True, "impl": "torch", "torch_version": torch.__version__,
                      "threads": torch.get_num_threads(), "seed": args.seed, "epochs_run": epoch,
                      "best_validation_acc": round(best_val, 4), "chosen_epoch": chosen}), flush=True)


if __name__ == "__main__":
    main()
