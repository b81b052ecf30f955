namespace Microsoft.ML.SaPE2.Data;

/// <summary>Which rows go to validation so that it keeps the classes' proportions: the one rule for images and data views.</summary>
internal static class StratifiedSplit
{
    /// <summary>
    /// Row indices of each side, sorted; the same seed gives the same split. Every class with at least two rows keeps at
    /// least one on each side; a class with one row stays in training.
    /// </summary>
    public static (List<int> Train, List<int> Validation) Indices(IReadOnlyList<int> labels, double validationFraction, int seed)
    {
        if (validationFraction is <= 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(validationFraction), $"Should be within (0, 1); got {validationFraction}.");
        var random = new Random(seed);
        var train = new List<int>();
        var validation = new List<int>();
        foreach (var group in Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            random.Shuffle(members);
            int take = members.Length < 2 ? 0 : Math.Clamp((int)Math.Round(members.Length * validationFraction), 1, members.Length - 1);
            validation.AddRange(members.Take(take));
            train.AddRange(members.Skip(take));
        }
        train.Sort();
        validation.Sort();
        return (train, validation);
    }
}
