namespace Lumen.Training;

/// <summary>Writes the epoch table to <c>history.csv</c> and <c>history.json</c> after every epoch (atomically).</summary>
public sealed class HistoryWriter(string folder) : ICallback
{
    void ICallback.AfterEpoch(Learner learner) => HistoryFile.Write(folder, learner.History);
}
