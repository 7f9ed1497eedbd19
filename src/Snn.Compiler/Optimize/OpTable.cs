using LanguageExt;
using Snn.Ops;

namespace Snn.Compiler.Optimize;

/// <summary>
/// A rewrite's working copy of a program's operators: slots in program order, and for every signal the slots of the
/// operators that write it and that read it, kept current as operators are replaced (in their slot) and removed. It
/// lets a rewrite find a signal's writers and readers without scanning the program, so every rewrite is linear in
/// the program's size. Local to one rewrite; the program it came from is not changed.
/// </summary>
sealed class OpTable
{
    readonly List<Op?> slots;
    readonly List<System.Collections.Generic.HashSet<int>> writers = new(), readers = new();

    public OpTable(OpProgram p)
    {
        slots = p.Ops.Map(o => (Op?)o).ToList();
        Grow(p.Signals.Count);
        for (var k = 0; k < slots.Count; k++) Index(k, slots[k]!, add: true);
    }

    /// <summary>Makes room in the index for signals up to <paramref name="count"/> (a rewrite that adds signals).</summary>
    public void Grow(int count)
    {
        while (writers.Count < count)
        {
            writers.Add(new System.Collections.Generic.HashSet<int>());
            readers.Add(new System.Collections.Generic.HashSet<int>());
        }
    }

    public int Count => slots.Count;

    /// <summary>The operator in slot <paramref name="k"/>, or null once removed.</summary>
    public Op? this[int k] => slots[k];

    /// <summary>The slots of the operators that set, increment or update signal <paramref name="s"/>.</summary>
    public IReadOnlyCollection<int> Writers(int s) => writers[s];

    /// <summary>The slots of the operators that read signal <paramref name="s"/>.</summary>
    public IReadOnlyCollection<int> Readers(int s) => readers[s];

    public void Replace(int k, Op op)
    {
        Index(k, slots[k]!, add: false);
        slots[k] = op;
        Index(k, op, add: true);
    }

    public void Remove(int k)
    {
        Index(k, slots[k]!, add: false);
        slots[k] = null;
    }

    /// <summary>The operators left, in program order.</summary>
    public Seq<Op> Ops => slots.Where(o => o is not null).Select(o => o!).ToSeq().Strict();

    void Index(int k, Op op, bool add)
    {
        foreach (var s in op.Writes) Update(writers[s], k, add);
        foreach (var s in op.Reads) Update(readers[s], k, add);
    }

    static void Update(System.Collections.Generic.HashSet<int> set, int k, bool add)
    {
        if (add) set.Add(k);
        else set.Remove(k);
    }
}
