using System.Buffers.Binary;
using System.Text;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Hdf5;

/// <summary>
/// A value to write as a dataset or an attribute: one element type, a shape (empty = scalar) and the elements
/// in row-major (C) order. Counterpart of what <see cref="H5Dataset"/> and <see cref="H5Attribute"/> read.
/// </summary>
public abstract record H5Value(Arr<int> Shape)
{
    /// <summary>Number of elements the value holds (must equal the product of <see cref="Shape"/>).</summary>
    public abstract int Count { get; }

    public static H5Value Scalar(float v) => new H5Float32(Arr<int>.Empty, Arr.create(v));
    public static H5Value Scalar(double v) => new H5Float64(Arr<int>.Empty, Arr.create(v));
    public static H5Value Scalar(long v) => new H5Int64(Arr<int>.Empty, Arr.create(v));
    public static H5Value Text(string v) => new H5String(Arr<int>.Empty, Arr.create(v));
    public static H5Value Floats(Arr<int> shape, float[] values) => new H5Float32(shape, values.ToArr());
    public static H5Value Longs(params long[] values) => new H5Int64(Arr.create(values.Length), values.ToArr());
}

/// <summary>IEEE float32, little-endian.</summary>
public sealed record H5Float32(Arr<int> Shape, Arr<float> Values) : H5Value(Shape)
{
    public override int Count => Values.Count;
}

/// <summary>IEEE float64, little-endian.</summary>
public sealed record H5Float64(Arr<int> Shape, Arr<double> Values) : H5Value(Shape)
{
    public override int Count => Values.Count;
}

/// <summary>Signed 64-bit integers, little-endian.</summary>
public sealed record H5Int64(Arr<int> Shape, Arr<long> Values) : H5Value(Shape)
{
    public override int Count => Values.Count;
}

/// <summary>Signed 32-bit integers, little-endian.</summary>
public sealed record H5Int32(Arr<int> Shape, Arr<int> Values) : H5Value(Shape)
{
    public override int Count => Values.Count;
}

/// <summary>
/// UTF-8 strings: variable-length (h5py's <c>string_dtype()</c>, stored in a global heap; the default) or
/// fixed-length (NUL-padded, as long as the longest encoding, at least one byte). Strings may not contain NUL.
/// </summary>
public sealed record H5String(Arr<int> Shape, Arr<string> Values, bool VariableLength = true) : H5Value(Shape)
{
    public override int Count => Values.Count;
}

/// <summary>An object to write: a group or a dataset, each with attributes.</summary>
public abstract record H5Node(Map<string, H5Value> Attributes);

/// <summary>A group: named children (links) and attributes.</summary>
public sealed record H5GroupNode(Map<string, H5Node> Children, Map<string, H5Value> Attributes) : H5Node(Attributes)
{
    public static readonly H5GroupNode Empty = new(Map<string, H5Node>(), Map<string, H5Value>());

    public H5GroupNode With(string name, H5Node child) => this with { Children = Children.AddOrUpdate(name, child) };
    public H5GroupNode With(string name, H5Value data) => With(name, new H5DatasetNode(data, Map<string, H5Value>()));
}

/// <summary>A contiguous dataset holding <see cref="Value"/>.</summary>
public sealed record H5DatasetNode(H5Value Value, Map<string, H5Value> Attributes) : H5Node(Attributes);

/// <summary>
/// A small HDF5 writer, the counterpart of <see cref="H5File"/>. It writes the structures every Keras/h5py file
/// with default settings uses (keras-formats.md §2.1), so that HDF5 1.8+ (h5py) and this project's reader read them:
/// superblock version 0 with 8-byte offsets and lengths; version-1 object headers; "old-style" symbol-table
/// groups (a local heap of link names, one level-0 v1 B-tree node pointing at one symbol table node holding every
/// link sorted by name; the superblock's group leaf K is raised so the largest group fits one node); contiguous
/// datasets (layout message v3, no filters, no fill-value message); dataspace v1; datatypes v1 (float32/64,
/// int32/64, fixed- and variable-length UTF-8 strings); attribute messages v1 (each at most ~64 KiB); and
/// variable-length strings in global heap collections placed after the superblock.
/// </summary>
public static class H5Writer
{
    const int OffsetSize = 8;
    const int InternalK = 16;
    const int MinLeafK = 4;
    const int EntrySize = 40;
    const ulong Undefined = ulong.MaxValue;
    const int MaxMessage = 0xFFFF;
    static readonly UTF8Encoding Utf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>Writes <paramref name="root"/> to <paramref name="path"/> (through a temporary file, so a failure leaves no partial file).</summary>
    public static Either<Error, Unit> Write(string path, H5GroupNode root) =>
        ToBytes(root).Bind(bytes => OutputFile.Write(path, "the HDF5 file", s => s.Write(bytes)));

