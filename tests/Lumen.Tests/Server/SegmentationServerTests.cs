using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lumen.Data;
using Lumen.Data.Masks;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Server;
using Lumen.Tests.Support;
using Lumen.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;

namespace Lumen.Tests;

/// <summary>A small U-Net trained for one epoch on generated rectangles, exported once for the class.</summary>
public sealed class SegmentationModelFixture : IDisposable
{
    public SegmentationModelFixture()
    {
        Folder = new TempFolder();
        SegmentationImages.Write(Folder, 12, width: 50, height: 38);
        var data = new DataSource(Folder.Path).Load(new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4 } });
        using var learner = VisionLearner.Create(data, weights: "none");
        learner.FitOneCycle(1, 1e-3);
        ModelPath = Folder.File("model.lumen");
        learner.Export(ModelPath);
    }

    public TempFolder Folder { get; }

    public string ModelPath { get; }

    public void Dispose() => Folder.Dispose();
}

[Trait("Category", Category.Slow)]
public class SegmentationServerTests(SegmentationModelFixture model) : IClassFixture<SegmentationModelFixture>
{
    private async Task<(WebApplication App, HttpClient Client)> Start(string modelPath)
    {
        var builder = LumenServer.CreateBuilder(o =>
        {
            o.ModelPath = modelPath;
            o.Device = "cpu";
        });
        builder.WebHost.UseTestServer();
        var app = builder.Build();
        LumenServer.Map(app);
        await app.StartAsync();
        return (app, app.GetTestClient());
    }

    [Fact]
    public async Task SegmentAnswersTheMaskOfTheUploadAtItsOwnSizeAsThePredictorDoes()
    {
        var (app, client) = await Start(model.ModelPath);
        await using var _ = app;
        string image = model.Folder.File("images", "img003.png");
        var description = await client.GetFromJsonAsync<JsonElement>("/api/model");
        Assert.Equal("segmentation", description.GetProperty("task").GetString());

        using var response = await client.PostAsync("/api/segment?overlay=true", new ByteArrayContent(File.ReadAllBytes(image)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(50, body.GetProperty("width").GetInt32());
        Assert.Equal(38, body.GetProperty("height").GetInt32());
        var areas = body.GetProperty("areas").EnumerateArray().ToList();
        Assert.Equal(new[] { "background", "foreground" }, areas.Select(a => a.GetProperty("label").GetString()));
        Assert.Equal(1.0, areas.Sum(a => a.GetProperty("fraction").GetDouble()), 4);

        // The PNG mask decodes to the Predictor's own mask of the file.
        byte[] png = Convert.FromBase64String(body.GetProperty("mask").GetString()!);
        var served = MaskEncoding.Binary().Classify(ImageDecoder.Decode(png, "served mask"), "served mask");
        using var predictor = Predictor.Load(model.ModelPath);
        Assert.Equal(predictor.PredictMask(image).Mask.Classes, served.Classes);
        var overlay = ImageDecoder.Decode(Convert.FromBase64String(body.GetProperty("overlay").GetString()!), "overlay");
        Assert.Equal((50, 38), (overlay.Width, overlay.Height));

        // Classification answers are refused with where to go instead.
        using var classify = await client.PostAsync("/api/predict", new ByteArrayContent(File.ReadAllBytes(image)));
        Assert.Equal(HttpStatusCode.Conflict, classify.StatusCode);
        Assert.Contains("/api/segment", await classify.Content.ReadAsStringAsync());
        using var broken = await client.PostAsync("/api/segment", new ByteArrayContent("not an image"u8.ToArray()));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, broken.StatusCode);

        // The OpenAPI document types the answer.
        string openApi = await client.GetStringAsync("/openapi.json");
        Assert.Contains("SegmentationResponse", openApi);
    }
}
