using System.Text.Json;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Hostile;

/// <summary>
/// Names from a model file reach the terminal and the exported files: real TF.js fixtures (tfjs-layers 4.22) with a
/// layer (and the model) renamed to a name holding an escape sequence, a bell, a carriage return, a bidi override, a
/// NUL and a literal backslash. No command may print a raw control character; each shows the name escaped as written
/// out by hand here (<see cref="Shown"/>); the exported model.py stays valid Python. Before, all of them went out raw.
/// </summary>
public sealed class ControlCharacterTests : IDisposable
{
    /// <summary>The hostile name: ESC [31m (red), BEL, CR, U+202E (right-to-left override), NUL, U+0085 (C1 NEL), DEL, tab, LF, a literal "\x1b".</summary>
    const string Hostile = "evil\u001b[31mred\u0007\rover\u202egnp\u0000nul\u0085\u007f\tx\ny\\x1b";

    /// <summary>How a person must see it: each control escaped, the literal backslash doubled (so it differs from an escape).</summary>
    const string Shown = @"evil\x1b[31mred\x07\rover\u202egnp\x00nul\x85\x7f\tx\ny\\x1b";

    readonly string dir = Directory.CreateTempSubdirectory("snn-names-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>A copy of TF.js fixture <paramref name="fixture"/> with layer <paramref name="layer"/> (and its weights) and the model renamed to <see cref="Hostile"/>.</summary>
    string Renamed(string fixture, string layer, string model, Func<string, string>? edit = null)
    {
        var target = Path.Combine(dir, fixture);
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(TestModels.Fixture("tfjs", fixture)))
            File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        var path = Path.Combine(target, "model.json");
        var json = JsonSerializer.Serialize(Hostile)[1..^1];   // the name as a JSON string's contents
        var text = File.ReadAllText(path);
        Assert.Contains($"\"{layer}\"", text);
        text = text.Replace($"\"{layer}\"", $"\"{json}\"").Replace($"\"{layer}/", $"\"{json}/").Replace($"\"{model}\"", $"\"{json}\"");
        File.WriteAllText(path, (edit ?? (t => t))(text));
        return path;
    }

    static string Edit(string text, string from, string to)
    {
        Assert.Contains(from, text);
        return text.Replace(from, to);
    }

    /// <summary>The characters a terminal acts on (C0 but line feed, DEL, C1, bidi controls, line separators), found independently of Snn's own list.</summary>
    static void NoRaw(string what, string text)
    {
        var bidi = new[] { 0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029 };
        for (var k = 0; k < text.Length; k++)
        {
            int c = text[k];
            var bad = c < 32 && c != '\n' || c >= 127 && c < 160 || bidi.Contains(c);
            Assert.False(bad, $"{what} has a raw U+{c:X4} at {k}: ...{text[Math.Max(0, k - 40)..Math.Min(text.Length, k + 40)]}...");
        }
    }

    static void Clean(string command, (int Code, string Out, string Err) r, int expected, bool shown = true)
    {
        Assert.True(r.Code == expected, $"snn {command}: exit {r.Code}, expected {expected}: {r.Err}");
        NoRaw($"snn {command} stdout", r.Out);
        NoRaw($"snn {command} stderr", r.Err);
        if (shown) Assert.Contains(Shown, r.Out + r.Err);
    }

    [Fact]
    public void Inspect_shows_a_hostile_layer_name_escaped_in_its_table_and_intact_in_json()
    {
        var model = Renamed("dense_mlp", "dense_Dense1", "sequential_1");
        Clean("inspect", CliRunner.Run("inspect", model), 0);
        var json = CliRunner.Run("inspect", model, "--json");
        Clean("inspect --json", json, 0, shown: false);
        using var doc = JsonDocument.Parse(json.Out);   // JSON escapes it and reads back the very name
        Assert.Contains(doc.RootElement.GetProperty("layers").EnumerateArray(), l => l.GetProperty("name").GetString() == Hostile);
    }

