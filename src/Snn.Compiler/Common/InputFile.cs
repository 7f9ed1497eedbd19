using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler;

/// <summary>
/// Reads only what the user named. A file is read when, after its links are followed, it is a file not larger than
/// the reader's bound and, for a file a model refers to (a TF.js weight shard), inside the model's folder. A file that
/// reports no size is read as empty without being opened: a pipe, a device or a /proc entry reports none, and would
/// otherwise block or stream without end. A file is read in one pass of exactly the size it reported, so one that
/// changes while it is read is an error, not a different model.
/// </summary>
public static class InputFile
{
    /// <summary>
    /// The file <paramref name="path"/> leads to, checked as above; <paramref name="fail"/> makes the error from a
    /// reason. <paramref name="within"/>: a folder the file must lie in after every link is followed.
    /// <paramref name="fits"/>: a further check of the file's size (a memory budget), after the bound.
    /// </summary>
    public static Either<Error, FileInfo> Check(string path, long maxBytes, Func<string, Error> fail, string? within = null, bool allowEmpty = false,
        Func<long, Either<Error, Unit>>? fits = null)
    {
        if (Directory.Exists(path)) return fail("it is a directory, not a file");
        var info = new FileInfo(path);
        if (!info.Exists && info.LinkTarget is null) return fail("file not found");
        var real = RealPath(info.FullName);
        if (real.IsNone) return fail("it is a link that leads nowhere (or through too many links)");
        var target = new FileInfo((string)real);
        if (!target.Exists) return fail(Directory.Exists((string)real) ? "it is a link to a directory, not a file" : "it is a link to a file that does not exist");
        if (within is not null)
        {
            var root = RealPath(Path.GetFullPath(within)).IfNone(Path.GetFullPath(within)).TrimEnd(Path.DirectorySeparatorChar);
            if (!target.FullName.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                return fail($"it leads outside the model's folder (to '{target.FullName}')");
        }
        if (target.Length == 0 && !allowEmpty) return fail("it is empty, or not a regular file (a pipe, a device or a special file)");
        if (target.Length > maxBytes) return fail($"the file is {target.Length} bytes, more than the {maxBytes} allowed");
        return fits is null ? target : fits(target.Length).Map(_ => target);
    }

    /// <summary>The bytes of the file <paramref name="path"/> leads to (see <see cref="Check"/>).</summary>
    public static Either<Error, byte[]> Read(string path, long maxBytes, Func<string, Error> fail, string? within = null,
        Func<long, Either<Error, Unit>>? fits = null) =>
        Check(path, maxBytes, fail, within, allowEmpty: true, fits).Bind(info =>
        {
            // A file that reports no size is read as empty without being opened: an empty file is empty, and a pipe, a
            // device or a /proc entry (which report no size either) would block or stream without end.
            if (info.Length == 0) return Right<Error, byte[]>(System.Array.Empty<byte>());
            try
            {
                using var stream = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                var bytes = new byte[info.Length];
                var read = 0;
                while (read < bytes.Length)
                {
                    var n = stream.Read(bytes, read, bytes.Length - read);
                    if (n == 0) break;
                    read += n;
                }
                return read == bytes.Length && stream.ReadByte() < 0
                    ? Right<Error, byte[]>(bytes)
                    : Left<Error, byte[]>(fail($"it changed while it was read (expected {bytes.Length} bytes)"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Boundary: opening and reading throw what the file system reports (permissions, a vanished file).
                return fail(e.Message);
            }
        });

    /// <summary>
    /// The absolute path with every symbolic link along it followed (the real path), or None when a link leads
    /// nowhere or there are more than 40 of them.
    /// </summary>
    public static Option<string> RealPath(string fullPath)
    {
        var hops = 0;
        var pending = new Stack<string>(fullPath.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse());
        var current = Path.GetPathRoot(fullPath) ?? "/";
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".") continue;
            if (part == "..") { current = Path.GetDirectoryName(current) ?? current; continue; }
            var next = Path.Combine(current, part);
            FileSystemInfo entry = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (entry.LinkTarget is not { } link) { current = next; continue; }
            if (++hops > 40) return None;
            // Walk the link's target from the root, then the rest of the path.
            var resolved = Path.IsPathRooted(link) ? link : Path.Combine(current, link);
            foreach (var p in resolved.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(p);
            current = Path.GetPathRoot(resolved) ?? "/";
        }
        return current;
    }
}
