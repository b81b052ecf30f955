using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>The metric an experiment optimises on its validation set.</summary>
public enum Sape2MulticlassMetric
{
    /// <summary>Accuracy over all images (ML.NET's MicroAccuracy). The default.</summary>
    MicroAccuracy,
    /// <summary>Mean per-class recall (ML.NET's MacroAccuracy): for imbalanced classes.</summary>
    MacroAccuracy,
    /// <summary>Mean cross-entropy (ML.NET's LogLoss), lower is better: for calibrated probabilities.</summary>
    LogLoss,
}

/// <summary>
/// "Which encoding, size and recipe fit my images, within N minutes?" An AutoML-style experiment over the SaPE² trainer,
/// with ML.NET AutoML's verbs: set a dataset and columns, optionally a metric, search space, tuner, budget, monitor and
/// checkpoint, then <see cref="RunAsync"/>. Trials are scheduled by ASHA under the time budget and stopped through the
/// trainer's own cancellation; the best trial's fitted model is returned. Create one with
/// <c>mlContext.Sape2Auto().CreateExperiment()</c>.
/// </summary>
public sealed partial class Sape2Experiment
{
    /// <summary>The budget when <see cref="SetTrainingTimeInSeconds"/> is not called (logged when used).</summary>
    public const uint DefaultTrainingTimeInSeconds = 600;

    private readonly MLContext ml;
    private IDataView? trainData, validationData, wholeData;
    private string labelColumn = Sape2ImageClassificationTrainer.Defaults.LabelColumnName;
    private string featureColumn = Sape2ImageClassificationTrainer.Defaults.FeatureColumnName;
    private Sape2MulticlassMetric metric = Sape2MulticlassMetric.MicroAccuracy;
    private Sape2SearchSpace? searchSpace;
    private uint? trainingTimeInSeconds;
    private int? maxModels, maxEpochsPerTrial, seed;
    private ISape2Tuner? tuner;
    private string tunerName = "cost-frugal";
    private ISape2Monitor? monitor;
    private string? checkpointFolder;
    private string? storage, study;
    private Sape2AshaOptions asha = new();
    private Sape2ImageClassificationTrainer.Options trainerTemplate = new();
    private bool finalFit = true, ensemble = true;
    private Func<int, ISape2Tuner>? tunerFactory;
    private readonly List<Sape2TrialResult> trials = new();
    /// <summary>The last run's settings and whether its images went to the pretrained backbone (for <see cref="TrainerOptions"/>).</summary>
    private (ExperimentSettings Settings, bool OnPretrainedBackbone)? lastRun;
    private int running;

    internal Sape2Experiment(MLContext ml) => this.ml = ml;

    /// <summary>Every trial so far (in a resumed experiment, the earlier runs' too), in the order they ran.</summary>
    public IReadOnlyList<Sape2TrialResult> Trials
    {
        get { lock (trials) return trials.ToArray(); }
    }

    /// <summary>Trains on <paramref name="train"/> and scores every trial on <paramref name="validation"/>.</summary>
    public Sape2Experiment SetDataset(IDataView train, IDataView validation)
    {
        (trainData, validationData, wholeData) = (train ?? throw new ArgumentNullException(nameof(train)),
            validation ?? throw new ArgumentNullException(nameof(validation)), null);
        return this;
    }

    /// <summary>Trains on the split's <c>TrainSet</c> and validates on its <c>TestSet</c>.</summary>
    public Sape2Experiment SetDataset(DataOperationsCatalog.TrainTestData split) => SetDataset(split.TrainSet, split.TestSet);

    /// <summary>Holds out a stratified 10% of <paramref name="data"/> (by the label column, from the experiment's seed) for validation.</summary>
    public Sape2Experiment SetDataset(IDataView data)
    {
        (trainData, validationData, wholeData) = (null, null, data ?? throw new ArgumentNullException(nameof(data)));
        return this;
    }

    /// <summary>The label column (a key type, from <c>MapValueToKey</c>) and the image column (bytes or Image). Default "Label",
    /// "Features".</summary>
    public Sape2Experiment SetColumns(string labelColumnName = Sape2ImageClassificationTrainer.Defaults.LabelColumnName,
        string featureColumnName = Sape2ImageClassificationTrainer.Defaults.FeatureColumnName)
    {
        (labelColumn, featureColumn) = (NonEmpty(labelColumnName, nameof(labelColumnName)), NonEmpty(featureColumnName, nameof(featureColumnName)));
        return this;
    }

