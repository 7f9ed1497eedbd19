using System.Diagnostics;
using Xunit;

namespace Snn.Tests.Support;

/// <summary>/usr/bin/python3 with numpy, for tests that run exported Python scripts.</summary>
public static class Python
{
    public const string Exe = "/usr/bin/python3";

    static readonly Lazy<string?> Problem = new(() =>
    {
        if (!File.Exists(Exe)) return $"{Exe} is not installed";
        try
        {
            var (code, _, err) = Run(new[] { "-c", "import numpy" });
            return code == 0 ? null : $"{Exe} has no numpy ({err.Trim()})";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return $"{Exe} cannot be started ({e.Message})";
        }
    });

    /// <summary>Why Python tests are skipped, or null when python3 with numpy is there.</summary>
    public static string? Missing => Problem.Value;

    /// <summary>The interpreter (the name the h5py tests use).</summary>
    public const string Interpreter = Exe;

    static readonly Lazy<string?> NoH5py = new(() =>
    {
        if (Missing is { } why) return why;
        var (code, _, err) = Run("import h5py, numpy");
        return code == 0 ? null : $"h5py is not importable by {Exe} (install python3-h5py): {err.Trim()}";
    });

    /// <summary>Why h5py tests cannot run here (an independent oracle for the files we write), or null when they can.</summary>
    public static string? H5pyMissing => NoH5py.Value;

    static readonly Lazy<string?> NoTorch = new(() =>
    {
        if (Missing is { } why) return why;
        var (code, _, err) = Run("import numpy, torch");
        return code == 0 ? null : $"torch is not importable by {Exe} (install python3-torch): {err.Trim()}";
    });

    /// <summary>Why PyTorch tests (the training peer tests/bench/torch_train_peer.py as an oracle) cannot run here, or null when they can.</summary>
    public static string? TorchMissing => NoTorch.Value;

    /// <summary>Runs <c>python3 -c script args...</c>.</summary>
    public static (int Code, string Out, string Err) Run(string script, params string[] args) =>
        Run(new[] { "-c", script }.Concat(args));

    /// <summary>A package vendored in ../shared/vendor/<paramref name="folder"/> (a folder for PYTHONPATH), or null when
    /// its <paramref name="marker"/> file is absent.</summary>
    static string? Vendored(string folder, string marker) =>
        TestModels.Shared is { } shared && File.Exists(Path.Combine(shared, "vendor", folder, folder, marker))
            ? Path.Combine(shared, "vendor", folder) : null;

    /// <summary>Why the vendored package cannot be used: what it needs (<paramref name="needs"/>'s reason), its folder
    /// missing, or <paramref name="probe"/> failing with it on PYTHONPATH; null when it can.</summary>
    static string? VendoredMissing(string? needs, string? path, string folder, string what, string probe)
    {
        if (needs is { } why) return why;
        if (path is null) return $"../shared/vendor/{folder} ({what}, see ../shared/vendor/README.md) is not present beside the repository";
        var (code, _, err) = Run(new[] { "-c", probe }, path);
        return code == 0 ? null : $"the vendored {folder} in {path} does not import with {Exe}: {err.Trim()}";
    }

    /// <summary>The real Nengo vendored in ../shared/vendor/nengo (a folder for PYTHONPATH), or null when absent.</summary>
    public static string? RealNengo => Vendored("nengo", "simulator.py");

    static readonly Lazy<string?> NoRealNengo = new(() =>
        VendoredMissing(Missing, RealNengo, "nengo", "the real Nengo", "import nengo; nengo.Simulator"));

    /// <summary>Why the real (vendored) Nengo cannot run here, or null when it can.</summary>
    public static string? RealNengoMissing => NoRealNengo.Value;

    /// <summary>The real NIR package vendored in ../shared/vendor/nir (a folder for PYTHONPATH), or null when absent.</summary>
    public static string? RealNir => Vendored("nir", "serialization.py");

    static readonly Lazy<string?> NoRealNir = new(() =>
        VendoredMissing(H5pyMissing, RealNir, "nir", "the real NIR package", "import nir; nir.read"));

    /// <summary>Why the real (vendored) NIR package cannot read files here (it needs numpy and h5py), or null when it can.</summary>
    public static string? RealNirMissing => NoRealNir.Value;

    /// <summary>How python3 starts with the arguments: output and errors redirected, no bytecode files, no user site,
    /// <paramref name="pythonPath"/> (or nothing) as the module path.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, string? pythonPath = null)
    {
        var info = new ProcessStartInfo(Exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        info.Environment["PYTHONNOUSERSITE"] = "1";
        if (pythonPath is not null) info.Environment["PYTHONPATH"] = pythonPath;
        else info.Environment.Remove("PYTHONPATH");
        return info;
    }

    /// <summary>Runs python3 with the arguments; <paramref name="pythonPath"/> goes first on the module path.</summary>
    public static (int Code, string Out, string Err) Run(IEnumerable<string> args, string? pythonPath = null)
    {
        using var p = Process.Start(StartInfo(args, pythonPath)) ?? throw new InvalidOperationException("python3 did not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr);
    }
}

/// <summary>A test that runs python3 (with numpy); skipped with a message when it is missing.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (Python.Missing is { } why) Skip = why;
    }
}

