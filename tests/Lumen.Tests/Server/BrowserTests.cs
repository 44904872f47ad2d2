using Lumen.Tests.Support;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Lumen.Inference;
using Lumen.Server;

namespace Lumen.Tests;

/// <summary>
/// The upload page in a real browser: Debian's headless Chromium driven by playwright-core
/// (tests/browser/upload.mjs) against a real Kestrel server. .ci/run installs both; where either is
/// missing the test is skipped with the reason.
/// </summary>
[Trait("Category", Category.Browser)]
public class BrowserTests(ServedModelFixture model) : IClassFixture<ServedModelFixture>
{
    [ToolFact(Tools.Playwright)]
    public async Task UploadingOnThePageShowsThePrediction()
    {
        string script = Repo.File("tests", "browser", "upload.mjs");
        string node = new[] { "/usr/bin/node", "/usr/local/bin/node" }.First(File.Exists);
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        string url = $"http://127.0.0.1:{port}/";
        await using var app = LumenServer.Build(o => { o.ModelPath = model.ModelPath; o.Device = "cpu"; }, url);
        await app.StartAsync();

        string image = model.Folder.File("red", "img004.png");
        using var predictor = Predictor.Load(model.ModelPath);
        string expected = predictor.Predict(image).Label;
        string screenshot = model.Folder.File("page.png");
        var psi = new ProcessStartInfo(node!) { ArgumentList = { script, url, image, expected, screenshot }, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(120_000), "the browser script did not finish in 2 minutes");
        Assert.True(process.ExitCode == 0, $"browser check failed: {await stdout} {await stderr}");
        Assert.True(new FileInfo(screenshot).Length > 10_000);
    }
}
