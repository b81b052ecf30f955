namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// AutoML-style experiments for the SaPE² trainer: <c>mlContext.Sape2Auto().CreateExperiment()</c>. Named apart from
/// ML.NET AutoML's <c>mlContext.Auto()</c> so that both packages can be used in one program.
/// </summary>
public sealed class Sape2AutoCatalog
{
    private readonly MLContext ml;

    internal Sape2AutoCatalog(MLContext ml) => this.ml = ml;

    /// <summary>A new experiment; set its dataset and columns, then <see cref="Sape2Experiment.RunAsync"/>.</summary>
    public Sape2Experiment CreateExperiment()
    {
        MLNetVersionGuard.Check();
        return new Sape2Experiment(ml);
    }
}

/// <summary>Adds <see cref="Sape2Auto"/> to <see cref="MLContext"/>.</summary>
public static class Sape2AutoMLContextExtensions
{
    /// <summary>The SaPE² experiment catalog of <paramref name="mlContext"/>.</summary>
    public static Sape2AutoCatalog Sape2Auto(this MLContext mlContext) =>
        new(mlContext ?? throw new ArgumentNullException(nameof(mlContext)));
}