    /// <summary>The bytes of an HDF5 file holding <paramref name="root"/> as its root group.</summary>
    public static Either<Error, byte[]> ToBytes(H5GroupNode root)
    {
        var problems = Validate(root, "/").ToSeq().Strict();
        if (!problems.IsEmpty) return Errors.Hdf5Write(string.Join("; ", problems));
        return new Builder(root).Build();
    }

    // ------------------------------------------------------------------ validation

    static IEnumerable<string> Validate(H5GroupNode g, string path)
    {
        foreach (var p in ValidateAttributes(g.Attributes, path)) yield return p;
        // A group's links live in one symbol table node of at most 2K entries, K < 2^15.
        if (g.Children.Count >= 0xFFFF) yield return $"a group with {g.Children.Count} links is too large for one symbol table node";
        foreach (var (name, child) in g.Children)
        {
            var childPath = path == "/" ? "/" + name : path + "/" + name;
            if (BadName(name)) yield return $"invalid link name '{name}' in '{path}' (empty, '.', or containing '/' or NUL)";
            switch (child)
            {
                case H5GroupNode sub:
                    foreach (var p in Validate(sub, childPath)) yield return p;
                    break;
                case H5DatasetNode d:
                    foreach (var p in ValidateValue(d.Value, childPath)) yield return p;
                    foreach (var p in ValidateAttributes(d.Attributes, childPath)) yield return p;
                    break;
                case null:
                    yield return $"'{childPath}' is null";
                    break;
            }
        }
    }

    static IEnumerable<string> ValidateAttributes(Map<string, H5Value> attributes, string path)
    {
        foreach (var (name, value) in attributes)
        {
            if (name.Length == 0 || name.Contains('\0') || !ValidUtf16(name)) yield return $"invalid attribute name '{name}' on '{path}'";
            foreach (var p in ValidateValue(value, $"{path}@{name}")) yield return p;
        }
    }

    static bool BadName(string name) => name.Length == 0 || name == "." || name.Contains('/') || name.Contains('\0') || !ValidUtf16(name);

    /// <summary>False for a string with an unpaired surrogate: the one thing strict UTF-8 cannot encode.</summary>
    static bool ValidUtf16(string s)
    {
        for (var rest = s.AsSpan(); !rest.IsEmpty;)
        {
            if (Rune.DecodeFromUtf16(rest, out _, out var used) != System.Buffers.OperationStatus.Done) return false;
            rest = rest[used..];
        }
        return true;
    }

    static IEnumerable<string> ValidateValue(H5Value? v, string where)
    {
        if (v is null)
        {
            yield return $"'{where}' has no value";
            yield break;
        }
        if (v is not (H5Float32 or H5Float64 or H5Int64 or H5Int32 or H5String))
        {
            yield return $"'{where}': unsupported value type {v.GetType().Name}";
            yield break;
        }
        if (v.Shape.Count > H5Limits.MaxRank) yield return $"'{where}': rank {v.Shape.Count} exceeds {H5Limits.MaxRank}";
        if (v.Shape.Exists(d => d < 0)) yield return $"'{where}': negative dimension in shape ({string.Join(", ", v.Shape)})";
        else if (v.Shape.Fold(1L, (p, d) => p * d) != v.Count)
            yield return $"'{where}': shape ({string.Join(", ", v.Shape)}) does not match {v.Count} values";
        if (v is H5String s)
            foreach (var text in s.Values)
                if (text is null || text.Contains('\0') || !ValidUtf16(text))
                {
                    yield return $"'{where}': strings must be non-null, valid UTF-16 and free of NUL characters";
                    break;
                }
    }

    // ------------------------------------------------------------------ layout

    /// <summary>Post-order layout: heaps of strings first, then every object before the structures that point at it.</summary>
    sealed class Builder
    {
        readonly H5GroupNode _root;
        readonly MemoryStream _out = new();
        readonly Dictionary<H5String, (ulong Collection, int Index)[]> _vlen = new(ReferenceEqualityComparer.Instance);
        readonly int _leafK;

