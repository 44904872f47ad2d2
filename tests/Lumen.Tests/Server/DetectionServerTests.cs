using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lumen.Data;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Models;
using Lumen.Server;
using Lumen.Tests.Support;
using Lumen.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;

namespace Lumen.Tests;

/// <summary>A small detector trained for one epoch on generated rectangles, exported once for the class.</summary>
public sealed class DetectionModelFixture : IDisposable
{
    public DetectionModelFixture()
    {
        Folder = new TempFolder();
        string csv = DetectionImages.WriteCsv(Folder, 12, width: 60, height: 44);
        var data = new DataSource(Folder.Path) { Boxes = csv }.Load(new DataOptions { Item = new ItemTransform(48), Loader = new LoaderOptions { BatchSize = 4 } });
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
public class DetectionServerTests(DetectionModelFixture model) : IClassFixture<DetectionModelFixture>
{
    [Fact]
    public async Task DetectAnswersTheBoxesOfTheUploadInItsOwnPixelsAsThePredictorDoes()
    {
        var builder = LumenServer.CreateBuilder(o =>
        {
            o.ModelPath = model.ModelPath;
            o.Device = "cpu";
        });
        builder.WebHost.UseTestServer();
        var app = builder.Build();
        LumenServer.Map(app);
        await app.StartAsync();
        await using var _ = app;
        var client = app.GetTestClient();
        string image = model.Folder.File("images", "img003.png");
        var description = await client.GetFromJsonAsync<JsonElement>("/api/model");
        Assert.Equal("detection", description.GetProperty("task").GetString());

        // A threshold low enough that an untrained detector shows boxes.
        using var response = await client.PostAsync("/api/detect?overlay=true&threshold=0.01", new ByteArrayContent(File.ReadAllBytes(image)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(60, body.GetProperty("width").GetInt32());
        Assert.Equal(44, body.GetProperty("height").GetInt32());
        var boxes = body.GetProperty("boxes").EnumerateArray().ToList();
        using var predictor = Predictor.Load(model.ModelPath);
        var expected = predictor.PredictBoxes(image, BoxDecoding.Display with { ScoreThreshold = 0.01 }).Boxes;
        Assert.NotEmpty(expected);
        Assert.Equal(expected.Count, boxes.Count);
        Assert.Equal(expected[0].Score, boxes[0].GetProperty("score").GetDouble(), 1e-4);
        Assert.Equal(expected[0].XMin, boxes[0].GetProperty("xMin").GetDouble(), 0.05);
        Assert.All(boxes, b => Assert.InRange(b.GetProperty("xMax").GetDouble(), 0, 60));
        var overlay = ImageDecoder.Decode(Convert.FromBase64String(body.GetProperty("overlay").GetString()!), "overlay");
        Assert.Equal((60, 44), (overlay.Width, overlay.Height));

        // Other tasks' endpoints say where to go; a bad threshold and a non-image are refused.
        using var classify = await client.PostAsync("/api/predict", new ByteArrayContent(File.ReadAllBytes(image)));
        Assert.Equal(HttpStatusCode.Conflict, classify.StatusCode);
        Assert.Contains("/api/detect", await classify.Content.ReadAsStringAsync());
        using var segment = await client.PostAsync("/api/segment", new ByteArrayContent(File.ReadAllBytes(image)));
        Assert.Equal(HttpStatusCode.Conflict, segment.StatusCode);
        using var badThreshold = await client.PostAsync("/api/detect?threshold=2", new ByteArrayContent(File.ReadAllBytes(image)));
        Assert.Equal(HttpStatusCode.BadRequest, badThreshold.StatusCode);
        using var broken = await client.PostAsync("/api/detect", new ByteArrayContent("not an image"u8.ToArray()));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, broken.StatusCode);

        string openApi = await client.GetStringAsync("/openapi.json");
        Assert.Contains("DetectionResponse", openApi);
    }
}
