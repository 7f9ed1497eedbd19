using LanguageExt;
using Snn.Compiler.Convert;
using Snn.Tests.Support;
using Snn.Training;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Training;

/// <summary>
/// Knowledge distillation against its published math (Hinton, Vinyals and Dean 2015): the tempered cross-entropy
/// τ²·CE(softmax(z/τ), t) with gradient τ·(softmax(z/τ) − t)/N, and a teacher's targets softmax(z_teacher/τ); all
/// worked out here in double on a network small enough to follow by hand.
/// </summary>
public class DistillationTests
{
    /// <summary>x(2) → [identity 2×2] → e(2, relu, gain 2, bias (0.5, −0.25)) → ×3 → out(2), probe out (logits, no softmax).</summary>
    static Network Small()
    {
        var b = new NetworkBuilder();
        var x = b.Input("x", 2);
        var e = b.Ensemble("e", 2, new RectifiedLinear(), 2f, Tensor.Vector(0.5f, -0.25f));
        var o = b.Node("out", 2);
        b.Connect(x, e, new DenseT(Tensor.Own(new[] { 2, 2 }, new[] { 1f, 0f, 0f, 1f }), 1));
        b.Connect(e, o, new ScaleT(2, Tensor.Scalar(3f)));
        b.Probe(o);
        return b.Build().Ok();
    }

    static double[] Logits(float x0, float x1) => new[] { 3 * Math.Max(0, 0.5 + 2 * x0), 3 * Math.Max(0, -0.25 + 2 * x1) };

    static double[] Softmax(double[] z, double tau)
    {
        var m = z.Max(v => v / tau);
        var e = z.Select(v => Math.Exp(v / tau - m)).ToArray();
        return e.Select(v => v / e.Sum()).ToArray();
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    [InlineData(4.0)]
    public void The_tempered_cross_entropy_and_its_gradient_are_the_published_ones(double tau)
    {
        // x = (1, 1): z = (7.5, 5.25); targets t = (0.3, 0.7).
        var z = Logits(1, 1);
        var p = Softmax(z, tau);
        double[] t = { 0.3, 0.7 };
        var loss = tau * tau * -(t[0] * Math.Log(p[0]) + t[1] * Math.Log(p[1]));
        var r = NetworkGradient.Run(GradientOptions.Default with { Temperature = (float)tau }, Small(),
            Seq1(Tensor.Own(new[] { 1, 2 }, new[] { 1f, 1f })), Tensor.Own(new[] { 1, 2 }, new[] { 0.3f, 0.7f })).Ok();
        Assert.Equal(loss, r.Loss, 5);
        // dL/dz = τ(p − t); out = 3·e, both neurons active: d bias = 3·τ(p − t).
        var bias = r.Gradients["e"].ToArray();
        for (var k = 0; k < 2; k++) Assert.Equal(3 * tau * (p[k] - t[k]), bias[k], 5);
    }

    [Fact]
    public void A_teachers_targets_are_its_softened_outputs()
    {
        float[] x = { 1f, 1f, -0.5f, 2f, 0.25f, 0.1f };
        var targets = Distillation.Targets(GradientOptions.Default, Small(), Seq1(Tensor.Own(new[] { 3, 2 }, x)), 3f, batch: 2).Ok();
        Assert.Equal(new[] { 3, 2 }, targets.Shape);
        for (var s = 0; s < 3; s++)
        {
            var expected = Softmax(Logits(x[2 * s], x[2 * s + 1]), 3);
            for (var k = 0; k < 2; k++) Assert.Equal(expected[k], targets[2 * s + k], 6);
        }
        Assert.Equal(Errors.UsageCode, Distillation.Targets(GradientOptions.Default, Small(), Seq1(Tensor.Own(new[] { 3, 2 }, x)), 0f, 2).Err().Code);
    }

    [Fact]
    public void Fit_refuses_distill_together_with_labels()
    {
        var model = TestModels.Fixture("keras", "keras_sequential.keras");
        var r = CliRunner.Run("fit", model, "--data", "x.npy", "--labels", "y.npy", "--distill", "4", "--out", "t.snnz", "--no-progress");
        Assert.Equal(2, r.Code);
        Assert.Contains("--distill", r.Err);
        var bad = CliRunner.Run("fit", model, "--data", "x.npy", "--distill", "-1", "--out", "t.snnz", "--no-progress");
        Assert.Equal(2, bad.Code);
        Assert.Contains("temperature", bad.Err);

        // Without labels the model's own outputs are the targets: the history's accuracy is the agreement with them.
        using var dir = new TempDir();
        var xp = Path.Combine(dir.Path, "x.npy");
        Snn.Compiler.Npy.WriteFloat32(xp, Tensor.Own(new[] { 32, 4 }, new Snn.Compiler.NumpyRandom(1).Uniform(-1, 1, 128).Select(v => (float)v).ToArray())).Ok();
        var ok = CliRunner.Run("fit", model, "--data", xp, "--distill", "2", "--epochs", "1", "--lr", "0.0001", "--out", Path.Combine(dir.Path, "t.snnz"), "--json", "--no-progress");
        Assert.True(ok.Code == 0, ok.Err);
        using var doc = System.Text.Json.JsonDocument.Parse(ok.Out);
        Assert.Equal(1.0, doc.RootElement.GetProperty("history")[0].GetProperty("accuracy").GetDouble(), 6);
    }
}
