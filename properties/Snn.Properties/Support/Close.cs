using LanguageExt;
using Xunit.Sdk;
using Tensor = Snn.Tensor;

namespace Snn.Properties.Support;

/// <summary>Tolerance checks between stages.</summary>
public static class Close
{
    /// <summary>The brief's tolerance: |a - b| &lt;= rel * max(1, max|expected|), per output tensor.</summary>
    public const double Rel = 1e-4;

    public static void Assert(Seq<Tensor> expected, Seq<Tensor> actual, string what, double rel = Rel)
    {
        if (expected.Count != actual.Count) throw new XunitException($"{what}: {expected.Count} outputs vs {actual.Count}");
        for (var o = 0; o < expected.Count; o++)
        {
            var e = expected[o];
            var a = actual[o];
            if (e.Shape != a.Shape)
                throw new XunitException($"{what}: output {o} has shape ({string.Join(",", e.Shape)}) vs ({string.Join(",", a.Shape)})");
            var scale = 1.0;
            for (var i = 0; i < e.Length; i++) scale = Math.Max(scale, Math.Abs(e[i]));
            var tol = rel * scale;
            for (var i = 0; i < e.Length; i++)
            {
                var d = Math.Abs((double)e[i] - a[i]);
                if (!(d <= tol))
                    throw new XunitException(
                        $"{what}: output {o} element {i} differs: {e[i]:R} vs {a[i]:R} (|diff| {d:E3} > tolerance {tol:E3})");
            }
        }
    }

    /// <summary>The same bits in every element of every output (NaN payloads and the sign of zero included).</summary>
    public static void Identical(Seq<Tensor> expected, Seq<Tensor> actual, string what)
    {
        if (expected.Count != actual.Count) throw new XunitException($"{what}: {expected.Count} outputs vs {actual.Count}");
        for (var o = 0; o < expected.Count; o++)
        {
            var (e, a) = (expected[o], actual[o]);
            if (e.Shape != a.Shape)
                throw new XunitException($"{what}: output {o} has shape ({string.Join(",", e.Shape)}) vs ({string.Join(",", a.Shape)})");
            for (var i = 0; i < e.Length; i++)
                if (BitConverter.SingleToInt32Bits(e[i]) != BitConverter.SingleToInt32Bits(a[i]))
                    throw new XunitException($"{what}: output {o} element {i} differs: {e[i]:R} vs {a[i]:R} (bits {BitConverter.SingleToInt32Bits(e[i]):X8} vs {BitConverter.SingleToInt32Bits(a[i]):X8})");
        }
    }

    public static double MaxAbs(Tensor t)
    {
        var m = 0.0;
        for (var i = 0; i < t.Length; i++) m = Math.Max(m, Math.Abs(t[i]));
        return m;
    }
}
