using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// The memory a model or data file may make Snn allocate (<c>--max-memory</c>): every size an untrusted file declares
/// (data shapes, the activations a model's shapes imply, the simulation's arena and outputs) is checked against it
/// before anything is allocated. Sizes are in bytes; 4 GiB unless the caller says otherwise.
/// </summary>
public static class MemoryBudget
{
    /// <summary>The default budget: 4 GiB.</summary>
    public const long DefaultBytes = 4L << 30;

    /// <summary>
    /// A size as <c>--max-memory</c> takes it: bytes (<c>1000000</c>), or a whole or decimal number with a binary unit
    /// K, M, G or T (optionally followed by B or iB: <c>512M</c>, <c>1.5GiB</c>). None for anything else, and for
    /// sizes that are not positive or do not fit 64 bits.
    /// </summary>
    public static Option<long> Parse(string text)
    {
        var s = text.Trim();
        foreach (var suffix in new[] { "iB", "B" })
            if (s.Length > suffix.Length && s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) && char.IsLetter(s[^(suffix.Length + 1)]))
            {
                s = s[..^suffix.Length];
                break;
            }
        var shift = s.Length == 0 ? 0 : char.ToUpperInvariant(s[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        if (shift > 0) s = s[..^1];
        if (s.Length == 0 || !s.All(c => char.IsAsciiDigit(c) || c == '.')) return None;
        if (!decimal.TryParse(s, System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var number))
            return None;
        var bytes = number * (1L << shift);
        return bytes >= 1 && bytes <= long.MaxValue ? Some((long)decimal.Floor(bytes)) : None;
    }

    /// <summary>A size for messages: "6.0 GiB (6442450944 bytes)", or "812 bytes" below a KiB.</summary>
    public static string Show(long bytes)
    {
        if (bytes < 1024) return $"{bytes} bytes";
        var (value, unit) = bytes >= 1L << 30 ? (bytes / (double)(1L << 30), "GiB") : bytes >= 1L << 20 ? (bytes / (double)(1L << 20), "MiB") : (bytes / 1024.0, "KiB");
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{value:0.0} {unit} ({bytes} bytes)");
    }

    /// <summary>The end of a refusal: what was asked against the budget, and how to allow more.</summary>
    public static string Over(long needed, long budget) =>
        $"{Show(needed)}, more than the memory budget of {Show(budget)}; if the file is trusted and the machine has the memory, raise it with --max-memory";

    /// <summary>
    /// The product of <paramref name="dims"/> times <paramref name="elementBytes"/>, or None when it overflows 64 bits
    /// (or a dimension is negative): sizes a file declares are multiplied with overflow checks.
    /// </summary>
    public static Option<long> Bytes(IEnumerable<int> dims, long elementBytes)
    {
        try
        {
            var total = elementBytes;
            foreach (var d in dims)
            {
                if (d < 0) return None;
                total = checked(total * d);
            }
            return total;
        }
        catch (OverflowException)
        {
            return None;
        }
    }

    /// <summary><paramref name="a"/> + <paramref name="b"/>, saturating at long.MaxValue (an estimate past any budget).</summary>
    public static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    /// <summary><paramref name="a"/> × <paramref name="b"/> for non-negative values, saturating at long.MaxValue.</summary>
    public static long Times(long a, long b) => a != 0 && b > long.MaxValue / a ? long.MaxValue : a * b;
}
