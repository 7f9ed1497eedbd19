using System.IO.Compression;
using LanguageExt;
using LanguageExt.Common;

namespace Snn.Compiler;

/// <summary>Bounded reading of zip entries (Keras archives, saved networks): never trusts a declared size.</summary>
public static class ZipEntries
{
    /// <summary>
    /// The bytes of <paramref name="entry"/>, refused (through <paramref name="bad"/>) when it declares more than
    /// <paramref name="limit"/> bytes, inflates past its declared size, or its CRC-32 does not match.
    /// </summary>
    public static Either<Error, byte[]> Read(ZipArchiveEntry entry, long limit, Func<string, Error> bad)
    {
        var name = entry.FullName;
        if (entry.Length > limit) return bad($"'{name}' declares {entry.Length} bytes, more than the {limit} allowed");
        using var s = entry.Open();
        using var m = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = s.Read(buffer, 0, buffer.Length)) > 0)
        {
            // Stop a zip bomb as soon as it passes the limit.
            if (m.Length + read > Math.Min(limit, entry.Length)) return bad($"'{name}' inflates past its declared size");
            m.Write(buffer, 0, read);
        }
        var bytes = m.ToArray();
        if (Crc32.Compute(bytes) != entry.Crc32) return bad($"'{name}' is damaged (its CRC-32 does not match)");
        return bytes;
    }
}
