using Lumen.Training;

namespace Lumen.Inference;

/// <summary>fastai's <c>learn.predict</c> and <c>learn.export</c> on a trained <see cref="Learner"/>.</summary>
public static class LearnerInference
{
    /// <summary>Writes the model file (see <see cref="ModelFile.Export"/>).</summary>
    public static ModelInfo Export(this Learner learner, string path) => ModelFile.Export(learner, path);

    /// <summary>Predicts one image file with the learner's model, through the same preprocessing as validation and an exported model.</summary>
    /// <exception cref="ImageDecodeException">The file is not a readable image.</exception>
    public static Prediction Predict(this Learner learner, string imagePath, int tta = 0)
    {
        using var predictor = Predictor.ForLearner(learner);
        return predictor.Predict(imagePath, tta);
    }
}
