using Microsoft.ML.Data;

namespace SampleClassification.Model;

// The prediction: the class name and one probability per class.
public class ModelOutput
{
    [ColumnName("PredictedLabel")]
    public string Prediction { get; set; } = "";

    public float[] Score { get; set; } = Array.Empty<float>();
}