public sealed class PythonTheoryAttribute : TheoryAttribute
{
    public PythonTheoryAttribute()
    {
        if (Python.Missing is { } why) Skip = why;
    }
}

/// <summary>A test that needs python3 and ../shared (real models and data).</summary>
public sealed class PythonSharedFactAttribute : FactAttribute
{
    public PythonSharedFactAttribute()
    {
        if (Python.Missing is { } why) Skip = why;
        else if (TestModels.Shared is null) Skip = "../shared (real Keras models and data) is not present beside the repository";
    }
}

/// <summary>A test that runs the real Nengo vendored in ../shared/vendor/nengo; skipped with the reason when it cannot.</summary>
public sealed class RealNengoFactAttribute : FactAttribute
{
    public RealNengoFactAttribute()
    {
        if (Python.RealNengoMissing is { } why) Skip = why;
    }
}

/// <summary>A theory that runs the real Nengo vendored in ../shared/vendor/nengo; skipped with the reason when it cannot.</summary>
public sealed class RealNengoTheoryAttribute : TheoryAttribute
{
    public RealNengoTheoryAttribute()
    {
        if (Python.RealNengoMissing is { } why) Skip = why;
    }
}

/// <summary>A test that reads files with the real NIR package vendored in ../shared/vendor/nir; skipped with the reason when it cannot.</summary>
public sealed class RealNirFactAttribute : FactAttribute
{
    public RealNirFactAttribute()
    {
        if (Python.RealNirMissing is { } why) Skip = why;
    }
}

/// <summary>A test that needs /usr/bin/python3 with h5py (.ci/run installs python3-h5py); skipped with the reason otherwise.</summary>
public sealed class H5pyFactAttribute : FactAttribute
{
    public H5pyFactAttribute()
    {
        if (Python.H5pyMissing is { } why) Skip = why;
    }
}

/// <summary>A theory that needs /usr/bin/python3 with torch (.ci/run installs python3-torch) and ../shared; skipped with the reason otherwise.</summary>
public sealed class TorchSharedTheoryAttribute : TheoryAttribute
{
    public TorchSharedTheoryAttribute()
    {
        if (TestModels.Shared is null) Skip = "../shared (real Keras models and data) is not present beside the repository";
        else if (Python.TorchMissing is { } why) Skip = why;
    }
}

/// <summary>
/// Natural-image crops from the photographs Debian's python3-skimage ships (tests/fixtures/crops/generate.py), for
/// models whose data is not here: generated once per setting into a cache folder under the temp directory.
/// </summary>
public static class Crops
{
    static readonly Lazy<string?> NoSkimage = new(() =>
    {
        if (Python.Missing is { } why) return why;
        var (code, _, err) = Python.Run("import skimage.data, skimage.io, skimage.transform");
        return code == 0 ? null : $"scikit-image is not importable by {Python.Exe} (install python3-skimage): {err.Trim()}";
    });

    /// <summary>Why crop tests cannot run here, or null when they can.</summary>
    public static string? Missing => NoSkimage.Value;

    static readonly object Gate = new();

    /// <summary>The path of a uint8 (N, size, size, 3) .npy of crops (N, 3, size, size) when channels first.</summary>
    public static string Make(int size, int count, int seed, string? photos = null, bool channelsFirst = false)
    {
        var generator = Path.Combine(TestModels.RepoRoot, "tests", "fixtures", "crops", "generate.py");
        var stamp = File.GetLastWriteTimeUtc(generator).Ticks;
        var dir = Path.Combine(Path.GetTempPath(), "snn-crops");
        var name = $"crops_{size}_{count}_{seed}_{(photos ?? "all").Replace(',', '+')}_{(channelsFirst ? "cf" : "cl")}_{stamp}.npy";
        var path = Path.Combine(dir, name);
        lock (Gate)
        {
            if (File.Exists(path)) return path;
            Directory.CreateDirectory(dir);
            var partial = path + $".{Environment.ProcessId}.partial.npy";
            var args = new List<string> { generator, "--size", size.ToString(), "--count", count.ToString(), "--seed", seed.ToString(), "--out", partial };
            if (photos is not null) args.AddRange(new[] { "--photos", photos });
            if (channelsFirst) args.Add("--channels-first");
            var (code, _, err) = Python.Run(args);
            if (code != 0) throw new InvalidOperationException($"the crop generator failed: {err}");
            File.Move(partial, path, overwrite: true);
            return path;
        }
    }
}

/// <summary>A test that needs ../shared and the crop generator (python3 with scikit-image; .ci/run installs python3-skimage).</summary>
public sealed class CropsFactAttribute : FactAttribute
{
    public CropsFactAttribute()
    {
        if (TestModels.Shared is null) Skip = "../shared (real Keras models and data) is not present beside the repository";
        else if (Crops.Missing is { } why) Skip = why;
    }
}

/// <summary>A theory that needs /usr/bin/python3 with h5py (and, with <c>shared: true</c>, ../shared); skipped with the reason otherwise.</summary>
public sealed class H5pyTheoryAttribute : TheoryAttribute
{
    public H5pyTheoryAttribute(bool shared = false)
    {
        if (Python.H5pyMissing is { } why) Skip = why;
        else if (shared && TestModels.Shared is null) Skip = "../shared (real Keras models and data) is not present beside the repository";
    }
}
