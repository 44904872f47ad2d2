namespace Lumen.Distributed;

/// <summary>Splitting work among the processes of a job.</summary>
public static class Partition
{
    /// <summary>
    /// Part <paramref name="part"/> of <paramref name="parts"/> near-equal consecutive blocks of
    /// <paramref name="count"/> items: [From, To). The blocks cover every item once, in order.
    /// </summary>
    public static (int From, int To) Block(int count, int part, int parts) =>
        ((int)((long)count * part / parts), (int)((long)count * (part + 1) / parts));
}
