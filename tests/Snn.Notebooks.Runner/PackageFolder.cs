namespace Snn.Notebooks.Runner;

/// <summary>The NuGet package folder the kernel's restores use (<c>NUGET_PACKAGES</c>, which its <c>dotnet restore</c> inherits).</summary>
public static class PackageFolder
{
    /// <summary>
    /// Restores go to <paramref name="folder"/>; the Snn packages in it are deleted first. NuGet never re-extracts a
    /// version it already holds, and every pack of this repository has the same version, so a kept copy would be stale.
    /// </summary>
    public static void Use(string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (var dir in Directory.GetDirectories(folder))
            if (Path.GetFileName(dir) is var name && (name == "snn" || name.StartsWith("snn.", StringComparison.Ordinal)))
                Directory.Delete(dir, recursive: true);
        Environment.SetEnvironmentVariable("NUGET_PACKAGES", folder);
    }
}
