using System.IO.Compression;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Data;

/// <summary>.npy, .npz and IDX readers against arrays written by hand in the documented layouts.</summary>
public class DataFileTests
{
    static string Temp(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }

    static byte[] Idx(byte type, int[] dims, byte[] data)
    {
        var header = new List<byte> { 0, 0, type, (byte)dims.Length };
        foreach (var d in dims) header.AddRange(new[] { (byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d });
        return header.Concat(data).ToArray();
    }

    [Fact]
    public void ReadsRawAndGzippedIdx()
    {
        var bytes = Idx(0x08, new[] { 2, 2, 3 }, Enumerable.Range(0, 12).Select(i => (byte)(i * 20)).ToArray());
        var raw = Temp("t10k-images-idx3-ubyte");
        File.WriteAllBytes(raw, bytes);
        var gz = Temp("t10k-images-idx3-ubyte.gz");
        using (var f = File.Create(gz))
        using (var z = new GZipStream(f, CompressionLevel.Optimal))
            z.Write(bytes);
        foreach (var path in new[] { raw, gz })
        {
            var t = DataFile.Read(path).Ok();
            Assert.Equal(new[] { 2, 2, 3 }, t.Shape.ToArray());
            Assert.Equal(Enumerable.Range(0, 12).Select(i => (float)(byte)(i * 20)), t.ToArray());
        }
    }

    [Fact]
    public void RefusesTruncatedIdx()
    {
        var path = Temp("x-idx3-ubyte");
        File.WriteAllBytes(path, Idx(0x08, new[] { 100, 28, 28 }, new byte[50]));
        Assert.Contains("truncated", DataFile.Read(path).Err().Message);
    }

    [Fact]
    public void ReadsNpzByDefaultKeyOrByName()
    {
        var path = Temp("d.npz");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            foreach (var (name, value) in new[] { ("arr_0", 1f), ("labels", 2f) })
            {
                using var s = zip.CreateEntry(name + ".npy").Open();
                s.Write(Npy.ToBytes(Tensor.Filled(new[] { 2, 3 }, value)));
            }
        }
        Assert.All(DataFile.Read(path).Ok().ToArray(), v => Assert.Equal(1f, v));
        Assert.All(DataFile.Read(path + ":labels").Ok().ToArray(), v => Assert.Equal(2f, v));
        Assert.Contains("no array 'nope'", DataFile.Read(path + ":nope").Err().Message);
    }

    [Fact]
    public void NpyReadsUint8Int32Float64AndBigEndian()
    {
        // Hand-written headers in the NPY 1.0 layout.
        static byte[] Npy1(string descr, string shape, byte[] data)
        {
            var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
            header = header.PadRight(64 - 11) + "\n";
            return new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, 0 }
                .Concat(System.Text.Encoding.ASCII.GetBytes(header)).Concat(data).ToArray();
        }
        var cases = new (string Descr, byte[] Data, float[] Expected)[]
        {
            ("|u1", new byte[] { 0, 7, 255 }, new[] { 0f, 7f, 255f }),
            ("<i4", BitConverter.GetBytes(-5).Concat(BitConverter.GetBytes(6)).Concat(BitConverter.GetBytes(70000)).ToArray(), new[] { -5f, 6f, 70000f }),
            ("<f8", BitConverter.GetBytes(0.5).Concat(BitConverter.GetBytes(-2.25)).Concat(BitConverter.GetBytes(1e3)).ToArray(), new[] { 0.5f, -2.25f, 1000f }),
            (">f4", new byte[] { 0x3f, 0x80, 0, 0, 0x40, 0, 0, 0, 0xc0, 0x40, 0, 0 }, new[] { 1f, 2f, -3f }),
        };
        foreach (var (descr, data, expected) in cases)
            Assert.Equal(expected, Npy.Read(Npy1(descr, "(3,)", data), descr).Ok().ToArray());
        var fortran = System.Text.Encoding.Latin1.GetString(Npy1("<f4", "(3,)", new byte[12])).Replace("False", "True ");
        Assert.Contains("Fortran", Npy.Read(System.Text.Encoding.Latin1.GetBytes(fortran), "f").Err().Message);
    }
}