        /// <summary>Sizes the file format cannot hold, found while laying out (a file with any is not returned).</summary>
        readonly List<string> _problems = new();

        /// <summary>The root must have passed <see cref="Validate"/> (value types, link counts).</summary>
        public Builder(H5GroupNode root)
        {
            _root = root;
            _leafK = Math.Max(MinLeafK, (MaxChildren(root) + 1) / 2);
        }

        static int MaxChildren(H5GroupNode g) =>
            g.Children.Values.Fold(g.Children.Count, (m, c) => c is H5GroupNode sub ? Math.Max(m, MaxChildren(sub)) : m);

        public Either<Error, byte[]> Build()
        {
            Pad(96);   // superblock, patched last
            WriteGlobalHeaps();
            var (header, btree, heap) = WriteGroup(_root);
            var bytes = _out.ToArray();
            var sb = bytes.AsSpan(0, 96);
            new byte[] { 0x89, (byte)'H', (byte)'D', (byte)'F', 0x0d, 0x0a, 0x1a, 0x0a }.CopyTo(sb);
            sb[8] = 0;              // superblock version
            sb[9] = 0;              // free-space storage version
            sb[10] = 0;             // root group symbol table entry version
            sb[11] = 0;
            sb[12] = 0;             // shared header message format version
            sb[13] = OffsetSize;
            sb[14] = OffsetSize;    // size of lengths
            sb[15] = 0;
            BinaryPrimitives.WriteUInt16LittleEndian(sb[16..], (ushort)_leafK);
            BinaryPrimitives.WriteUInt16LittleEndian(sb[18..], InternalK);
            BinaryPrimitives.WriteUInt32LittleEndian(sb[20..], 0);            // file consistency flags
            BinaryPrimitives.WriteUInt64LittleEndian(sb[24..], 0);            // base address
            BinaryPrimitives.WriteUInt64LittleEndian(sb[32..], Undefined);    // free-space info
            BinaryPrimitives.WriteUInt64LittleEndian(sb[40..], (ulong)bytes.Length);   // end of file
            BinaryPrimitives.WriteUInt64LittleEndian(sb[48..], Undefined);    // driver info
            WriteEntry(sb[56..], 0, header, groupCache: (btree, heap));
            return _problems.Count == 0 ? bytes : Errors.Hdf5Write(string.Join("; ", _problems));
        }

        // ---- byte helpers

        long Here => _out.Length;

        void Align8()
        {
            while (_out.Length % 8 != 0) _out.WriteByte(0);
        }

        long Pad(int n)
        {
            var at = Here;
            _out.Write(new byte[n]);
            return at;
        }

        long Append(ReadOnlySpan<byte> bytes)
        {
            Align8();
            var at = Here;
            _out.Write(bytes);
            return at;
        }

        static int Pad8(int n) => (n + 7) & ~7;

