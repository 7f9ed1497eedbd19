"""h5py/numpy oracle for the Keras write-back tests (tests/Snn.Tests/Training/KerasWriteBackTests.cs).

  perturb SRC DST SEED PATH...   DST = SRC with each named weight dataset changed by seeded numpy noise
  compare EXPECTED ACTUAL PATH... every weight dataset of ACTUAL against EXPECTED: the named ones within float32
                                 rounding, every other one bit for bit; prints OK or the problems

PATH is a dataset path inside the HDF5 weights (model.weights.h5 inside a .keras archive, the .h5 file itself).
"""
import io, os, shutil, sys, tempfile, zipfile
import h5py, numpy as np


def open_weights(path, mode):
    """(h5py file, finish) for the weights of a .keras archive or a legacy .h5 file."""
    if not path.endswith(".keras"):
        return h5py.File(path, mode), lambda: None
    tmp = tempfile.mkdtemp()
    inner = os.path.join(tmp, "model.weights.h5")
    with zipfile.ZipFile(path) as z:
        with open(inner, "wb") as f:
            f.write(z.read("model.weights.h5"))
    h5 = h5py.File(inner, mode)

    def finish():
        h5.close()
        if mode != "r":
            with zipfile.ZipFile(path) as z:
                entries = [(i, z.read(i.filename)) for i in z.infolist()]
            with zipfile.ZipFile(path, "w") as z:
                for info, data in entries:
                    z.writestr(info, open(inner, "rb").read() if info.filename == "model.weights.h5" else data)
        shutil.rmtree(tmp)
    return h5, finish


def datasets(h5):
    out = {}
    h5.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def perturb(src, dst, seed, paths):
    shutil.copyfile(src, dst)
    h5, finish = open_weights(dst, "r+")
    rng = np.random.default_rng(int(seed))
    for p in paths:
        x = h5[p][()]
        noise = rng.normal(0.0, 0.2 * (float(np.abs(x).mean()) + 0.01), x.shape)
        h5[p][...] = (x + noise).astype(np.float32)
    h5.flush()
    finish()


def compare(expected, actual, paths):
    he, fe = open_weights(expected, "r")
    ha, fa = open_weights(actual, "r")
    e, a = datasets(he), datasets(ha)
    problems = []
    if sorted(e) != sorted(a):
        problems.append("datasets differ: %s vs %s" % (sorted(e), sorted(a)))
    for name in sorted(set(e) & set(a)):
        x, y = np.asarray(e[name]), np.asarray(a[name])
        if x.shape != y.shape or x.dtype != y.dtype:
            problems.append("%s: %s %s vs %s %s" % (name, x.shape, x.dtype, y.shape, y.dtype))
        elif name in paths:
            tol = 2e-5 * max(1.0, float(np.abs(x).max()))
            worst = float(np.abs(x - y).max()) if x.size else 0.0
            if worst > tol:
                problems.append("%s: off by up to %g (tolerance %g)" % (name, worst, tol))
        elif x.tobytes() != y.tobytes():
            problems.append("%s: not perturbed, yet changed (up to %g)" % (name, float(np.abs(x.astype(np.float64) - y).max())))
    missing = [p for p in paths if p not in e]
    if missing:
        problems.append("no such datasets: %s" % missing)
    fe(); fa()
    print("OK" if not problems else "\n".join(problems))


if __name__ == "__main__":
    if sys.argv[1] == "perturb":
        perturb(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        compare(sys.argv[2], sys.argv[3], set(sys.argv[4:]))
