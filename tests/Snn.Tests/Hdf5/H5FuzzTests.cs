using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Snn.Compiler;
using Snn.Tests.Support;
using Snn.Compiler.Hdf5;
using Xunit;
using Xunit.Abstractions;

namespace Snn.Tests.Hdf5;

/// <summary>
/// Mutation fuzzing: byte flips, word overwrites (pointers to other structures, huge sizes), block copies,
/// truncations and splices of the fixtures and (when present) the real Keras files. Every case must end in
/// success or an <c>Errors.Hdf5</c> value, never an exception, within 10 s (a hang guard). Seeded (SNN_FUZZ_SEED) and
/// printed; SNN_FUZZ_ITERATIONS raises the number of cases above the default 10,000 (the CI run).
/// </summary>
[Trait("Category", "Slow")]
public sealed class H5FuzzTests(ITestOutputHelper output)
{
    private const int DefaultIterations = 10000;
    /// <summary>A hang guard, not a speed target: cases take milliseconds; one measured 2.3 s under a load average of 7.</summary>
    private static readonly TimeSpan PerCaseLimit = TimeSpan.FromSeconds(10);
    private static readonly string[] Signatures = ["TREE", "SNOD", "HEAP", "GCOL", "OHDR", "OCHK", "FAHD", "FADB", "\x89HDF"];

    private sealed record Seed(string Name, byte[] Bytes, int[] Interesting);

    [Fact]
    public void Mutated_files_give_success_or_error_never_an_exception_or_a_hang()
    {
        var (seed, requested, _) = Fuzz.Read(20250601, DefaultIterations);
        var iterations = Math.Max(requested, DefaultIterations);
        output.WriteLine($"fuzz seed {seed} (set SNN_FUZZ_SEED to replay), {iterations} cases");

        var fixtures = H5TestSupport.Fixtures.Select(f => Corpus(f, File.ReadAllBytes(H5TestSupport.FixturePath(f)))).ToList();
        var real = H5TestSupport.RealFiles().Select(r => Corpus(r.Name, r.Bytes)).ToList();
        if (real.Count == 0) output.WriteLine("no real model files (../shared absent): fuzzing the fixtures only");

        var rng = new Random(seed);
        var failures = new List<string>();
        var faults = new List<string>();
        int opened = 0, clean = 0, withErrors = 0;
        double maxMs = 0;
        string slowest = "";
        var total = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++)
        {
            // Real files are big (1-3 MB, mostly float data): one case in ten.
            var pool = real.Count > 0 && rng.Next(10) == 0 ? real : fixtures;
            var (description, bytes) = Mutate(rng, pool[rng.Next(pool.Count)], pool);
            var sw = Stopwatch.StartNew();
            H5Walk walk;
            try
            {
                walk = H5Walk.Run(bytes, "fuzz.h5", maxObjects: 2000);
            }
            catch (Exception e)
            {
                failures.Add($"case {i} ({description}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                continue;
            }
            sw.Stop();
            if (sw.Elapsed.TotalMilliseconds > maxMs)
            {
                maxMs = sw.Elapsed.TotalMilliseconds;
                slowest = description;
            }
            if (sw.Elapsed > PerCaseLimit) failures.Add($"case {i} ({description}): took {sw.Elapsed.TotalSeconds:F2} s");
            foreach (var e in walk.Errors.Where(e => e.Code != Errors.Hdf5Code))
                failures.Add($"case {i} ({description}): error code {e.Code}: {e.Message}");
            // Faults caught by the reader's last-resort handler are still errors, but they mean a check is missing.
            foreach (var e in walk.Errors.Where(e => e.Message.Contains("malformed file (")))
                faults.Add($"case {i} ({description}): {e.Message}");
            if (walk.Opened) opened++;
            if (walk.Errors.Count == 0) clean++;
            else withErrors++;
        }
        output.WriteLine($"{iterations} cases in {total.Elapsed.TotalSeconds:F1} s: {opened} opened, {clean} read without error, " +
                         $"{withErrors} with errors; slowest {maxMs:F0} ms ({slowest})");
        output.WriteLine($"{faults.Count} errors came from the last-resort exception handler");
        foreach (var f in faults.Take(20)) output.WriteLine("  " + f);
        Assert.True(failures.Count == 0, $"seed {seed}: {failures.Count} failures:\n" + string.Join("\n", failures.Take(10)));
    }

    private static Seed Corpus(string name, byte[] bytes)
    {
        var interesting = new List<int>();
        foreach (var sig in Signatures)
        {
            var pattern = Encoding.Latin1.GetBytes(sig);
            for (int at = bytes.AsSpan().IndexOf(pattern); at >= 0;)
            {
                interesting.Add(at);
                int next = bytes.AsSpan(at + 1).IndexOf(pattern);
                at = next < 0 ? -1 : at + 1 + next;
            }
        }
        return new Seed(name, bytes, interesting.ToArray());
    }

    private static int Position(Random rng, Seed s)
    {
        int len = s.Bytes.Length;
        int r = rng.Next(100);
        if (r < 45 && s.Interesting.Length > 0) return Math.Min(len - 1, s.Interesting[rng.Next(s.Interesting.Length)] + rng.Next(320));
        if (r < 65) return rng.Next(Math.Min(len, 4096));
        return rng.Next(len);
    }

