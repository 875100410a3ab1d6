#!/usr/bin/env python3
"""JAX (CPU, XLA) peer of percept's `mnist` example: the same multi-layer perceptron, loss,
optimizers (PyTorch's formulas, written out below) and data, with the same flags and JSON keys
as torch_mlp.py.

    python3 benches/peers/jax_mlp.py --data datasets/mnist --hidden 128 --epochs 2 --threads 1

The data sit on the device as float32 arrays; each epoch draws a seeded permutation and a
jitted step gathers its minibatch by index. By default the whole epoch's full batches run in
one jitted `lax.scan` (the fastest JAX form: no Python dispatch per step) and the last partial
batch in one more step; `--per-step` dispatches one jitted call per minibatch. Everything timed
is compiled first. `--threads`: the process is pinned to that many CPUs before JAX is imported
(XLA sizes its thread pools from the CPUs it may run on).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mlp import OPTIMIZERS  # noqa: E402  (imports neither torch nor JAX)

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
ap.add_argument("--per-step", action="store_true", help="one jitted call per minibatch")
ap.add_argument("--infer-reps", type=int, default=5)
args = ap.parse_args()

if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:args.threads]))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from idx import load_dataset  # noqa: E402

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


def init(key, sizes):
    """nn.Linear's default: weight and bias uniform in ±1/sqrt(in_features)."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, kw, kb = jax.random.split(key, 3)
        bound = 1.0 / np.sqrt(fan_in)
        params.append((jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound),
                       jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound)))
    return params


def logits_fn(params, x):
    act = ACTIVATIONS[args.activation]
    for weight, bias in params[:-1]:
        x = act(x @ weight + bias)
    weight, bias = params[-1]
    return x @ weight + bias


def loss_fn(params, x, y):
    log_probs = jax.nn.log_softmax(logits_fn(params, x))
    return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))


def optimizer(name, lr, momentum, wd):
    """(init(params) -> state, update(params, grads, state) -> (params, state)), following
    the formulas in PyTorch's documentation of each optimizer (default betas, eps, alpha)."""
    tm = jax.tree_util.tree_map
    zeros = lambda p: tm(jnp.zeros_like, p)  # noqa: E731
    decayed = lambda p, g: tm(lambda a, b: b + wd * a, p, g) if wd else g  # noqa: E731
    if name in ("sgd", "momentum", "nesterov"):
        mu = 0.0 if name == "sgd" else (0.9 if momentum is None else momentum)

        def update(p, g, buf):
            g = decayed(p, g)
            if mu == 0.0:
                return tm(lambda a, b: a - lr * b, p, g), buf
            buf = tm(lambda b, d: mu * b + d, buf, g)
            step = tm(lambda d, b: d + mu * b, g, buf) if name == "nesterov" else buf
            return tm(lambda a, s: a - lr * s, p, step), buf
        return zeros, update
    if name in ("adam", "adamw"):
        b1, b2, eps = 0.9, 0.999, 1e-8

        def update(p, g, state):
            m, v, t = state
            if name == "adamw":
                p = tm(lambda a: a * (1 - lr * wd), p)
            else:
                g = decayed(p, g)
            t = t + 1
            m = tm(lambda a, d: b1 * a + (1 - b1) * d, m, g)
            v = tm(lambda a, d: b2 * a + (1 - b2) * d * d, v, g)
            c1, c2 = 1 - b1 ** t, 1 - b2 ** t
            p = tm(lambda a, mm, vv: a - lr * (mm / c1) / (jnp.sqrt(vv / c2) + eps), p, m, v)
            return p, (m, v, t)
        return (lambda p: (zeros(p), zeros(p), jnp.zeros((), jnp.float32))), update
    if name == "rmsprop":
        alpha, eps, mu = 0.99, 1e-8, momentum or 0.0

        def update(p, g, state):
            v, buf = state
            g = decayed(p, g)
            v = tm(lambda a, d: alpha * a + (1 - alpha) * d * d, v, g)
            scaled = tm(lambda d, a: d / (jnp.sqrt(a) + eps), g, v)
            if mu:
                buf = tm(lambda b, s: mu * b + s, buf, scaled)
                scaled = buf
            return tm(lambda a, s: a - lr * s, p, scaled), (v, buf)
        return (lambda p: (zeros(p), zeros(p))), update
    eps = 1e-10  # adagrad

    def update(p, g, total):
        g = decayed(p, g)
        total = tm(lambda a, d: a + d * d, total, g)
        return tm(lambda a, d, s: a - lr * d / (jnp.sqrt(s) + eps), p, g, total), total
    return zeros, update


