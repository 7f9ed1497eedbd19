using System.Runtime.InteropServices;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler;

/// <summary>
/// One file of an output: where it goes, what it is (for errors: "the report", "the saved network"), what goes in it,
/// and whether it is a program (made executable).
/// </summary>
public sealed record OutputPart(string Path, string What, Action<Stream> Fill, bool Executable = false);

/// <summary>
/// Writes only what the user named. A file is written only where nothing stands yet or a regular file does: a symbolic
/// link is never written through nor replaced, and a directory, a named pipe, a device or a socket is never replaced.
/// Each file is written to a new temporary file in its own folder (created exclusively, so a link planted under that
/// name is not followed) and renamed into place once every file of the output is complete; on any failure nothing new
/// is left behind (no temporary file, no part of a several-file output, no folder created for it).
/// </summary>
public static partial class OutputFile
{
    /// <summary>Writes one file (see <see cref="WriteAll"/>).</summary>
    public static Either<Error, Unit> Write(OutputPart part) => WriteAll(Seq1(part));

    /// <summary>Writes <paramref name="path"/> from <paramref name="fill"/>; <paramref name="what"/> names it in errors.</summary>
    public static Either<Error, Unit> Write(string path, string what, Action<Stream> fill) => Write(new OutputPart(path, what, fill));

    /// <summary>
    /// Writes every part, or none: every target is checked before anything is written, every part is complete in its
    /// temporary file before any is renamed into place, and a failure removes what this call created.
    /// </summary>
    public static Either<Error, Unit> WriteAll(Seq<OutputPart> parts)
    {
        if (parts.IsEmpty) return unit;
        var targets = new List<(OutputPart Part, string Full, bool Existed)>();
        foreach (var part in parts)
        {
            try
            {
                var full = Path.GetFullPath(part.Path);
                if (Refusal(full).TryGet(out var why)) return Errors.Write(part.Path, part.What, why);
                targets.Add((part, full, File.Exists(full)));
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or IOException or UnauthorizedAccessException)
            {
                // Boundary: the path API throws for a path the system cannot express (a NUL, an over-long path).
                return Errors.Write(part.Path, part.What, e.Message);
            }
        }

        var folders = new List<string>();   // created by this call, deepest first once reversed
        var temps = new List<string>();
        var placed = new List<string>();    // renamed into place where nothing stood before
        var done = false;
        var current = targets[0].Part;
        try
        {
            foreach (var (part, full, _) in targets)
            {
                current = part;
                var step = Folders(full, folders);
                if (step.IsSome) return Errors.Write(part.Path, part.What, (string)step);
                var temp = Temporary(full, part.Executable);
                if (temp.IsLeft) return Errors.Write(part.Path, part.What, (string)temp.Swap());
                var (path, stream) = ((string, FileStream))temp;
                temps.Add(path);
                using (stream) part.Fill(stream);
            }
            // Checked again just before the renames: what was planted meanwhile is refused, not replaced.
            foreach (var (part, full, _) in targets)
                if (Refusal(full).TryGet(out var why)) return Errors.Write(part.Path, part.What, why);
            for (var i = 0; i < targets.Count; i++)
            {
                var (part, full, existed) = targets[i];
                current = part;
                File.Move(temps[i], full, overwrite: true);
                temps[i] = "";
                if (!existed) placed.Add(full);
            }
            done = true;
            return unit;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Boundary: the file system reports a full disk, permissions or a vanished folder by throwing.
            return Errors.Write(current.Path, current.What, e.Message);
        }
        finally
        {
            if (!done)
            {
                // Best effort: what cannot be removed (permissions changed meanwhile) stays; the error says what failed.
                foreach (var t in temps.Where(t => t != "")) Quietly(() => File.Delete(t));
                foreach (var p in placed) Quietly(() => File.Delete(p));
                foreach (var f in Enumerable.Reverse(folders)) Quietly(() => Directory.Delete(f));
            }
        }
    }

