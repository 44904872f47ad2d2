namespace Lumen.Imaging;

/// <summary>What fills the area outside the image when padding or warping.</summary>
public enum PadMode
{
    /// <summary>Mirror the image at its border (fastai default).</summary>
    Reflection,

    /// <summary>Black.</summary>
    Zeros,

    /// <summary>Repeat the border pixels.</summary>
    Border,
}
