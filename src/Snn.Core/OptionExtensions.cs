using LanguageExt;

namespace Snn;

public static class OptionExtensions
{
    /// <summary>Pattern-friendly access: <c>if (opt.TryGet(out var v)) ...</c>.</summary>
    public static bool TryGet<T>(this Option<T> option, out T value)
    {
        var found = false;
        T result = default!;
        option.IfSome(v => { found = true; result = v; });
        value = result;
        return found;
    }
}