    /// <summary>Sets the end-of-file address of a superblock at offset 0 with 8-byte offsets (v0, or v2/v3 with its checksum).</summary>
    private static bool PatchEndOfFile(byte[] b)
    {
        if (b.Length < 48 || b[0] != 0x89 || b[1] != (byte)'H') return false;
        if (b[8] == 0 && b[13] == 8)
        {
            BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(40), b.Length);
            return true;
        }
        if (b[8] is 2 or 3 && b[9] == 8)
        {
            BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(28), b.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(44), Lookup3.Hash(b.AsSpan(0, 44)));
            return true;
        }
        return false;
    }

    /// <summary>Recomputes the lookup3 checksums of a v2/v3 superblock at offset 0 and of every OHDR chunk #0 found.</summary>
    private static bool Reseal(byte[] b)
    {
        bool any = false;
        if (b.Length >= 48 && b[0] == 0x89 && b[8] is 2 or 3 && b[9] == 8)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(44), Lookup3.Hash(b.AsSpan(0, 44)));
            any = true;
        }
        for (int at = b.AsSpan().IndexOf("OHDR"u8); at >= 0 && at + 8 < b.Length;)
        {
            int flags = b[at + 5];
            int p = at + 6 + ((flags & 0x20) != 0 ? 16 : 0) + ((flags & 0x10) != 0 ? 4 : 0);
            int width = 1 << (flags & 3);
            if (p + width <= b.Length)
            {
                long size = 0;
                for (int k = width - 1; k >= 0; k--) size = (size << 8) | b[p + k];
                long end = p + width + size;
                if (size >= 0 && end + 4 <= b.Length)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan((int)end), Lookup3.Hash(b.AsSpan(at, (int)(end - at))));
                    any = true;
                }
            }
            int next = b.AsSpan(at + 1).IndexOf("OHDR"u8);
            at = next < 0 ? -1 : at + 1 + next;
        }
        return any;
    }

    private static (string, byte[]) Mutate(Random rng, Seed s, List<Seed> pool)
    {
        var b = (byte[])s.Bytes.Clone();
        switch (rng.Next(6))
        {
            case 0:
            case 1:
            {
                int count = 1 + rng.Next(12);
                var at = new List<int>();
                for (int k = 0; k < count; k++)
                {
                    int p = Position(rng, s);
                    at.Add(p);
                    b[p] = rng.Next(3) == 0 ? (byte)(b[p] ^ (1 << rng.Next(8))) : (byte)rng.Next(256);
                }
                // Half of the time recompute the v2 checksums, so that the changes reach the parsers behind them.
                bool resealed = rng.Next(2) == 0 && Reseal(b);
                return ($"{s.Name}: {count} byte(s) changed at {string.Join(",", at)}{(resealed ? " (checksums recomputed)" : "")}", b);
            }
            case 2:
            {
                int p = Position(rng, s);
                int width = new[] { 2, 4, 8 }[rng.Next(3)];
                ulong value = rng.Next(8) switch
                {
                    0 => 0,
                    1 => ulong.MaxValue,
                    2 => (ulong)long.MaxValue,
                    3 => (ulong)b.Length,
                    4 => (ulong)rng.Next(64),
                    5 => (ulong)(1u << rng.Next(32)),
                    _ => (ulong)(s.Interesting.Length > 0 ? s.Interesting[rng.Next(s.Interesting.Length)] : rng.Next(b.Length)),
                };
                for (int k = 0; k < width && p + k < b.Length; k++) b[p + k] = (byte)(value >> (8 * k));
                return ($"{s.Name}: {width}-byte word 0x{value:x} at {p}", b);
            }
            case 3:
            {
                int from = Position(rng, s), to = Position(rng, s), len = 8 + rng.Next(256);
                len = Math.Min(len, Math.Min(b.Length - from, b.Length - to));
                Array.Copy(s.Bytes, from, b, to, len);
                return ($"{s.Name}: {len} bytes copied from {from} to {to}", b);
            }
            case 4:
            {
                int len = rng.Next(2) == 0 ? rng.Next(b.Length) : Math.Max(0, b.Length - 1 - rng.Next(Math.Min(b.Length, 4096)));
                var cut = b[..len];
                // Half of the time also rewrite the superblock's end-of-file address, so that the reader goes past
                // the "file is truncated" check and meets the cut structures themselves.
                bool patched = rng.Next(2) == 0 && PatchEndOfFile(cut);
                return ($"{s.Name}: truncated to {len} bytes{(patched ? " (end-of-file address patched)" : "")}", cut);
            }
            default:
            {
                var other = pool[rng.Next(pool.Count)];
                int cut = rng.Next(b.Length), start = rng.Next(other.Bytes.Length);
                int tail = Math.Min(other.Bytes.Length - start, 4 << 20);
                var spliced = new byte[cut + tail];
                Array.Copy(b, spliced, cut);
                Array.Copy(other.Bytes, start, spliced, cut, tail);
                return ($"{s.Name}[..{cut}] + {other.Name}[{start}..]", spliced);
            }
        }
    }
}
