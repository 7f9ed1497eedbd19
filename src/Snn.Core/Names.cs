using System.Text;

namespace Snn;

/// <summary>
/// Untrusted text (layer and model names from Keras configs, TF.js manifests and saved networks, paths) rendered for
/// people: control characters (C0, DEL, C1), Unicode bidi controls (U+061C, U+200E/U+200F, U+202A..U+202E,
/// U+2066..U+2069) and the line and paragraph separators U+2028/U+2029 are shown escaped (<c>\t</c>, <c>\n</c>,
/// <c>\r</c>, <c>\xNN</c> up to U+00FF, <c>\uNNNN</c> above), so a name cannot move the cursor, recolour or
/// retitle a terminal, reorder what is shown around it, or fake a line.
/// </summary>
public static class Names
{
    /// <summary>One name, unambiguously: every such character escaped and a backslash doubled.</summary>
    public static string Printable(string name) => Escape(name, backslash: true, lineBreaks: false);

    /// <summary>
    /// Whole lines of output for a terminal: the same characters escaped except line breaks (<c>\n</c>, and <c>\r</c>
    /// just before one), and backslashes left alone, so JSON and paths pass unchanged and text already made
    /// <see cref="Printable"/> passes as it is.
    /// </summary>
    public static string Terminal(string text) => Escape(text, backslash: false, lineBreaks: true);

    /// <summary>Whether <paramref name="c"/> is one of the characters these functions escape (not counting the backslash).</summary>
    public static bool Escaped(char c) =>
        c < 0x20 || c is >= '\u007f' and <= '\u009f'
        || c is '\u061c' or '\u200e' or '\u200f' or '\u2028' or '\u2029'
        || c is >= '\u202a' and <= '\u202e'
        || c is >= '\u2066' and <= '\u2069';

    static string Escape(string s, bool backslash, bool lineBreaks)
    {
        var k = 0;
        while (k < s.Length && !(Escaped(s[k]) || backslash && s[k] == '\\')) k++;
        if (k == s.Length) return s;
        var sb = new StringBuilder(s.Length + 16).Append(s, 0, k);
        for (; k < s.Length; k++)
        {
            var c = s[k];
            if (lineBreaks && (c == '\n' || c == '\r' && k + 1 < s.Length && s[k + 1] == '\n')) sb.Append(c);
            else if (c == '\\') sb.Append(backslash ? @"\\" : @"\");
            else if (!Escaped(c)) sb.Append(c);
            else sb.Append(c switch
            {
                '\t' => @"\t",
                '\n' => @"\n",
                '\r' => @"\r",
                <= '\u00ff' => $@"\x{(int)c:x2}",
                _ => $@"\u{(int)c:x4}",
            });
        }
        return sb.ToString();
    }
}
