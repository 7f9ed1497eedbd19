using FsCheck.Xunit;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Properties.Generators;
using Snn.Properties.Support;
using Snn.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace Snn.Properties.Stages;

/// <summary>
/// Rate-mode meaning is preserved by every pass. Tolerance (the brief's): per output tensor,
/// |a - b| &lt;= 1e-4 * max(1, max|reference|). Rate mode has no state and no synapse, so one
/// interpreter step is the steady state.
/// </summary>
[Properties(Arbitrary = new[] { typeof(KerasModels) })]
public sealed class EquivalenceProperties(ITestOutputHelper output) : PropertyTests(output)
{
    static readonly SimOptions OneStep = new(Steps: 1);

    [Property(MaxTest = 200)]
    public void Reference_evaluator_matches_rate_mode_interpreter(GeneratedModel m)
    {
        var x = m.Inputs();
        var compiled = Compile.Run(Modes.Rate, m.Model, verify: true).Get("compile");
        var reference = KerasEval.Run(m.Model, x).Get("KerasEval");
        Close.Assert(reference, Interpreter.Run(compiled.Program, compiled.Functions, x, OneStep).Ok(), "KerasEval vs Interpreter(optimized program)");
    }

    [Property(MaxTest = 200)]
    public void Every_edge_agrees_keras_legal_network_lowered(GeneratedModel m)
    {
        var x = m.Inputs();
        var c = Compile.Run(Modes.Rate, m.Model, verify: true).Get("compile");
        var keras = KerasEval.Run(m.Model, x).Get("KerasEval");
        var legal = LegalEval.Run(c.Legal, x).Ok();
        Close.Assert(keras, legal, "KerasEval vs LegalEval");
        var net = NetEval.Run(c.Functions, c.Network, x).Ok();
        Close.Assert(legal, net, "LegalEval vs NetEval");
        Close.Assert(net, Interpreter.Run(c.Lowered, c.Functions, x, OneStep).Ok(), "NetEval vs Interpreter(lowered)");
    }
}
