using System.Runtime.InteropServices;

namespace Snn.Tests.Support;

/// <summary>Special files for hostile-input tests: named pipes (FIFOs), which block a reader that waits for a writer.</summary>
public static partial class SpecialFiles
{
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int mkfifo(string path, uint mode);

    /// <summary>Makes a FIFO at <paramref name="path"/> (mode 0600); throws when the system refuses.</summary>
    public static string Fifo(string path)
    {
        if (mkfifo(path, Convert.ToUInt32("600", 8)) != 0)
            throw new IOException($"mkfifo {path} failed (errno {Marshal.GetLastPInvokeError()})");
        return path;
    }
}
