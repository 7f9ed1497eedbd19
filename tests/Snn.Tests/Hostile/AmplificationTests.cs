using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Hostile;

/// <summary>
/// Small files that would make the reader materialize the same storage many times stop at the file's decode budget:
/// <c>legacy_link_amplification.h5</c> (20 KB, written by h5py; tests/fixtures/keras/generate.py) lists 100 hard links
/// to one unallocated 1024×1024 float32 dataset as weights. Before the budget, each link was read again (100 × 4 MiB) until an
/// out-of-memory failure; now it is a model error (exit 3) after a few reads, with peak memory measured in a
/// bounded child process.
/// </summary>
[Trait("Category", "Slow")]
public sealed class AmplificationTests
{
    [Fact]
    public void Hard_links_to_one_dataset_count_against_the_files_budget()
    {
        var r = BoundedRun.Snn(TimeSpan.FromSeconds(120), 3L << 30, "inspect", TestModels.Fixture("keras", "legacy_link_amplification.h5"));
        Assert.False(r.TimedOut, "snn inspect ran past 120 s");
        Assert.True(r.Code == 3, $"exit {r.Code}: {r.Err}");
        Assert.Contains("over the limit", r.Err);
        Assert.Contains("counts each time it is read", r.Err);
        Assert.True(r.PeakBytes < 600L << 20, $"peak resident memory {r.PeakBytes >> 20} MiB, expected under 600 MiB");
    }

    /// <summary>
    /// 1,000 variable-length strings aliased to one 1 MiB global-heap string (a Dense layer's weight_names in a 1 MB
    /// .h5, written by h5py, its heap IDs then pointed at one object: tests/fixtures/hostile/structural.py) decode to
    /// 1 GB of names. Before the string budget this took 2 min and 4.1 GB; now the strings a file decodes are counted
    /// against a few times its size, so the import is refused (exit 3) within seconds and a little memory. The
    /// aliasing itself is checked with h5py on a twin of 1,000 x 4 KiB made the same way.
    /// </summary>
    [H5pyFact]
    public void Strings_aliased_to_one_heap_string_count_each_time_they_are_read()
    {
        var dir = Directory.CreateTempSubdirectory("snn-vlen-alias-").FullName;
        try
        {
            StructuralCases.H5(new { kind = "vlen_alias", @out = Path.Combine(dir, "twin.h5"), n = 1000, size = 4096, check = true });
            var path = Path.Combine(dir, "alias.h5");
            StructuralCases.H5(new { kind = "vlen_alias", @out = path, n = 1000, size = 1 << 20 });
            Assert.InRange(new FileInfo(path).Length, 1L << 20, 2L << 20);
            var r = BoundedRun.Snn(TimeSpan.FromSeconds(60), 3L << 30, "inspect", path);
            Assert.False(r.TimedOut, "snn inspect ran past 60 s");
            Assert.True(r.Code == 3, $"exit {r.Code}: {r.Err}");
            Assert.Contains("variable-length strings read from this file would reach", r.Err);
            Assert.Contains("strings that share heap storage count each time they are read", r.Err);
            Assert.True(r.Elapsed < TimeSpan.FromSeconds(30), $"took {r.Elapsed.TotalSeconds:F1} s, expected under 30 s");
            Assert.True(r.PeakBytes < 400L << 20, $"peak resident memory {r.PeakBytes >> 20} MiB, expected under 400 MiB");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
