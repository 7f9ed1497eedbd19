using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Snn.Compiler;
using Snn.Compiler.Hdf5;
using Xunit;
using Xunit.Abstractions;

namespace Snn.Tests.Hdf5;

/// <summary>Hand-made hostile inputs: cycles, loops, huge sizes, bad checksums, truncations, non-HDF5 data.</summary>
public sealed class H5HostileTests(ITestOutputHelper output)
{
    private static byte[] Fixture(string name) => File.ReadAllBytes(H5TestSupport.FixturePath(name));

    private static int Find(byte[] b, string ascii, int from = 0)
    {
        int i = b.AsSpan(from).IndexOf(Encoding.Latin1.GetBytes(ascii));
        return i < 0 ? -1 : from + i;
    }

    [Fact]
    public void Lookup3_matches_the_reference_vectors()
    {
        Assert.Equal(0xdeadbeefu, Lookup3.Hash([]));
        var text = Encoding.ASCII.GetBytes("Four score and seven years ago");
        Assert.Equal(0x17770551u, Lookup3.Hash(text));
        Assert.Equal(0xcd628161u, Lookup3.Hash(text, 1));
    }

    [Fact]
    public void Non_hdf5_input_is_an_error()
    {
        var rng = new Random(1);
        var random = new byte[4096];
        rng.NextBytes(random);
        byte[] signature = [0x89, (byte)'H', (byte)'D', (byte)'F', 0x0d, 0x0a, 0x1a, 0x0a];
        foreach (var bytes in new[] { [], [1, 2, 3], random, signature, signature.Concat(new byte[600]).ToArray() })
        {
            var e = H5File.Open(bytes, "junk.h5").Err();
            Assert.Equal(Errors.Hdf5Code, e.Code);
            Assert.Contains("junk.h5", e.Message);
            Assert.Contains("byte offset", e.Message);
        }
        Assert.Equal(Errors.Hdf5Code, H5File.Open(null!, "null.h5").Err().Code);
    }

    [Fact]
    public void Every_truncation_is_success_or_error()
    {
        int cases = 0;
        foreach (var name in H5TestSupport.Fixtures)
        {
            var bytes = Fixture(name);
            for (int k = 0; k <= 150; k++)
            {
                int len = (int)((long)bytes.Length * k / 150);
                var walk = H5Walk.Run(bytes[..len], name);
                Assert.All(walk.Errors, e => Assert.Equal(Errors.Hdf5Code, e.Code));
                if (len < bytes.Length) Assert.NotEmpty(walk.Errors);
                if (len < bytes.Length && len > 1024) Assert.Contains(walk.Errors, e => e.Message.Contains("truncated"));
                cases++;
            }
        }
        output.WriteLine($"{cases} truncations");
    }

