#!/usr/bin/env python3
"""Dev-side check of percept's safetensors interop with PyTorch (run by hand, not in CI).

1. percept trains a model and exports it; PyTorch loads it into the equivalent
   nn.Sequential with load_state_dict (strict) and must give the same outputs.
2. PyTorch saves a model of its own; percept imports it and must give the same outputs.

usage: python3 scripts/check_safetensors.py   (from the repository root; needs torch and
safetensors: pip install torch safetensors)
"""
import json, subprocess, sys, tempfile
import torch
from safetensors.torch import load_file, save_file

def model():
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.LayerNorm(16), torch.nn.Linear(16, 3))

def run(d):
    subprocess.run(["cargo", "run", "--release", "--quiet", "--example", "interop", "--", d], check=True)

def close(a, b, what):
    a, b = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    diff = (a - b).abs().max().item()
    scale = max(1.0, b.abs().max().item())
    print(f"{what}: max |difference| {diff:.3e}")
    return diff <= 1e-5 * scale

with tempfile.TemporaryDirectory() as d:
    torch.manual_seed(0)
    theirs = model()
    with torch.no_grad():  # make the running statistics non-trivial
        theirs[1].running_mean.uniform_(-0.5, 0.5)
        theirs[1].running_var.uniform_(0.5, 2.0)
        theirs[3].weight.uniform_(0.5, 1.5)
        theirs[3].bias.uniform_(-0.2, 0.2)
    save_file(theirs.state_dict(), f"{d}/torch.safetensors")
    run(d)
    x = torch.tensor(json.load(open(f"{d}/input.json")))
    ours = model()
    ours.load_state_dict(load_file(f"{d}/percept.safetensors"))  # strict: every name and shape
    ours.eval(); theirs.eval()
    with torch.no_grad():
        ok1 = close(ours(x), json.load(open(f"{d}/percept_output.json")), "percept → PyTorch")
        ok2 = close(json.load(open(f"{d}/percept_from_torch.json")), theirs(x), "PyTorch → percept")
    sys.exit(0 if ok1 and ok2 else 1)
