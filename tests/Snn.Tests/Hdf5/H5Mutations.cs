using System.Buffers.Binary;
using System.Text;
using Snn.Compiler.Hdf5;

namespace Snn.Tests.Hdf5;

/// <summary>
/// The HDF5 fuzzer's mutations (byte flips, word overwrites, block copies, truncations, splices), shared by
/// H5FuzzTests and the HDF5 evaluation harness in tests/bench/Hdf5Eval, which replays the same cases
/// through another reader. No test framework here: the harness compiles this file on its own.
/// </summary>
internal static class H5Mutations
{
    private static readonly string[] Signatures = ["TREE", "SNOD", "HEAP", "GCOL", "OHDR", "OCHK", "FAHD", "FADB", "\x89HDF"];

    internal sealed record Seed(string Name, byte[] Bytes, int[] Interesting);

    internal static Seed Corpus(string name, byte[] bytes)
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

    internal static (string, byte[]) Mutate(Random rng, Seed s, List<Seed> pool)
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
