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
}