    [Fact]
    public void Group_btree_pointing_at_itself_is_a_cycle_error()
    {
        var b = Fixture("biggroup.h5");
        int node = FindBTree(b, type: 0, minLevel: 1);
        // signature, type, level, entries (8) + two siblings (16) + key 0 (8 = size of lengths) -> child 0.
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(node + 24 + 8), node);
        var file = H5File.Open(b, "cycle.h5").Ok();
        var many = file.Root.Group("many").Ok().Some("many");
        Assert.Contains("cycle", many.ChildNames().Err().Message);
    }

    [Fact]
    public void Chunk_btree_pointing_at_itself_is_a_cycle_error()
    {
        var b = Fixture("basic.h5");
        int node = FindBTree(b, type: 1, minLevel: 1);
        // Keys of a rank-2 chunk B-tree: size (4) + filter mask (4) + 3 offsets (24) = 32 bytes.
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(node + 24 + 32), node);
        var file = H5File.Open(b, "cycle.h5").Ok();
        var ds = file.Root.Dataset("chunked/many").Ok().Some("chunked/many");
        Assert.Contains("cycle", ds.ReadFloat64().Err().Message);
    }

    [Fact]
    public void Continuation_pointing_at_itself_is_a_cycle_error()
    {
        var b = Fixture("basic.h5");
        // A version-1 continuation message: type 0x0010, size 16, flags 0; point it at its own message header.
        byte[] pattern = [0x10, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00];
        int at = b.AsSpan().IndexOf(pattern);
        Assert.True(at > 0);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at + 8), at);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at + 16), 24);
        var walk = H5Walk.Run(b, "loop.h5");
        Assert.Contains(walk.Errors, e => e.Message.Contains("cycle"));
    }

    [Fact]
    public void Checksum_mismatch_in_a_version_2_header_is_an_error()
    {
        var b = Fixture("latest.h5");
        int ohdr = Find(b, "OHDR");
        b[ohdr + 6] ^= 0x01;
        Assert.Contains("checksum mismatch", H5File.Open(b, "bad.h5").Err().Message);
        var sb = Fixture("latest.h5");
        sb[8 + 3] ^= 0x01; // superblock v2/v3 consistency flags
        Assert.Contains("checksum mismatch", H5File.Open(sb, "bad.h5").Err().Message);
    }

    [Fact]
    public void Soft_link_loop_is_an_error()
    {
        var b = Fixture("latest.h5");
        int at = Find(b, "/g1/g2/deep");
        Assert.True(at > 0);
        Encoding.ASCII.GetBytes("/g1/soft/./").CopyTo(b, at);
        FixOhdrChecksum(b, b.AsSpan(0, at).LastIndexOf("OHDR"u8), at);
        var file = H5File.Open(b, "loop.h5").Ok();
        var e = file.Root.Dataset("g1/soft").Err();
        Assert.Contains("soft link", e.Message);
        Assert.Contains("/g1/soft", e.Message);
    }

    [Fact]
    public void Huge_dimensions_are_errors_without_huge_allocations()
    {
        var b = Fixture("basic.h5");
        // Dataspace v1 of /floats/f32_le: version 1, rank 2, flags, reserved (5), dims 3 and 4.
        byte[] dims = [3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0];
        int at = -1;
        for (int i = b.AsSpan().IndexOf(dims); i >= 0; i = NextIndex(b, dims, i))
            if (b[i - 8] == 1 && b[i - 7] == 2) { at = i; break; }
        Assert.True(at > 0);
        var sw = Stopwatch.StartNew();
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), int.MaxValue);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at + 8), int.MaxValue);
        var ds = H5File.Open(b, "huge.h5").Ok().Root.Dataset("floats/f32_le").Ok().Some("f32_le");
        Assert.Equal([int.MaxValue, int.MaxValue], ds.Shape().Ok());
        Assert.Contains("read limit", ds.ReadFloat32().Err().Message);

        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), 1L << 40);
        ds = H5File.Open(b, "huge.h5").Ok().Root.Dataset("floats/f32_le").Ok().Some("f32_le");
        Assert.Contains("too large", ds.Shape().Err().Message);
        Assert.Equal(Errors.Hdf5Code, ds.ReadFloat64().Err().Code);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void Dense_storage_is_reported_as_not_supported()
    {
        var file = H5File.Open(Fixture("dense.h5"), "dense.h5").Ok();
        var g = file.Root.Group("dense_group").Ok().Some("dense_group");
        var e = g.ChildNames().Err();
        Assert.Contains("dense link storage", e.Message);
        Assert.Contains("not supported", e.Message);
        Assert.Contains("'/dense_group'", e.Message);
        Assert.Contains("not supported", file.Root.Group("dense_attrs").Ok().Some("dense_attrs").Attribute("attr_00").Err().Message);
        Assert.Equal([1f, 2f], file.Root.Dataset("ok").Ok().Some("ok").ReadFloat32().Ok());
    }

    private static int NextIndex(byte[] b, byte[] pattern, int i)
    {
        int n = b.AsSpan(i + 1).IndexOf(pattern);
        return n < 0 ? -1 : i + 1 + n;
    }

    private static int FindBTree(byte[] b, int type, int minLevel)
    {
        for (int at = Find(b, "TREE"); at >= 0; at = Find(b, "TREE", at + 1))
            if (b[at + 4] == type && b[at + 5] >= minLevel) return at;
        throw new InvalidOperationException($"no type-{type} B-tree node of level >= {minLevel} in the fixture");
    }

    /// <summary>Recomputes the lookup3 checksum of the OHDR chunk #0 at <paramref name="ohdr"/>, which must contain <paramref name="edited"/>.</summary>
    private static void FixOhdrChecksum(byte[] b, int ohdr, int edited)
    {
        Assert.True(ohdr >= 0);
        int flags = b[ohdr + 5];
        int p = ohdr + 6 + ((flags & 0x20) != 0 ? 16 : 0) + ((flags & 0x10) != 0 ? 4 : 0);
        int width = 1 << (flags & 3);
        long size = 0;
        for (int k = width - 1; k >= 0; k--) size = (size << 8) | b[p + k];
        int end = p + width + (int)size;
        Assert.True(edited < end, "the edited bytes are not in chunk #0 of that header");
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(end), Lookup3.Hash(b.AsSpan(ohdr, end - ohdr)));
    }
}
