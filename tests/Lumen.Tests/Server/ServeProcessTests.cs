using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lumen.Tests.Support;

namespace Lumen.Tests;

/// <summary>The real `lumen serve` process: configuration from the environment, ASPNETCORE_URLS, and the container's HEALTHCHECK command.</summary>
[Trait("Category", Category.Process)]
public class ServeProcessTests
{
    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>Starts `lumen serve` with <paramref name="environment"/>; waits until /healthz answers.</summary>
    private static async Task<Process> Serve(string model, int port, IDictionary<string, string> environment, params string[] flags)
    {
        var psi = LumenProcess.StartInfo(new[] { "serve", model }.Concat(flags));
        foreach (var (key, value) in environment) psi.Environment[key] = value;
        var process = Process.Start(psi)!;
        using var http = new HttpClient();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (process.HasExited) throw new Xunit.Sdk.XunitException("lumen serve exited: " + process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd());
            try
            {
                if ((await http.GetAsync($"http://127.0.0.1:{port}/healthz")).IsSuccessStatusCode) return process;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        process.Kill();
        throw new TimeoutException("lumen serve did not answer /healthz within 60 s");
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task EnvironmentVariablesConfigureTheServiceFlagsOverrideThemAndTheHealthcheckRunsUnderDash()
    {
        using var dir = new TempFolder();
        string model = TinyModel.Save(dir.File("m.lumen"));
        int port = FreePort();
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["LUMEN__SERVER__ENGINE"] = "torch",
            ["LUMEN__SERVER__MAXPIXELS"] = "4321",
            ["LUMEN__SERVER__MAXREQUESTBYTES"] = "99999",
        };
        using var process = await Serve(model, port, environment, "--max-request-mb", "2");
        try
        {
            using var http = new HttpClient();
            var info = await http.GetFromJsonAsync<JsonElement>($"http://127.0.0.1:{port}/api/model");
            Assert.Equal("torch", info.GetProperty("engine").GetString());
            Assert.Equal(4321, info.GetProperty("limits").GetProperty("maxPixels").GetInt64());
            Assert.Equal(2 * 1024 * 1024, info.GetProperty("limits").GetProperty("maxRequestBytes").GetInt64());  // the flag wins

            // The Dockerfile's HEALTHCHECK, as written, under dash (the runtime image's /bin/sh), with the
            // image's /app/lumen replaced by this build and its port by this server's.
            string dockerfile = File.ReadAllText(Repo.File("Dockerfile"));
            string command = Regex.Match(dockerfile, @"^HEALTHCHECK .*?\bCMD (.+)$", RegexOptions.Multiline).Groups[1].Value.Trim();
            Assert.StartsWith("/app/lumen health", command);
            string local = command.Replace("/app/lumen", $"dotnet {LumenProcess.Dll}").Replace(":5000/", $":{port}/");
            var (code, output) = LumenProcess.Run(new ProcessStartInfo("dash", new[] { "-c", local }) { RedirectStandardOutput = true, RedirectStandardError = true }, TimeSpan.FromSeconds(60));
            Assert.True(code == 0, $"'{local}' under dash: exit {code}: {output}");
            Assert.Contains("200", output);
        }
        finally
        {
            process.Kill();
            process.WaitForExit();
        }
        // With the server gone the same check fails (so the container would be marked unhealthy).
        var (downCode, _) = LumenProcess.Run("health", $"http://127.0.0.1:{port}/healthz", "--timeout-s", "2");
        Assert.Equal(1, downCode);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void AnInvalidEnvironmentSettingStopsServeWithAClearMessage()
    {
        using var dir = new TempFolder();
        string model = TinyModel.Save(dir.File("m.lumen"));
        var psi = LumenProcess.StartInfo(new[] { "serve", model, "--urls", $"http://127.0.0.1:{FreePort()}" });
        psi.Environment["LUMEN__SERVER__MAXBATCH"] = "0";
        var (code, output) = LumenProcess.Run(psi, TimeSpan.FromSeconds(60));
        Assert.Equal(1, code);
        Assert.Contains("MaxBatch", output);
        Assert.Contains("LUMEN__SERVER__", output);
        Assert.DoesNotContain("   at ", output);
    }
}