    [Fact]
    public void A_saved_network_carries_the_hostile_name_and_inspect_shows_it_escaped()
    {
        var model = Renamed("dense_mlp", "dense_Dense1", "sequential_1");
        var saved = Path.Combine(dir, "net.snnz");
        Clean("convert", CliRunner.Run("convert", model, "--out", saved), 0, shown: false);
        Clean("inspect NET.snnz", CliRunner.Run("inspect", saved), 0);
    }

    [Fact]
    public void Evaluate_shows_a_hostile_layer_name_escaped_in_its_per_layer_tables()
    {
        var model = Renamed("dense_mlp", "dense_Dense1", "sequential_1");
        var data = TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy");
        var r = CliRunner.Run("evaluate", model, "--data", data, "--mode", "spiking", "--steps", "4", "--per-layer-error");
        Clean("evaluate", r, 0);
        Assert.Contains("Error per layer", r.Out);
    }

    [Fact]
    public void A_model_error_names_the_hostile_layer_escaped()
    {
        var model = Renamed("dense_mlp", "dense_Dense1", "sequential_1", t => Edit(t, "\"units\":5,", "\"units\":64,"));
        foreach (var command in new[] { "inspect", "verify", "convert" })
        {
            var args = command == "convert" ? new[] { command, model, "--out", Path.Combine(dir, "x.snnz") } : new[] { command, model };
            var r = CliRunner.Run(args);
            Clean(command, r, 3);
            Assert.Contains("units is 64", r.Err);
        }
    }

    [Fact]
    public void An_unknown_hostile_class_name_is_shown_escaped()
    {
        var json = JsonSerializer.Serialize(Hostile)[1..^1];
        var model = Renamed("dense_mlp", "dense_Dense2", "sequential_1", t => Edit(t, "\"class_name\":\"Dense\",\"config\":{\"units\":7,", $"\"class_name\":\"{json}\",\"config\":{{\"units\":7,"));
        var r = CliRunner.Run("inspect", model, "--no-fallback");
        Assert.NotEqual(0, r.Code);
        Clean("inspect", r, r.Code);
    }

    [Fact]
    public void Nengo_export_warnings_and_model_py_carry_no_raw_control_character()
    {
        var model = Renamed("maxpool", "max_pooling2d_MaxPooling2D1", "model6");
        var outDir = Path.Combine(dir, "nengo");
        var r = CliRunner.Run("export", model, "--format", "nengo", "--out", outDir);
        Clean("export --format nengo", r, 0);   // the max pooling layer runs as a Python node: its warning names it
        var script = File.ReadAllText(Path.Combine(outDir, "model.py"));
        Assert.DoesNotContain('\0', script);
        // Comments and the docstring show the name escaped; string literals hold it exactly (Python reads them back).
        foreach (var line in script.Split('\n'))
            NoRaw("model.py", line);
        Assert.Contains("# " + Shown, script);
    }

    [Fact]
    public void Nir_export_of_a_nul_name_writes_the_name_escaped_instead_of_failing()
    {
        var model = Renamed("dense_mlp", "dense_Dense1", "sequential_1");
        var path = Path.Combine(dir, "net.nir");
        Clean("export --format nir", CliRunner.Run("export", model, "--format", "nir", "--out", path), 0, shown: false);
        Assert.True(new FileInfo(path).Length > 0);
    }

    [H5pyFact, Trait("Category", "Slow")]
    public void Nir_metadata_names_the_hostile_layer_escaped_as_h5py_reads_it()
    {
        var model = Renamed("dense_mlp", "dense_Dense1", "sequential_1");
        var path = Path.Combine(dir, "net.nir");
        Assert.Equal(0, CliRunner.Run("export", model, "--format", "nir", "--out", path).Code);
        var (code, output, err) = Python.Run(
            "import h5py, json, sys\n" +
            "f = h5py.File(sys.argv[1], 'r')\n" +
            "text = lambda v: v.decode('utf-8') if isinstance(v, bytes) else str(v)\n" +
            "names = [text(g['metadata/keras_layer'][()]) for g in f['node/nodes'].values() if 'metadata/keras_layer' in g]\n" +
            "print(json.dumps({'layers': names, 'model': text(f['node/metadata/model'][()])}))\n",
            path);
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Contains(doc.RootElement.GetProperty("layers").EnumerateArray(), n => n.GetString() == Shown);
        Assert.Equal(Shown, doc.RootElement.GetProperty("model").GetString());
    }