opt_init, opt_update = optimizer(args.optimizer, args.lr, args.momentum, args.weight_decay)


def train_step(carry, X, Y, idx):
    params, state = carry
    loss, grads = jax.value_and_grad(loss_fn)(params, X[idx], Y[idx])
    params, state = opt_update(params, grads, state)
    return (params, state), loss


step = jax.jit(train_step)


@jax.jit
def epoch_scan(carry, X, Y, idx2d):
    return jax.lax.scan(lambda c, idx: train_step(c, X, Y, idx), carry, idx2d)


predict = jax.jit(lambda params, x: jnp.argmax(logits_fn(params, x), axis=1))


def main():
    started = time.perf_counter()
    xtr, ytr, xte, yte = load_dataset(args.data)
    X, Y = jnp.asarray(xtr), jnp.asarray(ytr.astype(np.int32))
    Xte, Yte = jnp.asarray(xte), jnp.asarray(yte.astype(np.int32))
    data_load_seconds = time.perf_counter() - started
    n, B = X.shape[0], args.batch
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    params = init(jax.random.PRNGKey(args.seed), [X.shape[1], *hidden, int(ytr.max()) + 1])
    carry = (params, opt_init(params))
    rng = np.random.default_rng(args.seed)
    full = n // B
    rest = n - full * B

    # Compile everything that is timed, on throwaway indices.
    started = time.perf_counter()
    dummy = np.arange(B, dtype=np.int32)
    jax.block_until_ready(step(carry, X, Y, dummy))
    if rest:
        jax.block_until_ready(step(carry, X, Y, dummy[:rest]))
    if not args.per_step:
        jax.block_until_ready(epoch_scan(carry, X, Y, np.zeros((full, B), np.int32)))
    jax.block_until_ready(predict(params, Xte))
    compile_seconds = time.perf_counter() - started

    records = []
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(n).astype(np.int32)
        started = time.perf_counter()
        losses = []
        if args.per_step:
            for i in range(0, n, B):
                carry, loss = step(carry, X, Y, order[i:i + B])
                losses.append(loss)
        else:
            carry, scanned = epoch_scan(carry, X, Y, order[:full * B].reshape(full, B))
            losses.append(scanned)
            if rest:
                carry, loss = step(carry, X, Y, order[full * B:])
                losses.append(loss)
        jax.block_until_ready(carry)
        seconds = time.perf_counter() - started
        mean_loss = float(np.concatenate([np.ravel(a) for a in jax.device_get(losses)]).mean())
        accuracy = float((predict(carry[0], Xte) == Yte).mean())
        record = {"epoch": epoch, "train_seconds": round(seconds, 4), "loss": round(mean_loss, 5),
                  "test_acc": round(accuracy, 4)}
        records.append(record)
        print(json.dumps(record), flush=True)

    times = []
    for _ in range(args.infer_reps):
        started = time.perf_counter()
        jax.block_until_ready(predict(carry[0], Xte))
        times.append(time.perf_counter() - started)
    infer_seconds = statistics.median(times)
    print(json.dumps({
        "final": True, "impl": "jax-" + ("step" if args.per_step else "scan"), "jax_version": jax.__version__,
        "threads": args.threads, "batch": B, "hidden": hidden, "activation": args.activation,
        "optimizer": args.optimizer, "lr": args.lr, "epochs": args.epochs,
        "total_train_seconds": round(sum(r["train_seconds"] for r in records), 4),
        "median_epoch_seconds": round(statistics.median(r["train_seconds"] for r in records), 4),
        "final_test_acc": records[-1]["test_acc"],
        "data_load_seconds": round(data_load_seconds, 3), "compile_seconds": round(compile_seconds, 3),
        "infer_images_per_s": round(Xte.shape[0] / infer_seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