    /// <summary>The metric to optimise on the validation set. Default <see cref="Sape2MulticlassMetric.MicroAccuracy"/>.</summary>
    public Sape2Experiment SetMulticlassClassificationMetric(Sape2MulticlassMetric metric)
    {
        if (!Enum.IsDefined(metric)) throw new ArgumentOutOfRangeException(nameof(metric), $"No metric {metric}.");
        this.metric = metric;
        return this;
    }

    /// <summary>The knobs to tune. Default <see cref="Sape2SearchSpace.ForDevice"/> for the device the trials train on.</summary>
    public Sape2Experiment SetSearchSpace(Sape2SearchSpace searchSpace)
    {
        this.searchSpace = searchSpace ?? throw new ArgumentNullException(nameof(searchSpace));
        return this;
    }

    /// <summary>
    /// The wall-clock budget, images included: when it ends, the running trial stops within one training step and the
    /// best trial is returned. Default <see cref="DefaultTrainingTimeInSeconds"/>.
    /// </summary>
    public Sape2Experiment SetTrainingTimeInSeconds(uint seconds)
    {
        if (seconds == 0) throw new ArgumentOutOfRangeException(nameof(seconds), "Must be at least one second.");
        trainingTimeInSeconds = seconds;
        return this;
    }

    /// <summary>At most this many trials (finished ones of a resumed experiment included). Default: no limit but the budget.</summary>
    public Sape2Experiment SetMaxModelToExplore(int maxModels)
    {
        if (maxModels < 1) throw new ArgumentOutOfRangeException(nameof(maxModels), $"Must be 1 or more; got {maxModels}.");
        this.maxModels = maxModels;
        return this;
    }

    /// <summary>R: the epochs every trial is planned for (its cosine schedule's length; ASHA's rungs are below it). Default: the trainer's
    /// automatic epochs for the data, as trial 0 chooses them.</summary>
    public Sape2Experiment SetMaxEpochsPerTrial(int epochs)
    {
        if (epochs < 1) throw new ArgumentOutOfRangeException(nameof(epochs), $"Must be 1 or more; got {epochs}.");
        maxEpochsPerTrial = epochs;
        return this;
    }

    /// <summary>Random search from <paramref name="seed"/> (default: the experiment's seed).</summary>
    public Sape2Experiment SetRandomSearchTuner(int? seed = null) => SetTuner(null, "random", s => new Sape2RandomSearchTuner(seed ?? s));

    /// <summary>Grid search: every choice and <paramref name="stepsPerRange"/> values of each range; the experiment ends when it is
    /// covered.</summary>
    public Sape2Experiment SetGridSearchTuner(int stepsPerRange = 3)
    {
        if (stepsPerRange < 1) throw new ArgumentOutOfRangeException(nameof(stepsPerRange), $"Must be 1 or more; got {stepsPerRange}.");
        return SetTuner(null, $"grid({stepsPerRange})", _ => new Sape2GridSearchTuner(stepsPerRange));
    }

    /// <summary>The CFO-style local search from the default (the default tuner).</summary>
    public Sape2Experiment SetCostFrugalTuner(int? seed = null) => SetTuner(null, "cost-frugal", s => new Sape2CostFrugalTuner(seed ?? s));

    /// <summary>Your own tuner.</summary>
    public Sape2Experiment SetTuner(ISape2Tuner tuner) =>
        SetTuner(tuner ?? throw new ArgumentNullException(nameof(tuner)), tuner.GetType().FullName!, null);

    /// <summary>Receives the experiment's events.</summary>
    public Sape2Experiment SetMonitor(ISape2Monitor monitor)
    {
        this.monitor = monitor ?? throw new ArgumentNullException(nameof(monitor));
        return this;
    }

