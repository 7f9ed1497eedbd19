using System.Text;

namespace Snn.Compiler;

/// <summary>
/// Names that become file or archive entry names (an npz entry per array, named after a layer): each is made of
/// letters, digits, '_', '-' and '.', does not start with '.', holds no "..", is at most <see cref="MaxLength"/>
/// characters, and is unique among the names given out by one instance (ignoring case, so no two collide on a
/// case-insensitive file system). A name already safe and unused comes back unchanged; every other character becomes
/// '_', and a name taken already gets the first free suffix "_2", "_3", ... Every consumer of a name (the npz export's
/// structure document, the Nengo script) must use the name returned, not the raw one.
/// </summary>
public sealed class SafeNames
{
    /// <summary>The longest name given out (with room for ".npy" and a temporary suffix within 255 bytes).</summary>
    public const int MaxLength = 200;

    readonly System.Collections.Generic.HashSet<string> used = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The safe, unused name for <paramref name="raw"/>, now taken.</summary>
    public string Take(string raw)
    {
        var name = Sanitize(raw);
        var unique = name;
        for (var n = 2; !used.Add(unique); n++)
        {
            var suffix = "_" + n;
            unique = name[..Math.Min(name.Length, MaxLength - suffix.Length)] + suffix;
        }
        return unique;
    }

    /// <summary><paramref name="raw"/> in the safe alphabet (not yet unique).</summary>
    public static string Sanitize(string raw)
    {
        var sb = new StringBuilder(Math.Min(raw.Length, MaxLength));
        foreach (var c in raw)
        {
            if (sb.Length == MaxLength) break;
            var safe = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-' or '.';
            // No leading '.', and no ".." anywhere: a '.' right after one becomes '_'.
            var dot = c == '.' && (sb.Length == 0 || sb[^1] == '.');
            sb.Append(safe && !dot ? c : '_');
        }
        return sb.Length == 0 ? "_" : sb.ToString();
    }
}
