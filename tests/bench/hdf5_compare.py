#!/usr/bin/python3
"""h5py reads the files PureHDF wrote (NAME.purehdf.h5) and the same trees written by Snn's H5Writer (NAME.snn.h5, which
H5WriterTests checks against h5py): the HDF5 evaluation's criterion (d). For each pair, every group, dataset and attribute
must match: names, dtype (kind, size, byte order, string kind and length class), shape and values. Prints one line per pair."""
import glob
import os
import sys

import h5py
import numpy as np


def describe(dt):
    info = h5py.check_string_dtype(dt)
    if info is not None:
        return "vlen-str" if info.length is None else "fixed-str"
    return dt.str


def values(v):
    a = np.asarray(v)
    if a.dtype.kind == "O" or a.dtype.kind == "S":
        return [x.decode() if isinstance(x, bytes) else str(x) for x in a.reshape(-1).tolist()]
    return a


def same(a, b):
    if isinstance(a, list) or isinstance(b, list):
        return a == b
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def walk(x, y, path, out):
    for k in sorted(set(x.attrs.keys()) | set(y.attrs.keys())):
        if k not in x.attrs or k not in y.attrs:
            out.append(f"{path}@{k}: only in one file")
            continue
        dx, dy = x.attrs.get_id(k).dtype, y.attrs.get_id(k).dtype
        if describe(dx) != describe(dy):
            out.append(f"{path}@{k}: dtype {describe(dx)} vs {describe(dy)}")
        vx, vy = x.attrs[k], y.attrs[k]
        if np.shape(vx) != np.shape(vy) or not same(values(vx), values(vy)):
            out.append(f"{path}@{k}: values differ ({np.shape(vx)} vs {np.shape(vy)})")
    if isinstance(x, h5py.Group):
        if not isinstance(y, h5py.Group):
            out.append(f"{path}: group vs dataset")
            return
        for k in sorted(set(x.keys()) | set(y.keys())):
            if k not in x or k not in y:
                out.append(f"{path}/{k}: only in one file")
                continue
            walk(x[k], y[k], path.rstrip("/") + "/" + k, out)
    else:
        if describe(x.dtype) != describe(y.dtype):
            out.append(f"{path}: dtype {describe(x.dtype)} vs {describe(y.dtype)}")
        if x.shape != y.shape:
            out.append(f"{path}: shape {x.shape} vs {y.shape}")
        elif not same(values(x[()]), values(y[()])):
            out.append(f"{path}: values differ")


total = ok = 0
for pure in sorted(glob.glob(os.path.join(sys.argv[1], "*.purehdf.h5"))):
    snn = pure.replace(".purehdf.h5", ".snn.h5")
    total += 1
    diffs = []
    try:
        with h5py.File(pure, "r") as x, h5py.File(snn, "r") as y:
            walk(x, y, "/", diffs)
    except Exception as e:  # noqa: BLE001  (any h5py failure to read is the finding)
        diffs.append(f"h5py failed: {type(e).__name__}: {e}")
    ok += not diffs
    name = os.path.basename(pure)[: -len(".purehdf.h5")]
    print(f"{name}: " + ("h5py reads the same as Snn's file" if not diffs else f"{len(diffs)} differences: " + "; ".join(diffs[:4])))
print(f"h5py: {ok} of {total} PureHDF files read the same as Snn's")
