using System.Buffers;
using System.Text.Json;

namespace Teleport.Demo.Upstream;

/// <summary>
/// POST /bid: an OpenRTB 2.5-style bidder. Reads the bid request, bids on every impression above its
/// floor and answers with a bid response whose id is the request's id, as OpenRTB requires.
/// </summary>
internal static class BidResponder
{
    private static readonly string[] Seats = ["seat-1041", "seat-2207", "seat-3390", "seat-4812"];
    private static readonly string[] Brands = ["northwind.example", "contoso-travel.example", "fabrikam-shoes.example", "tailspin-toys.example", "adatum-bank.example", "litware-games.example"];
    private static readonly string[] Categories = ["IAB1", "IAB2", "IAB3-1", "IAB8-5", "IAB13", "IAB17", "IAB19-6", "IAB20-3", "IAB22"];

    public static async Task HandleAsync(HttpContext context)
    {
        var response = context.Response;
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted);
        }
        catch (JsonException ex)
        {
            await BadRequestAsync(response, $"invalid bid request JSON: {ex.Message}");
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("imp", out var imps) || imps.ValueKind != JsonValueKind.Array)
            {
                await BadRequestAsync(response, "a bid request needs a string \"id\" and an \"imp\" array");
                return;
            }

            var id = idElement.GetString()!;
            var body = new ArrayBufferWriter<byte>(2048);
            WriteBidResponse(body, id, imps, new Random(RandomText.StableSeed(id)));

            response.ContentType = "application/json";
            response.Headers["X-OpenRTB-Version"] = "2.5";
            response.Headers.CacheControl = "no-store";
            CopyRequestId(context);
            response.ContentLength = body.WrittenCount;
            await response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted);
        }
    }

    private static void WriteBidResponse(IBufferWriter<byte> output, string id, JsonElement imps, Random random)
    {
        using var json = new Utf8JsonWriter(output, SampleJson.Options);
        var bidId = random.Uuid();
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("bidid", bidId);
        json.WriteString("cur", "USD");
        json.WriteStartArray("seatbid");
        json.WriteStartObject();
        json.WriteString("seat", random.Pick(Seats));
        json.WriteStartArray("bid");
        foreach (var imp in imps.EnumerateArray())
        {
            WriteBid(json, imp, bidId, random);
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteStartObject("ext");
        json.WriteNumber("processing_ms", random.Next(2, 40));
        json.WriteString("dsp", "teleport-demo-bidder/1.4");
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteBid(Utf8JsonWriter json, JsonElement imp, string bidId, Random random)
    {
        var impId = imp.TryGetProperty("id", out var impIdElement) ? impIdElement.GetString() ?? "1" : "1";
        var floor = imp.TryGetProperty("bidfloor", out var floorElement) && floorElement.TryGetDouble(out var f) ? f : 0.1;
        var (w, h) = (300, 250);
        if (imp.TryGetProperty("banner", out var banner))
        {
            w = banner.TryGetProperty("w", out var we) && we.TryGetInt32(out var wv) ? wv : w;
            h = banner.TryGetProperty("h", out var he) && he.TryGetInt32(out var hv) ? hv : h;
        }

        var creative = random.Hex(12);
        var brand = random.Pick(Brands);
        json.WriteStartObject();
        json.WriteString("id", random.Hex(16));
        json.WriteString("impid", impId);
        json.WriteNumber("price", Math.Round(floor + random.Price(0.01, 3.5), 4));
        json.WriteString("adid", $"ad-{random.Next(100_000, 999_999)}");
        json.WriteString("cid", $"camp-{random.Next(1_000, 9_999)}");
        json.WriteString("crid", $"cr-{creative}");
        json.WriteString("nurl", $"https://win.dsp.example/notify?b={bidId}&i={impId}&p=${{AUCTION_PRICE}}");
        json.WriteString("burl", $"https://bill.dsp.example/b?b={bidId}&i={impId}&p=${{AUCTION_PRICE}}&t={random.Token(22)}");
        json.WriteString("adm", $"<a href=\"https://click.dsp.example/c?b={bidId}&cr={creative}&u=https%3A%2F%2F{brand}%2Foffer%3Fsrc%3Drtb\">"
            + $"<img src=\"https://cdn.dsp.example/c/{creative}/{w}x{h}.jpg\" width=\"{w}\" height=\"{h}\" alt=\"\"></a>"
            + $"<img src=\"https://px.dsp.example/imp?b={bidId}&i={impId}\" width=\"1\" height=\"1\" style=\"display:none\">");
        json.WriteStartArray("adomain");
        json.WriteStringValue(brand);
        json.WriteEndArray();
        json.WriteString("iurl", $"https://cdn.dsp.example/c/{creative}/preview.jpg");
        json.WriteStartArray("cat");
        json.WriteStringValue(random.Pick(Categories));
        json.WriteEndArray();
        json.WriteNumber("w", w);
        json.WriteNumber("h", h);
        json.WriteNumber("exp", 300);
        json.WriteEndObject();
    }

    /// <summary>Echoes the caller's X-Request-Id, as API gateways and bidders commonly do for tracing.</summary>
    internal static void CopyRequestId(HttpContext context)
    {
        if (context.Request.Headers.TryGetValue("X-Request-Id", out var requestId))
        {
            context.Response.Headers["X-Request-Id"] = requestId;
        }
    }

    private static Task BadRequestAsync(HttpResponse response, string message)
    {
        response.StatusCode = StatusCodes.Status400BadRequest;
        response.ContentType = "text/plain; charset=utf-8";
        return response.WriteAsync(message + "\n");
    }
}
