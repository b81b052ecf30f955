namespace Sape2.Cli;

/// <summary>
/// A synthetic image task whose label is the arrangement of repeated objects, not their look: a 32×32 grayscale image is an
/// 8×8 grid of 4×4-pixel cells, every cell the same random texture (the background repeats 61 times), except three cells
/// that carry the same object (a white ring around a black centre). The label is how those three sit, never touching: in a
/// <c>row</c>, a <c>column</c>, evenly spaced on a <c>diagonal</c>, at a right-angled <c>corner</c>, or <c>apart</c> (no two
/// sharing a row, a column or a diagonal). Textures, placement, spacing and the shape's
/// orientation are drawn anew for every image, so neither the look of a cell nor its absolute place says anything: only
/// where the objects are relative to each other does. With 4-pixel tokens each token is one cell, so attention sees
/// 61 identical tokens and three identical objects — the repetitive-pattern case SaPE²'s content-aware positions target.
/// </summary>
internal static class RepeatedPatterns
{
    public const int Side = 32, Cell = 4, Cells = Side / Cell, Objects = 3;

    /// <summary>Class names, in label order.</summary>
    public static readonly string[] Classes = ["row", "column", "diagonal", "corner", "apart"];

    /// <summary>Image <paramref name="index"/> of the set drawn from <paramref name="seed"/>: 32×32 gray pixels, row-major, and its
    /// label (index into <see cref="Classes"/>); labels cycle through the classes, so every class has the same number of images.</summary>
    public static (byte[] Pixels, int Label) Image(int seed, int index)
    {
        var random = new Random(unchecked(seed * 1_000_003 + index));   // the same image on every machine and run
        int label = index % Classes.Length;
        var background = Texture(random);
        var odd = Arrangement(label, random);
        var pixels = new byte[Side * Side];
        for (int row = 0; row < Cells; row++)
            for (int column = 0; column < Cells; column++)
            {
                var texture = odd.Contains((row, column)) ? Ring : background;
                for (int y = 0; y < Cell; y++)
                    for (int x = 0; x < Cell; x++)
                    {
                        double noisy = texture[y * Cell + x] + 8 * Gaussian(random);
                        pixels[(row * Cell + y) * Side + column * Cell + x] = (byte)Math.Clamp(Math.Round(noisy), 0, 255);
                    }
            }
        return (pixels, label);
    }

    /// <summary>
    /// The three object cells of a <paramref name="label"/> arrangement, anywhere on the grid, never touching (at least one
    /// background cell between any two, so no token and no small receptive field sees two objects): three in a row or a
    /// column; three on a diagonal, evenly spaced; a right angle (two share a row, two share a column); or apart, when no two
    /// share a row, a column or a diagonal.
    /// </summary>
    public static HashSet<(int Row, int Column)> Arrangement(int label, Random random)
    {
        while (true)
        {
            var cells = Classes[label] switch
            {
                "row" => Line(random, (0, 1)),
                "column" => Line(random, (1, 0)),
                "diagonal" => Diagonal(random),
                "corner" => Corner(random),
                _ => Enumerable.Range(0, Objects).Select(_ => (random.Next(Cells), random.Next(Cells))).ToArray(),
            };
            if (cells.All(c => c.Item1 is >= 0 and < Cells && c.Item2 is >= 0 and < Cells) && Spread(cells) &&
                (Classes[label] != "apart" || cells.SelectMany((a, i) => cells.Skip(i + 1).Select(b => (a, b))).All(p =>
                    p.a.Item1 != p.b.Item1 && p.a.Item2 != p.b.Item2 && Math.Abs(p.a.Item1 - p.b.Item1) != Math.Abs(p.a.Item2 - p.b.Item2))))
                return cells.ToHashSet();
        }
    }

    private static (int, int)[] Line(Random random, (int Row, int Column) step)
    {
        int along = random.Next(Cells), first = random.Next(Cells), second = random.Next(Cells), third = random.Next(Cells);
        return [.. new[] { first, second, third }.Select(p => step.Row == 0 ? (along, p) : (p, along))];
    }

    private static (int, int)[] Diagonal(Random random)
    {
        int spacing = random.Next(2, 4), direction = random.Next(2) == 0 ? 1 : -1, row = random.Next(Cells), column = random.Next(Cells);
        return [(row, column), (row + spacing, column + direction * spacing), (row + 2 * spacing, column + 2 * direction * spacing)];
    }

    private static (int, int)[] Corner(Random random)
    {
        int row = random.Next(Cells), column = random.Next(Cells);
        int across = (random.Next(2) == 0 ? 1 : -1) * random.Next(2, Cells), down = (random.Next(2) == 0 ? 1 : -1) * random.Next(2, Cells);
        return [(row, column), (row, column + across), (row + down, column)];
    }

    /// <summary>Every two cells at least two apart along a row or a column (one background cell between them at least).</summary>
    private static bool Spread((int, int)[] cells) => cells.SelectMany((a, i) => cells.Skip(i + 1).Select(b => (a, b)))
        .All(p => Math.Max(Math.Abs(p.a.Item1 - p.b.Item1), Math.Abs(p.a.Item2 - p.b.Item2)) >= 2);

    /// <summary>The object: a white ring around a black centre, darker and lighter than any background pixel.</summary>
    private static readonly byte[] Ring = Enumerable.Range(0, Cell * Cell)
        .Select(i => (byte)(i / Cell is 0 or Cell - 1 || i % Cell is 0 or Cell - 1 ? 250 : 5)).ToArray();

    /// <summary>A random 4×4 background texture: each pixel one of two grays within [60, 190], at a random contrast.</summary>
    private static byte[] Texture(Random random)
    {
        int dark = random.Next(60, 110), light = random.Next(140, 190);
        return Enumerable.Range(0, Cell * Cell).Select(_ => (byte)(random.Next(2) == 0 ? dark : light)).ToArray();
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