    /// <summary>
    /// Why the existing entry at <paramref name="fullPath"/> may not be replaced, or None when nothing stands there or a
    /// regular file does. The entry itself is examined, never what a link leads to.
    /// </summary>
    public static Option<string> Refusal(string fullPath)
    {
        var entry = new FileInfo(fullPath);
        const string choose = ": remove it or choose another path";
        if (entry.LinkTarget is { } link)
            return $"it is a symbolic link (to '{link}'), and Snn never writes through a link or replaces one{choose}";
        if (Directory.Exists(fullPath)) return $"it is a directory, and Snn replaces only regular files{choose}";
        if (!entry.Exists) return None;
        return Kind(fullPath) switch
        {
            FileKind.Fifo => $"it is a named pipe (FIFO), and Snn replaces only regular files{choose}",
            FileKind.CharDevice => $"it is a character device, and Snn replaces only regular files{choose}",
            FileKind.BlockDevice => $"it is a block device, and Snn replaces only regular files{choose}",
            FileKind.Socket => $"it is a socket, and Snn replaces only regular files{choose}",
            FileKind.Unknown => $"it is not a regular file, and Snn replaces only regular files{choose}",
            _ => None,
        };
    }

    enum FileKind { Regular, Fifo, CharDevice, BlockDevice, Socket, Unknown }

    /// <summary>
    /// The kind of the entry itself (links not followed). Linux reports it through statx(2), whose layout is the same
    /// on every architecture: a 256-byte record with the 16-bit mode at byte 28. Elsewhere an existing entry that is
    /// neither a link nor a directory is taken as a regular file.
    /// </summary>
    static unsafe FileKind Kind(string fullPath)
    {
        if (!OperatingSystem.IsLinux()) return FileKind.Regular;
        const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100;
        const uint StatxType = 0x1;
        var record = stackalloc byte[256];
        try
        {
            if (StatX(AtFdCwd, fullPath, AtSymlinkNoFollow, StatxType, record) != 0) return FileKind.Unknown;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return FileKind.Regular;   // a C library without statx (glibc before 2.28): the managed checks above stand
        }
        return (*(ushort*)(record + 28) & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x1000 => FileKind.Fifo,
            0x2000 => FileKind.CharDevice,
            0x6000 => FileKind.BlockDevice,
            0xC000 => FileKind.Socket,
            _ => FileKind.Unknown,
        };
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int StatX(int dirfd, string path, int flags, uint mask, byte* record);

    /// <summary>Creates the missing folders above <paramref name="fullPath"/>, recording each in <paramref name="created"/>; the error, if any.</summary>
    static Option<string> Folders(string fullPath, List<string> created)
    {
        var missing = new Stack<string>();
        for (var d = Path.GetDirectoryName(fullPath); !string.IsNullOrEmpty(d) && !Directory.Exists(d); d = Path.GetDirectoryName(d))
            missing.Push(d);
        while (missing.Count > 0)
        {
            var d = missing.Pop();
            if (File.Exists(d) || new FileInfo(d).LinkTarget is not null) return $"'{d}' is not a folder";
            Directory.CreateDirectory(d);
            created.Add(d);
        }
        return None;
    }

    /// <summary>
    /// A new temporary file beside <paramref name="fullPath"/>, created exclusively (an entry already there, a planted
    /// link included, is never opened): its path and the open stream, or why none could be made.
    /// </summary>
    static Either<string, (string, FileStream)> Temporary(string fullPath, bool executable)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (executable && !OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead |
                                     UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        for (var attempt = 0; ; attempt++)
        {
            var temp = fullPath + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
            if (File.Exists(temp) || new FileInfo(temp).LinkTarget is not null)
            {
                if (attempt < 3) continue;
                return $"cannot find a free temporary name beside it (last tried '{temp}')";
            }
            return (temp, new FileStream(temp, options));
        }
    }

    static void Quietly(Action remove)
    {
        try { remove(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* best effort, see the caller */ }
    }
}
