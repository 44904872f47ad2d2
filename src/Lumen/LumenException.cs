namespace Lumen;

/// <summary>
/// An error the user can cause and fix (a missing folder, a bad option, an unreadable file).
/// Hosts show <see cref="Exception.Message"/> as one line instead of a stack trace, so the message
/// must name the file or option involved and say what was expected.
/// </summary>
public class LumenException : Exception
{
    /// <summary>Creates an error with a user-facing message.</summary>
    public LumenException(string message) : base(message) { }

    /// <summary>Creates an error with a user-facing message and the low-level cause.</summary>
    public LumenException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Why an image could not be decoded.</summary>
public enum DecodeFailure
{
    /// <summary>The file could not be read (missing, no permission, an I/O error).</summary>
    Unreadable,

    /// <summary>Not one of the supported formats (JPEG, PNG, BMP, WebP, GIF).</summary>
    UnsupportedFormat,

    /// <summary>A supported format whose data ends early or is empty.</summary>
    Truncated,

    /// <summary>A supported format whose data is corrupt, or that declares no pixels.</summary>
    Corrupt,

    /// <summary>More pixels than the decoder's limit.</summary>
    TooLarge,
}

/// <summary>A file could not be decoded as an image (unsupported, corrupt, truncated or too large).</summary>
public sealed class ImageDecodeException : LumenException
{
    /// <summary>Creates the error for <paramref name="source"/> (a path or a description of the bytes).</summary>
    public ImageDecodeException(string source, DecodeFailure failure, string reason)
        : base($"cannot read image '{source}': {reason}")
    {
        Source = source;
        Failure = failure;
        Reason = reason;
    }

    /// <summary>The kind of failure (the server answers 415 for an unsupported format, 400 otherwise).</summary>
    public DecodeFailure Failure { get; }

    /// <summary>The file path, or a description of the bytes when there is no file.</summary>
    public new string Source { get; }

    /// <summary>What was wrong with the image, without the file name.</summary>
    public string Reason { get; }
}

/// <summary>A data folder, CSV or option does not describe a usable dataset.</summary>
public sealed class DataException : LumenException
{
    /// <summary>Creates the error with a message naming the folder, file or option.</summary>
    public DataException(string message) : base(message) { }
}

/// <summary>
/// A bad value for a named option. <see cref="Option"/> is the library's name for it (the property,
/// e.g. <c>BatchSize</c>); a host names it its own way (the CLI maps it to <c>--bs</c>), so the library
/// never names a command-line flag.
/// </summary>
public sealed class OptionException : LumenException
{
    /// <summary>Creates the error: <paramref name="problem"/> reads after the option's name ("must be at least 1, got 0").</summary>
    public OptionException(OptionName option, string problem, Exception? inner = null)
        : base($"{option} {problem}", inner!)
    {
        Option = option;
        Problem = problem;
    }

    /// <summary>The option.</summary>
    public OptionName Option { get; }

    /// <summary>What is wrong with its value.</summary>
    public string Problem { get; }
}
