#!/usr/bin/python3
"""Hostile HDF5 files for the HDF5 evaluation (tests/bench/hdf5_eval.sh), written with h5py into the folder given.

Besides the kinds of tests/fixtures/hostile/structural.py (aliased variable-length strings, huge declared shapes),
two compression bombs:
  bomb_declared.h5   a (16384, 16384) float32 dataset of zeros, deflated in (1024, 1024) chunks: 1 GiB declared, ~1 MB file
  bomb_overflow.h5   a (512, 512) float32 dataset (1 MiB declared) in one chunk whose deflate stream inflates to 1 GiB
"""
import os
import subprocess
import sys
import zlib

import h5py
import numpy as np

out = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
structural = os.path.join(here, "..", "fixtures", "hostile", "structural.py")


def run(spec):
    subprocess.run([sys.executable, structural, spec], check=True, stdout=subprocess.DEVNULL)


run('{"kind": "vlen_alias", "out": "%s/vlen_alias.h5", "n": 1000, "size": 1048576}' % out)
run('{"kind": "h5_huge", "out": "%s/huge_contiguous.h5", "rows": 65536, "cols": 65536, "inputs": 65536, "units": 65536}' % out)
run('{"kind": "h5_huge", "out": "%s/huge_chunked.h5", "rows": 65536, "cols": 65536, "inputs": 65536, "units": 65536, "chunked": true}' % out)


def deflated_zeros(n):
    c = zlib.compressobj(9)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(n >> 20)]
    parts.append(c.flush())
    return b"".join(parts)


with h5py.File(os.path.join(out, "bomb_declared.h5"), "w") as f:
    d = f.create_dataset("kernel", shape=(16384, 16384), dtype="<f4", chunks=(1024, 1024), compression="gzip")
    chunk = deflated_zeros(1024 * 1024 * 4)
    for i in range(16):
        for j in range(16):
            d.id.write_direct_chunk((i * 1024, j * 1024), chunk)

with h5py.File(os.path.join(out, "bomb_overflow.h5"), "w") as f:
    d = f.create_dataset("kernel", shape=(512, 512), dtype="<f4", chunks=(512, 512), compression="gzip")
    d.id.write_direct_chunk((0, 0), deflated_zeros(1 << 30))

for name in sorted(os.listdir(out)):
    print(f"{name}: {os.path.getsize(os.path.join(out, name))} bytes")