    [Fact, Trait("Category", "Slow")]   // a report run: about 10 s here
    public void The_report_page_shows_a_hostile_layer_name_escaped_and_html_encoded()
    {
        const string name = "<script>alert(1)</script>\u001b[31m\u202e\u0000x";
        var model = Renamed("dense_mlp", "dense_Dense1", "sequential_1", t => t.Replace(JsonSerializer.Serialize(Hostile)[1..^1], JsonSerializer.Serialize(name)[1..^1]));
        var page = Path.Combine(dir, "report.html");
        var r = CliRunner.Run("report", model, "--data", TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy"), "--out", page, "--steps", "4");
        Clean("report", r, 0, shown: false);
        var html = File.ReadAllText(page);
        Assert.Contains(@"<td>&lt;script&gt;alert(1)&lt;/script&gt;\x1b[31m\u202e\x00x</td>", html);
        Assert.DoesNotContain("<script>alert", html);
        Assert.DoesNotContain("&lt;/script&gt;\u001b", html);   // (plotly.js itself holds escape sequences)
        Assert.DoesNotContain("\u202e", html);
        Assert.DoesNotContain("\u0000", html);
    }

    [PythonFact, Trait("Category", "Slow")]
    public void The_exported_model_py_parses_and_holds_the_hostile_model_name_exactly()
    {
        var model = Renamed("dense_mlp", "dense_Dense1", "sequential_1");
        var outDir = Path.Combine(dir, "nengo");
        var r = CliRunner.Run("export", model, "--format", "nengo", "--out", outDir);
        Assert.True(r.Code == 0, r.Err);
        var name = Path.Combine(dir, "name.json");
        File.WriteAllText(name, JsonSerializer.Serialize(Hostile));
        // Python's own parser is the oracle: the file compiles, its docstring (argparse prints it) has no control
        // character, and the string literals hold the names exactly (nengo.Network(label=...) is the model's name).
        var (code, output, err) = Python.Run(
            "import ast, json, sys\n" +
            "tree = ast.parse(open(sys.argv[1], encoding='utf-8').read())\n" +
            "doc = ast.get_docstring(tree)\n" +
            "print(all(ord(c) >= 32 or c == '\\n' for c in doc))\n" +
            "want = json.load(open(sys.argv[2], encoding='utf-8'))\n" +
            "print(any(isinstance(n, ast.Constant) and n.value == want for n in ast.walk(tree)))\n",
            Path.Combine(outDir, "model.py"), name);
        Assert.True(code == 0, $"model.py does not parse: {err}");
        Assert.Equal("True\nTrue\n", output);
    }
}

/// <summary><see cref="Names"/> on characters worked out by hand from the escape forms it documents.</summary>
public sealed class NamesTests
{
    [Theory]
    [InlineData("dense_1", "dense_1")]
    [InlineData("a\u001b[2Jb", @"a\x1b[2Jb")]
    [InlineData("\u0000\u0007\u0008\t\n\r\u001f\u007f\u0080\u009f", @"\x00\x07\x08\t\n\r\x1f\x7f\x80\x9f")]
    [InlineData("\u202a\u202e\u2066\u2069\u200e\u200f\u061c\u2028\u2029", @"\u202a\u202e\u2066\u2069\u200e\u200f\u061c\u2028\u2029")]
    [InlineData(@"C:\x1b", @"C:\\x1b")]
    [InlineData("ünïcödé ok \u00a0\u4e2d", "ünïcödé ok \u00a0\u4e2d")]
    public void Printable_escapes_controls_bidi_and_backslash(string name, string shown) =>
        Assert.Equal(shown, Names.Printable(name));

    [Theory]
    [InlineData("line 1\nline 2\r\n", "line 1\nline 2\r\n")]
    [InlineData("{\"a\":\"\\u001b\"}", "{\"a\":\"\\u001b\"}")]
    [InlineData("bar\rover\u001b[0m\u202e", @"bar\rover\x1b[0m\u202e")]
    public void Terminal_keeps_line_breaks_and_backslashes(string text, string shown) =>
        Assert.Equal(shown, Names.Terminal(text));
}
