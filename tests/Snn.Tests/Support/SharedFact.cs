using Xunit;

namespace Snn.Tests.Support;

/// <summary>A test that needs ../shared (real Keras files, data sets); skipped with a message when it is absent.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute()
    {
        if (TestModels.Shared is null) Skip = "../shared (real Keras models and data) is not present beside the repository";
    }
}

public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute()
    {
        if (TestModels.Shared is null) Skip = "../shared (real Keras models and data) is not present beside the repository";
    }
}