    /// <summary>
    /// A folder for the trial store (<c>experiment.db</c>, SQLite) and the best model (<c>best-model.zip</c>). Running
    /// again with the same folder and settings resumes: finished trials are not rerun.
    /// </summary>
    public Sape2Experiment SetCheckpoint(string folder)
    {
        checkpointFolder = NonEmpty(folder, nameof(folder));
        return this;
    }

    /// <summary>
    /// Works on the study <paramref name="study"/> in a trial store that other processes and machines share: a SQLite file path (one
    /// machine) or a PostgreSQL connection string (<c>Host=…;Database=…;Username=…</c>; keep the password out of command lines: an
    /// environment variable or a <c>.pgpass</c> file). Every worker started with the same storage, study and settings claims trials
    /// atomically (each runs once), shares ASHA's rung results, writes a model that beats the study's best to its own checkpoint folder
    /// and records where, and stops when the study's budget — time from the study's first start, and trials — is spent. A worker that dies
    /// mid-trial has its trial marked interrupted and run again by another once its heartbeat (written every sixth of
    /// <paramref name="heartbeatTimeoutSeconds"/>) is that old. Needs <see cref="SetCheckpoint"/> (the folder this worker writes its models
    /// to). Docs/automl.md shows a study across machines.
    /// </summary>
    public Sape2Experiment SetStorage(string storage, string study, double heartbeatTimeoutSeconds = 60)
    {
        if (!(heartbeatTimeoutSeconds >= 2)) throw new ArgumentOutOfRangeException(nameof(heartbeatTimeoutSeconds),
            $"Must be at least 2 seconds (a heartbeat is written every sixth of it); got {heartbeatTimeoutSeconds}.");
        (this.storage, this.study) = (NonEmpty(storage, nameof(storage)), NonEmpty(study, nameof(study)));
        HeartbeatTimeout = TimeSpan.FromSeconds(heartbeatTimeoutSeconds);
        HeartbeatInterval = HeartbeatTimeout / 6;
        return this;
    }

