using FsCheck;
using Xunit;

namespace Snn.Properties.Support;

/// <summary>FSCHECK_SEED's forms become FsCheck replays (FsCheck's own <see cref="Rnd"/> is the oracle).</summary>
public sealed class SeedsTests
{
    [Fact]
    public void A_number_replays_FsChecks_Rnd_of_that_number()
    {
        var rnd = new Rnd(20261204);
        var (replay, start, problem) = Seeds.Parse("20261204");
        Assert.Null(problem);
        Assert.Equal($"({rnd.Seed},{rnd.Gamma})", replay);
        Assert.Equal((rnd.Seed, rnd.Gamma), (start.Seed, start.Gamma));
    }

    [Theory]
    [InlineData("(5,7)", "(5,7)")]
    [InlineData(" 5, 7 ", "(5,7)")]
    [InlineData("(5,7,3)", "(5,7,3)")]
    [InlineData("(17078728529314324245,458058059098705911,54)", "(17078728529314324245,458058059098705911,54)")]
    public void FsChecks_printed_seeds_replay_as_printed(string setting, string expected)
    {
        var (replay, start, problem) = Seeds.Parse(setting);
        Assert.Null(problem);
        Assert.Equal(expected, replay);
        Assert.Equal(expected.Trim('(', ')').Split(',')[1], start.Gamma.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>FsCheck throws on an even gamma (which aborts the test host when it happens in an attribute); Parse refuses it instead.</summary>
    [Theory]
    [InlineData("(1,2)")]
    [InlineData("(5,0,3)")]
    public void An_even_gamma_is_refused_without_throwing(string setting)
    {
        var gamma = ulong.Parse(setting.Trim('(', ')').Split(',')[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Throws<ArgumentException>(() => new Rnd(1, gamma));
        var (replay, _, problem) = Seeds.Parse(setting);
        Assert.Null(replay);
        Assert.Contains("even gamma", problem);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("(1,3,5,7)")]
    [InlineData("1;3")]
    [InlineData("18446744073709551616")]
    [InlineData("(1,3,4294967296)")]
    public void Anything_else_is_refused(string setting)
    {
        var (replay, _, problem) = Seeds.Parse(setting);
        Assert.Null(replay);
        Assert.NotNull(problem);
    }
}