        /// <summary>A symbol table entry: name offset, object header, cache type 1 (with B-tree and heap) for groups.</summary>
        static void WriteEntry(Span<byte> e, long nameOffset, long header, (long BTree, long Heap)? groupCache)
        {
            e[..EntrySize].Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(e, (ulong)nameOffset);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], (ulong)header);
            if (groupCache is { } c)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(e[16..], 1);
                BinaryPrimitives.WriteUInt64LittleEndian(e[24..], (ulong)c.BTree);
                BinaryPrimitives.WriteUInt64LittleEndian(e[32..], (ulong)c.Heap);
            }
        }

        // ---- global heap (variable-length strings)

        void WriteGlobalHeaps()
        {
            var strings = new List<H5String>();
            Collect(_root, strings);
            var pending = new List<(H5String Owner, int Element, byte[] Bytes)>();
            foreach (var s in strings)
            {
                if (_vlen.ContainsKey(s)) continue;
                _vlen[s] = new (ulong, int)[s.Count];
                for (var i = 0; i < s.Count; i++) pending.Add((s, i, Utf8.GetBytes(s.Values[i])));
            }
            // Collections of at most 65535 objects (the index is 16 bits) and about 1 MiB each.
            var start = 0;
            while (start < pending.Count)
            {
                var end = start;
                long content = 16;
                while (end < pending.Count && end - start < 0xFFFF && (end == start || content + 16 + Pad8(pending[end].Bytes.Length) <= 1 << 20))
                {
                    content += 16 + Pad8(pending[end].Bytes.Length);
                    end++;
                }
                var size = Math.Max(4096, content + 16);
                Align8();
                var address = Here;
                var gcol = new byte[size];
                "GCOL"u8.CopyTo(gcol);
                gcol[4] = 1;
                BinaryPrimitives.WriteUInt64LittleEndian(gcol.AsSpan(8), (ulong)size);
                var p = 16;
                for (var k = start; k < end; k++)
                {
                    var (owner, element, bytes) = pending[k];
                    var index = k - start + 1;
                    BinaryPrimitives.WriteUInt16LittleEndian(gcol.AsSpan(p), (ushort)index);
                    BinaryPrimitives.WriteUInt16LittleEndian(gcol.AsSpan(p + 2), 1);   // reference count
                    BinaryPrimitives.WriteUInt64LittleEndian(gcol.AsSpan(p + 8), (ulong)bytes.Length);
                    bytes.CopyTo(gcol.AsSpan(p + 16));
                    p += 16 + Pad8(bytes.Length);
                    _vlen[owner][element] = ((ulong)address, index);
                }
                // Object 0: the free space, its size counting its own 16-byte header.
                BinaryPrimitives.WriteUInt64LittleEndian(gcol.AsSpan(p + 8), (ulong)(size - p));
                Append(gcol);
                start = end;
            }
        }

        static void Collect(H5GroupNode g, List<H5String> into)
        {
            foreach (var a in g.Attributes.Values) if (a is H5String { VariableLength: true } s) into.Add(s);
            foreach (var (_, child) in Sorted(g.Children))
            {
                switch (child)
                {
                    case H5GroupNode sub:
                        Collect(sub, into);
                        break;
                    case H5DatasetNode d:
                        if (d.Value is H5String { VariableLength: true } s) into.Add(s);
                        foreach (var a in d.Attributes.Values) if (a is H5String { VariableLength: true } sa) into.Add(sa);
                        break;
                }
            }
        }

        /// <summary>Links sorted by the bytes of their UTF-8 names (HDF5 compares names with strcmp).</summary>
        static List<(byte[] Name, H5Node Node)> Sorted(Map<string, H5Node> children)
        {
            var list = children.Map((name, node) => (Utf8.GetBytes(name), node)).Values.ToList();
            list.Sort((a, b) => a.Item1.AsSpan().SequenceCompareTo(b.Item1));
            return list;
        }

        // ---- groups

        (long Header, long BTree, long Heap) WriteGroup(H5GroupNode g)
        {
            var children = Sorted(g.Children);
            var entries = new List<(byte[] Name, long Header, (long, long)? Cache)>();
            foreach (var (name, node) in children)
            {
                switch (node)
                {
                    case H5GroupNode sub:
                    {
                        var (h, b, l) = WriteGroup(sub);
                        entries.Add((name, h, (b, l)));
                        break;
                    }
                    case H5DatasetNode d:
                        entries.Add((name, WriteDataset(d), null));
                        break;
                }
            }

            // Local heap: "" at offset 0, then every name NUL-terminated and padded to 8 bytes; no free block.
            var data = new List<byte>(new byte[8]);
            var offsets = new List<long>();
            foreach (var e in entries)
            {
                offsets.Add(data.Count);
                data.AddRange(e.Name);
                var padded = Pad8(e.Name.Length + 1);
                for (var i = e.Name.Length; i < padded; i++) data.Add(0);
            }
            var heap = new byte[32 + data.Count];
            "HEAP"u8.CopyTo(heap);
            BinaryPrimitives.WriteUInt64LittleEndian(heap.AsSpan(8), (ulong)data.Count);
            BinaryPrimitives.WriteUInt64LittleEndian(heap.AsSpan(16), 1);   // free list head: H5HL_FREE_NULL (none)
            Align8();
            var heapAddress = Here;
            BinaryPrimitives.WriteUInt64LittleEndian(heap.AsSpan(24), (ulong)(heapAddress + 32));
            data.CopyTo(heap, 32);
            Append(heap);

            // One symbol table node holding every link, sized for 2K entries as the library reads it.
            long snodAddress = -1;
            if (entries.Count > 0)
            {
                var snod = new byte[8 + 2 * _leafK * EntrySize];
                "SNOD"u8.CopyTo(snod);
                snod[4] = 1;
                BinaryPrimitives.WriteUInt16LittleEndian(snod.AsSpan(6), (ushort)entries.Count);
                for (var i = 0; i < entries.Count; i++)
                    WriteEntry(snod.AsSpan(8 + i * EntrySize), offsets[i], entries[i].Header, entries[i].Cache);
                snodAddress = Append(snod);
            }

            // A level-0 B-tree node (group type 0) with at most one child, sized for 2K children.
            var tree = new byte[24 + 2 * InternalK * OffsetSize + (2 * InternalK + 1) * OffsetSize];
            "TREE"u8.CopyTo(tree);
            tree[4] = 0;   // node type: group
            tree[5] = 0;   // level
            BinaryPrimitives.WriteUInt16LittleEndian(tree.AsSpan(6), (ushort)(entries.Count > 0 ? 1 : 0));
            BinaryPrimitives.WriteUInt64LittleEndian(tree.AsSpan(8), Undefined);
            BinaryPrimitives.WriteUInt64LittleEndian(tree.AsSpan(16), Undefined);
            // key 0 = offset of "" (0); child 0 = the SNOD; key 1 = offset of the greatest name
            if (entries.Count > 0)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(tree.AsSpan(32), (ulong)snodAddress);
                BinaryPrimitives.WriteUInt64LittleEndian(tree.AsSpan(40), (ulong)offsets[^1]);
            }
            var treeAddress = Append(tree);

            var messages = new List<(ushort Type, byte[] Body)>();
            var stab = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(stab, (ulong)treeAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(stab.AsSpan(8), (ulong)heapAddress);
            messages.Add((0x11, stab));
            AddAttributes(messages, g.Attributes);
            return (WriteHeader(messages), treeAddress, heapAddress);
        }

        // ---- datasets

        long WriteDataset(H5DatasetNode d)
        {
            var raw = Raw(d.Value);
            long address = raw.Length > 0 ? Append(raw) : -1;
            var layout = new byte[18];
            layout[0] = 3;   // version
            layout[1] = 1;   // contiguous
            BinaryPrimitives.WriteUInt64LittleEndian(layout.AsSpan(2), address < 0 ? Undefined : (ulong)address);
            BinaryPrimitives.WriteUInt64LittleEndian(layout.AsSpan(10), (ulong)raw.Length);
            var messages = new List<(ushort, byte[])> { (0x01, Dataspace(d.Value.Shape)), (0x03, Datatype(d.Value)), (0x08, layout) };
            AddAttributes(messages, d.Attributes);
            return WriteHeader(messages);
        }

        void AddAttributes(List<(ushort, byte[])> messages, Map<string, H5Value> attributes)
        {
            foreach (var (name, value) in attributes)
            {
                var nameBytes = Utf8.GetBytes(name);
                var dt = Datatype(value);
                var ds = Dataspace(value.Shape);
                var raw = Raw(value);
                var size = 8 + Pad8(nameBytes.Length + 1) + Pad8(dt.Length) + Pad8(ds.Length) + raw.Length;
                if (Pad8(size) > MaxMessage)
                {
                    _problems.Add($"attribute '{name}' needs {size} bytes; an attribute message holds at most {MaxMessage}");
                    continue;
                }
                var body = new byte[size];
                body[0] = 1;   // version
                BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(2), (ushort)(nameBytes.Length + 1));
                BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(4), (ushort)dt.Length);
                BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(6), (ushort)ds.Length);
                var p = 8;
                nameBytes.CopyTo(body, p);
                p += Pad8(nameBytes.Length + 1);
                dt.CopyTo(body, p);
                p += Pad8(dt.Length);
                ds.CopyTo(body, p);
                p += Pad8(ds.Length);
                raw.CopyTo(body, p);
                messages.Add((0x0C, body));
            }
        }

        /// <summary>A version-1 object header: 16-byte prefix, then messages with 8-byte headers and bodies padded to 8.</summary>
        long WriteHeader(List<(ushort Type, byte[] Body)> messages)
        {
            var chunk = messages.Sum(m => 8 + Pad8(m.Body.Length));
            var header = new byte[16 + chunk];
            header[0] = 1;
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(2), (ushort)messages.Count);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), 1);   // reference count
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), (uint)chunk);
            var p = 16;
            foreach (var (type, body) in messages)
            {
                var size = Pad8(body.Length);
                if (size > MaxMessage)
                {
                    _problems.Add($"header message of {size} bytes exceeds {MaxMessage}");
                    continue;
                }
                BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(p), type);
                BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(p + 2), (ushort)size);
                body.CopyTo(header, p + 8);
                p += 8 + size;
            }
            return Append(header);
        }

        /// <summary>Dataspace message v1 (rank 0 = scalar), without maximum dimensions.</summary>
        static byte[] Dataspace(Arr<int> shape)
        {
            var b = new byte[8 + 8 * shape.Count];
            b[0] = 1;
            b[1] = (byte)shape.Count;
            for (var i = 0; i < shape.Count; i++) BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8 + 8 * i), (ulong)shape[i]);
            return b;
        }

        static byte[] Datatype(H5Value v) => v switch
        {
            H5Float32 => Float(4, 31, 23, 8, 23, 127),
            H5Float64 => Float(8, 63, 52, 11, 52, 1023),
            H5Int64 => Integer(8, signed: true),
            H5Int32 => Integer(4, signed: true),
            H5String { VariableLength: true } => VlenString(),
            H5String s => FixedString(FixedSize(s), s.Values.ForAll(t => t.All(char.IsAscii))),
            _ => [],   // not reached: Validate refuses other value types
        };

        static byte[] Float(int size, int sign, int expLoc, int expSize, int mantSize, uint bias)
        {
            var b = new byte[20];
            b[0] = 0x11;                 // version 1, class 1
            b[1] = 0x20;                 // little-endian, mantissa normalization: implied MSB
            b[2] = (byte)sign;           // sign bit location
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), (uint)size);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8), 0);                    // bit offset
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(10), (ushort)(size * 8));  // precision
            b[12] = (byte)expLoc;
            b[13] = (byte)expSize;
            b[14] = 0;                   // mantissa location
            b[15] = (byte)mantSize;
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), bias);
            return b;
        }

        static byte[] Integer(int size, bool signed)
        {
            var b = new byte[12];
            b[0] = 0x10;                 // version 1, class 0
            b[1] = (byte)(signed ? 0x08 : 0);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), (uint)size);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(10), (ushort)(size * 8));
            return b;
        }

        static byte[] FixedString(int size, bool ascii)
        {
            var b = new byte[8];
            b[0] = 0x13;                              // version 1, class 3
            b[1] = (byte)(1 | (ascii ? 0 : 1) << 4);  // NUL-padded; ASCII or UTF-8
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), (uint)size);
            return b;
        }

        /// <summary>Variable-length UTF-8 string: 16-byte elements (length, heap address, index) over a 1-byte base type.</summary>
        static byte[] VlenString()
        {
            var b = new byte[8 + 12];
            b[0] = 0x19;    // version 1, class 9
            b[1] = 0x01;    // type: string; padding: NUL-terminated
            b[2] = 0x01;    // character set: UTF-8
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 16);
            Integer(1, signed: false).CopyTo(b, 8);
            return b;
        }

        static int FixedSize(H5String s) => Math.Max(1, s.Values.Fold(0, (m, t) => Math.Max(m, Utf8.GetByteCount(t))));

        /// <summary>The element bytes of a value in C order.</summary>
        byte[] Raw(H5Value v)
        {
            switch (v)
            {
                case H5Float32 f:
                {
                    var b = new byte[4L * f.Count];
                    for (var i = 0; i < f.Count; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), f.Values[i]);
                    return b;
                }
                case H5Float64 d:
                {
                    var b = new byte[8L * d.Count];
                    for (var i = 0; i < d.Count; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(8 * i), d.Values[i]);
                    return b;
                }
                case H5Int64 l:
                {
                    var b = new byte[8L * l.Count];
                    for (var i = 0; i < l.Count; i++) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(8 * i), l.Values[i]);
                    return b;
                }
                case H5Int32 n:
                {
                    var b = new byte[4L * n.Count];
                    for (var i = 0; i < n.Count; i++) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4 * i), n.Values[i]);
                    return b;
                }
                case H5String { VariableLength: true } s:
                {
                    var refs = _vlen[s];
                    var b = new byte[16L * s.Count];
                    for (var i = 0; i < s.Count; i++)
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16 * i), (uint)Utf8.GetByteCount(s.Values[i]));
                        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16 * i + 4), refs[i].Collection);
                        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16 * i + 12), refs[i].Index);
                    }
                    return b;
                }
                case H5String s:
                {
                    var size = FixedSize(s);
                    var b = new byte[(long)size * s.Count];
                    for (var i = 0; i < s.Count; i++) Utf8.GetBytes(s.Values[i]).CopyTo(b, i * size);
                    return b;
                }
                default:
                    return [];   // not reached: Validate refuses other value types
            }
        }
    }
}