    /// <summary>This worker's name in a shared study: machine and process, and a suffix when one process runs several.</summary>
    internal string WorkerName { get; set; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>How often a running trial's heartbeat is written, and how long a silent one waits before another worker reruns it.</summary>
    internal TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);
    internal TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>ASHA's reduction factor, first rung and never-pruning bracket.</summary>
    public Sape2Experiment SetAsha(Sape2AshaOptions options)
    {
        (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        asha = options;
        return this;
    }

    /// <summary>The experiment's seed: the hold-out split, the tuners and every trial's seed derive from it. Default: drawn from the
    /// MLContext's seed.</summary>
    public Sape2Experiment SetSeed(int seed)
    {
        this.seed = seed;
        return this;
    }

    /// <summary>
    /// Trainer options every trial starts from, for what is not tuned: image size, channels, tokenizer, device, threads,
    /// batch size, pixel normalisation… The tuned knobs, columns, seed, epochs and validation are the experiment's.
    /// </summary>
    public Sape2Experiment SetTrainerOptions(Sape2ImageClassificationTrainer.Options options)
    {
        trainerTemplate = options ?? throw new ArgumentNullException(nameof(options));
        return this;
    }

    /// <summary>
    /// Whether the search gets half the budget and the best configuration is then trained again on all the training rows for as many
    /// epochs as the rest of the budget allows (up to three times the trials' schedule), and returned (default true). The final fit is
    /// skipped — and the best trial's own model returned — in a shared study, when the search was cancelled, or when the remaining
    /// budget cannot train the best trial's planned schedule on all the rows. See Docs/automl.md for what it gained.
    /// </summary>
    public Sape2Experiment SetFinalFit(bool enabled)
    {
        finalFit = enabled;
        return this;
    }

    /// <summary>
    /// Whether the returned model averages the best trial's with those of other trials that improve it on the validation rows
    /// (Caruana's ensemble selection over the best five trial models, from the best; default true). The best trial's member is its final
    /// fit when there is one; <see cref="Sape2TrialResult.Ensemble"/> names the members. Not in a shared study (other workers' models
    /// are not on this machine). An ensemble scores, saves, loads and exports to ONNX as one model; it takes as long to score as its
    /// networks together. See Docs/automl.md for what it gained.
    /// </summary>
    public Sape2Experiment SetEnsemble(bool enabled)
    {
        ensemble = enabled;
        return this;
    }

    /// <summary>
    /// Runs trials until the budget, <see cref="SetMaxModelToExplore"/>, the tuner or <paramref name="cancellationToken"/>
    /// ends the experiment, and returns the best trial at the highest rung reached, with its fitted <c>Model</c>. The
    /// budget's end or a cancellation stops the running trial within one training step; it is never an error while some
    /// trial has a model. Throws only when every trial failed (naming the first failure), when nothing was trained before a
    /// cancellation, or when <c>MLContext.CancelExecution</c> aborts. The settings are read when it is called: Set… calls during
    /// the run apply to the next one.
    /// </summary>
    public Task<Sape2TrialResult> RunAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref running, 1) == 1) throw new InvalidOperationException("This experiment is already running.");
        ExperimentSettings settings;
        try
        {
            // A drawn seed is kept, so a second run (a resume) splits, tunes and trains as the first did.
            seed ??= ((IHostEnvironment)ml).Register(nameof(Sape2Experiment)).Rand.Next();
            settings = Snapshot();
        }
        catch
        {
            Volatile.Write(ref running, 0);
            throw;
        }
        var coordinator = new ExperimentCoordinator(ml, settings, trials);
        return Task.Run(() =>
        {
            try
            {
                return coordinator.Run(settings.Seed!.Value, cancellationToken);
            }
            finally
            {
                lastRun = (settings, coordinator.OnPretrainedBackbone);
                Volatile.Write(ref running, 0);
            }
        }, CancellationToken.None);
    }

    /// <summary>
    /// The trainer options <paramref name="trial"/> trained with (its knobs, seed and epochs over the template of
    /// <see cref="SetTrainerOptions"/>), without the experiment's hooks: train them with
    /// <c>Fit(train, validation)</c> on the same data to reproduce it (Model Builder-style code generation prints them). For the
    /// trial whose model is the final fit (<see cref="Sape2TrialResult.FinalFit"/>), the final fit's: its epochs, no hold-back —
    /// <c>Fit(data)</c> on all the rows reproduces it.
    /// </summary>
    public Sape2ImageClassificationTrainer.Options TrainerOptions(Sape2TrialResult trial)
    {
        ArgumentNullException.ThrowIfNull(trial);
        var (settings, onPretrainedBackbone) = lastRun ?? (Snapshot(), false);
        return settings.TrialOptions(trial.Parameters, trial.Seed, trial.FinalFit?.Epochs ?? trial.PlannedEpochs, onPretrainedBackbone, default);
    }

    /// <summary>A trial's seed: the experiment's and the trial id mixed, so reruns and resumes train the same.</summary>
    internal static int TrialSeed(int experimentSeed, int trialId) => unchecked(experimentSeed * 1_000_003 + trialId * 7_919 + 17);

    /// <summary>The settings as they are now, for one run.</summary>
    private ExperimentSettings Snapshot() => new()
    {
        Train = trainData, Validation = validationData, Whole = wholeData, LabelColumn = labelColumn, FeatureColumn = featureColumn,
        Metric = metric, SearchSpace = searchSpace, TrainingTimeInSeconds = trainingTimeInSeconds, MaxModels = maxModels,
        MaxEpochsPerTrial = maxEpochsPerTrial, Seed = seed, Tuner = tuner, TunerFactory = tunerFactory ?? (s => new Sape2CostFrugalTuner(s)),
        TunerName = tunerName, Monitor = monitor, CheckpointFolder = checkpointFolder, Storage = storage, Study = study, Asha = asha,
        TrainerTemplate = trainerTemplate.Copy(), FinalFit = finalFit, Ensemble = ensemble, WorkerName = WorkerName,
        HeartbeatInterval = HeartbeatInterval,
        HeartbeatTimeout = HeartbeatTimeout,
    };

    private Sape2Experiment SetTuner(ISape2Tuner? instance, string name, Func<int, ISape2Tuner>? factory)
    {
        (tuner, tunerName, tunerFactory) = (instance, name, factory);
        return this;
    }

    private static string NonEmpty(string value, string name) =>
        string.IsNullOrWhiteSpace(value) ? throw new ArgumentOutOfRangeException(name, "Must name something; got an empty string.") : value;
}
