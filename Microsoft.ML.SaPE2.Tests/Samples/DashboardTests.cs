using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML.SaPE2.Tests.AutoML;
using Sape2.Cli.Dashboard;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;
using static Microsoft.ML.SaPE2.Tests.Samples.CliTests;

namespace Microsoft.ML.SaPE2.Tests.Samples;

/// <summary>`sape2 sweep --dashboard` and `sape2 dashboard`: the page, read in a real headless browser while a sweep runs.</summary>
[TestClass]
public sealed class DashboardTests
{
    /// <summary>The headless Chromium the page test loads it in (Debian's chromium; .ci/run installs it and sets this).</summary>
    public const string BrowserVariable = "SAPE2_TEST_CHROMIUM";

    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-dashboard-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    [TestMethod]
    public void ParameterImportanceCreditsTheKnobThatMovesTheMetric()
    {
        var random = new Random(3);
        var trials = Enumerable.Range(0, 30).Select(i =>
        {
            string encoding = i % 3 == 0 ? "Sape2" : i % 3 == 1 ? "Absolute" : "None";
            double rate = Math.Exp(random.NextDouble() * 4 - 8);
            double metric = (encoding == "Sape2" ? 0.9 : encoding == "Absolute" ? 0.8 : 0.7) + random.NextDouble() * 0.01;
            string rateText = rate.ToString("R", CultureInfo.InvariantCulture);
            string json = $$"""{"PositionEncoding":"{{encoding}}","LearningRate":{{rateText}},"Preset":"Micro"}""";
            return ((IReadOnlyDictionary<string, string>)ParameterImportance.Flatten(json), metric);
        }).ToList();
        var shares = ParameterImportance.Of(trials);
        Assert.AreEqual("PositionEncoding", shares[0].Knob);
        Assert.IsTrue(shares[0].Share > 0.95, $"{shares[0].Share}");
        var rate = shares.Single(s => s.Knob == "LearningRate");
        Assert.IsTrue(rate.Share < 0.2, $"the learning rate, unrelated to the metric here, got {rate.Share}");
        Assert.IsFalse(shares.Any(s => s.Knob == "Preset"), "a knob every trial shares has no importance to show");
        Assert.AreEqual(0, ParameterImportance.Of(trials.Take(2).ToList()).Count, "two trials are too few to say anything");
    }

    [TestMethod]
    public void ThePageFetchesNothingFromOutside()
    {
        StringAssert.DoesNotMatch(DashboardPage.Html, new Regex(@"(src|href)\s*=|@import|url\(", RegexOptions.IgnoreCase));
        var addresses = Regex.Matches(DashboardPage.Html, @"https?://[^""'\s]+").Select(m => m.Value).Distinct().ToList();
        CollectionAssert.AreEqual(new[] { "http://www.w3.org/2000/svg" }, addresses, "only the SVG namespace, which is a name, not a fetch");
    }

    [TestMethod]
    public void TheDashboardRefusesWhatItCannotShow()
    {
        AssertOneLineError(Run("dashboard", "--out", folder), "holds no sweep");
        AssertOneLineError(Run("dashboard", "--storage", Path.Combine(folder, "none.db")), "does not exist");
        AssertOneLineError(Run("dashboard", "--storage", "Host=127.0.0.1;Password=secret"), "holds a password");
        AssertOneLineError(Run("dashboard", "--out", folder, "--storage", "x.db"), "not both");
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void ThePageShowsAFinishedTrialWhileTheSweepRuns()
    {
        string browser = Environment.GetEnvironmentVariable(BrowserVariable) is { Length: > 0 } given ? given : "";
        if (browser.Length == 0)
            Assert.Inconclusive($"Not run: this test needs a headless Chromium. Set {BrowserVariable} to its path (Debian: apt-get install " +
                "chromium; /usr/bin/chromium), or run .ci/run, which installs it.");
        string data = Path.Combine(folder, "data");
        SyntheticFolder(data, classes: 3, perClass: 8);
        var sweep = SharedStudyWorkers.Start(data, Path.Combine(folder, "sweep"), null, 2, "--max-trials", "12", "--time", "240", "--dashboard");
        try
        {
            var output = new List<string>();
            string? address = null;
            bool finished = false;
            var deadline = Stopwatch.StartNew();
            while (!(finished && address is not null) && deadline.Elapsed < TimeSpan.FromMinutes(3))
            {
                string? line = sweep.StandardOutput.ReadLine();
                if (line is null) break;
                output.Add(line);
                address ??= Regex.Match(line, @"^dashboard: (http://127\.0\.0\.1:\d+/)") is { Success: true } m ? m.Groups[1].Value : null;
                finished |= Regex.IsMatch(line, @"^trial +0: .*completed");
            }
            Assert.IsNotNull(address, "the sweep printed the dashboard's address: " + string.Join('\n', output));
            Assert.IsTrue(finished, "trial 0 finished: " + string.Join('\n', output));
            Assert.IsFalse(sweep.HasExited, "the sweep still runs (more trials to go) while the page is loaded");

            string dom = Browse(browser, address!);
            StringAssert.Contains(dom, "<tr data-trial=\"0\" data-status=\"Completed\"", "the finished trial is on the leaderboard: " + dom);
            StringAssert.Matches(dom, new Regex(@"<polyline points=""[^""]+""[^>]*data-trial=""0"""), "its learning curve is drawn");
            StringAssert.Contains(dom, "MicroAccuracy");
        }
        finally
        {
            if (!sweep.HasExited) sweep.Kill(entireProcessTree: true);
            sweep.WaitForExit();
        }
    }

    /// <summary>The page's DOM after its script ran (fetched the study and drew it), as headless Chromium dumps it.</summary>
    static string Browse(string browser, string address)
    {
        var start = new ProcessStartInfo(browser) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=10000",
            "--dump-dom", address })
            start.ArgumentList.Add(argument);
        using var chromium = Process.Start(start)!;
        var dom = chromium.StandardOutput.ReadToEndAsync();
        var errors = chromium.StandardError.ReadToEndAsync();
        if (!chromium.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            chromium.Kill(entireProcessTree: true);
            Assert.Fail("Chromium did not finish within a minute: " + errors.Result);
        }
        Assert.AreEqual(0, chromium.ExitCode, errors.Result);
        return dom.Result;
    }
}
