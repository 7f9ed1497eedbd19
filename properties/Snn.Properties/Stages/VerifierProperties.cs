using FsCheck.Xunit;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Properties.Generators;
using Snn.Properties.Support;
using Xunit.Abstractions;

namespace Snn.Properties.Stages;

[Properties(Arbitrary = new[] { typeof(KerasModels) })]
public sealed class VerifierProperties(ITestOutputHelper output) : PropertyTests(output)
{
    /// <summary>
    /// Compile.Run with verify: true runs LegalVerify after legalize, NetVerify after convert and OpVerify
    /// after lower and after optimize; every generated model must come through in rate mode, spiking mode
    /// and spiking mode with a lowpass synapse. (The generator only builds models the reference evaluator
    /// accepts, so a legalize error is a failure too.)
    /// </summary>
    [Property(MaxTest = 200)]
    public void Every_stage_verifier_holds_after_every_pass(GeneratedModel m)
    {
        KerasEval.Run(m.Model, m.Inputs(1)).Get("KerasEval (generator sanity)");
        foreach (var (label, options) in Modes.All(m.Seed))
            Compile.Run(options, m.Model, verify: true).Get($"Compile.Run({label}, verify: true)");
    }
}
