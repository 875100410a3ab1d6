"""The four IDX files of MNIST (or Fashion-MNIST, same layout) as numpy arrays, for the peers'
training scripts (torch_mlp.py, jax_mlp.py). numpy only: importing this loads neither torch nor
JAX.

Pixels are scaled to [0, 1] as float32 (byte / 255), as percept's loader scales them.
"""
import gzip
import os
import struct

import numpy as np


def read_idx(path):
    """An IDX file (gzip'd or raw) of unsigned bytes as an array of its dimensions."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    magic, = struct.unpack(">I", raw[:4])
    ndim, dtype_code = magic & 0xFF, (magic >> 8) & 0xFF
    if dtype_code != 0x08:
        raise ValueError(f"{path}: expected unsigned byte data (0x08), got {dtype_code:#x}")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} values for dimensions {dims}")
    return data.reshape(dims)


def find_idx(data_dir, stem):
    """`stem` (e.g. train-images-idx3-ubyte) in `data_dir`, gzip'd or not, with '-' or '.'
    before 'idx'."""
    for name in (stem, stem.replace("-idx", ".idx")):
        for candidate in (name + ".gz", name):
            path = os.path.join(data_dir, candidate)
            if os.path.exists(path):
                return path
    raise FileNotFoundError(os.path.join(data_dir, stem + ".gz"))


def load_dataset(data_dir):
    """(train images, train labels, test images, test labels): images [n, 784] float32 in
    [0, 1], labels int64."""
    def images(stem):
        raw = read_idx(find_idx(data_dir, stem))
        return raw.reshape(len(raw), -1).astype(np.float32) / np.float32(255.0)

    def labels(stem):
        return read_idx(find_idx(data_dir, stem)).astype(np.int64)

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))
