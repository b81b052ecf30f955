using Microsoft.ML.Data;

namespace SampleClassification.Model;

// The shape of one input row, as Model Builder generates it for image classification.
public class ModelInput
{
    [ColumnName("Label"), LoadColumn(0)]
    public string Label { get; set; } = "";

    [ColumnName("ImageSource"), LoadColumn(1)]
    public string ImageSource { get; set; } = "";
}
