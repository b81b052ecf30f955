namespace Microsoft.ML.SaPE2.AutoML;

public sealed partial class Sape2Experiment
{
    /// <summary>What one run of the experiment knows: the space, tuner, rungs, the seeded trials and the best trial so far.</summary>
    private sealed class RunState(Sape2SearchSpace space, ISape2Tuner tuner, IReadOnlyList<Sape2TrialParameters> otherEncodings, AshaRule asha,
        int[] validationLabels)
    {
        public Sape2SearchSpace Space => space;
        public ISape2Tuner Tuner => tuner;
        public AshaRule Asha => asha;
        /// <summary>Trials after trial 0 that run the other encodings with default settings, before the tuner's.</summary>
        public int SeededTrials => otherEncodings.Count;
        /// <summary>The trials this worker has learnt from (its own and, in a shared study, the other workers').</summary>
        public HashSet<int> Seen { get; } = new();
        public Sape2TrialResult? Best { get; set; }
        public bool PlanLogged { get; set; }
        private double trainedSeconds;
        private int trainedEpochs;

        /// <summary>Seconds per epoch over every trial that trained, images included; null before any did.</summary>
        public double? SecondsPerEpoch => trainedEpochs > 0 ? trainedSeconds / trainedEpochs : null;

        /// <summary>Counts a finished trial's epochs and seconds.</summary>
        public void Timed(Sape2TrialResult result)
        {
            if (result.EpochsTrained == 0) return;
            trainedSeconds += result.Seconds;
            trainedEpochs += result.EpochsTrained;
        }

        /// <summary>The validation accuracy of always answering the most frequent class.</summary>
        public double ChanceAccuracy { get; } =
            validationLabels.Length == 0 ? 0 : validationLabels.GroupBy(l => l).Max(g => g.Count()) / (double)validationLabels.Length;

        /// <summary>Trial 0 is the default, the next ones the other position encodings with default settings, then the tuner's.</summary>
        public Sape2TrialParameters? Parameters(int id, Sape2TrialSettings settings) =>
            id == 0 ? space.Default() : id <= otherEncodings.Count ? otherEncodings[id - 1] : tuner.Propose(settings);

        /// <summary>Higher rung first, then the lower loss.</summary>
        public bool IsBetter(Sape2TrialResult candidate, Sape2TrialResult? incumbent) => incumbent is null
            ? !double.IsPositiveInfinity(candidate.Loss)
            : IsBetter(candidate.EpochsTrained, candidate.Loss, incumbent.EpochsTrained, incumbent.Loss);

        /// <summary><see cref="IsBetter(Sape2TrialResult, Sape2TrialResult?)"/> from the epochs and losses alone (a best recorded by another
        /// worker).</summary>
        public bool IsBetter(int epochs, double loss, int incumbentEpochs, double incumbentLoss)
        {
            if (double.IsPositiveInfinity(loss)) return false;
            int level = asha.Level(epochs), incumbentLevel = asha.Level(incumbentEpochs);
            return level != incumbentLevel ? level > incumbentLevel : loss < incumbentLoss;
        }

        public Sape2TrialResult? BestCandidate(IEnumerable<Sape2TrialResult> results)
        {
            Sape2TrialResult? best = null;
            foreach (var result in results)
                if (IsBetter(result, best)) best = result;
            return best;
        }
    }
}
