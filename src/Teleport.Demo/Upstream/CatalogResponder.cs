using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Teleport.Demo.Upstream;

/// <summary>
/// GET /api/items/{id}: a product as a shop's API returns it, with the headers such APIs send:
/// Cache-Control, ETag (If-None-Match answers 304), Last-Modified, Vary and a session cookie.
/// </summary>
internal static class CatalogResponder
{
    private static readonly string[] Adjectives = ["Classic", "Ultralight", "Waterproof", "Organic", "Compact", "Vintage", "Ergonomic", "Wireless", "Handmade", "Insulated"];
    private static readonly string[] Materials = ["Merino", "Bamboo", "Titanium", "Leather", "Canvas", "Ceramic", "Walnut", "Recycled Nylon", "Cotton", "Aluminium"];
    private static readonly string[] Nouns = ["Backpack", "Desk Lamp", "Running Jacket", "Coffee Grinder", "Headphones", "Water Bottle", "Notebook", "Sneakers", "Tent", "Kettle"];
    private static readonly string[] Brands = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Adventure Works", "Wide World Importers", "Litware"];
    private static readonly string[] Colors = ["black", "stone", "forest green", "navy", "sand", "rust", "graphite", "white"];
    private static readonly string[] Sizes = ["XS", "S", "M", "L", "XL", "One size"];
    private static readonly string[] Words =
    [
        "designed", "for", "everyday", "use", "with", "a", "durable", "finish", "that", "lasts", "years", "lightweight", "and",
        "easy", "to", "clean", "made", "from", "responsibly", "sourced", "materials", "the", "perfect", "companion", "on",
        "trips", "commutes", "or", "at", "home", "features", "adjustable", "straps", "reinforced", "seams", "quiet",
        "operation", "long", "battery", "life", "generous", "storage", "fits", "most", "sizes", "comes", "gift", "box",
        "tested", "in", "harsh", "conditions", "backed", "by", "two-year", "warranty",
    ];
    private static readonly string[] Origins = ["DE", "PT", "VN", "CN", "IT", "PL"];
    private static readonly string[] Reviewers = ["Anna K.", "Marco R.", "Priya S.", "Tom W.", "Lea M.", "Jonas B.", "Chen L.", "Sofia G."];

    public static async Task HandleAsync(HttpContext context)
    {
        var id = long.Parse((string)context.Request.RouteValues["id"]!, CultureInfo.InvariantCulture);
        // Same id, same product and the same ETag; "id * prime" spreads neighbouring ids apart.
        var random = new Random((int)((id * 2654435761L) & int.MaxValue));
        var etag = $"\"{random.Hex(20)}\"";
        var modified = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(random.Next(0, 400_000));

        var response = context.Response;
        var headers = response.Headers;
        headers.CacheControl = "public, max-age=300, stale-while-revalidate=60";
        headers.ETag = etag;
        headers.LastModified = modified.ToString("R", CultureInfo.InvariantCulture);
        headers.Vary = "Accept-Encoding, Accept-Language";
        BidResponder.CopyRequestId(context);
        // A session cookie per request (derived from its request id, so runs repeat) and an A/B bucket.
        var session = new Random(RandomText.StableSeed(context.Request.Headers["X-Request-Id"].ToString()));
        headers.Append("Set-Cookie", $"sid={session.Hex(32)}; Path=/; Max-Age=1800; Secure; HttpOnly; SameSite=Lax");
        headers.Append("Set-Cookie", $"ab=catalog-{(id % 2 == 0 ? "a" : "b")}; Path=/; Max-Age=2592000; Secure; SameSite=Lax");

        if (context.Request.Headers.IfNoneMatch == etag)
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        var body = new ArrayBufferWriter<byte>(2048);
        WriteProduct(body, id, modified, random);
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = body.WrittenCount;
        await response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted);
    }

    private static void WriteProduct(IBufferWriter<byte> output, long id, DateTimeOffset modified, Random random)
    {
        using var json = new Utf8JsonWriter(output, SampleJson.Options);
        var brand = random.Pick(Brands);
        var name = $"{random.Pick(Adjectives)} {random.Pick(Materials)} {random.Pick(Nouns)}";
        var slug = name.ToLowerInvariant().Replace(' ', '-');
        var sku = $"{brand[..3].ToUpperInvariant()}-{random.Next(10_000, 99_999)}-{random.Hex(4).ToUpperInvariant()}";
        json.WriteStartObject();
        json.WriteNumber("id", id);
        json.WriteString("sku", sku);
        json.WriteString("name", name);
        json.WriteString("brand", brand);
        json.WriteString("url", $"https://shop.example.com/p/{slug}-{id}");
        json.WriteString("description", Sentences(random, random.Next(3, 6)));
        json.WriteStartObject("price");
        var amount = random.Price(9, 400);
        json.WriteNumber("amount", amount);
        json.WriteString("currency", "EUR");
        json.WriteNumber("vatRate", 0.19);
        if (random.Next(4) == 0)
        {
            json.WriteNumber("was", Math.Round(amount * 1.25, 2));
        }

        json.WriteEndObject();
        json.WriteStartObject("availability");
        json.WriteNumber("stock", random.Next(0, 500));
        json.WriteString("warehouse", $"DE-{random.Next(1, 9)}");
        json.WriteString("shipsWithin", $"P{random.Next(1, 5)}D");
        json.WriteEndObject();
        json.WriteStartObject("rating");
        json.WriteNumber("average", Math.Round(3 + (random.NextDouble() * 2), 1));
        json.WriteNumber("count", random.Next(0, 5_000));
        json.WriteEndObject();
        json.WriteStartArray("variants");
        for (var i = random.Next(1, 4); i > 0; i--)
        {
            json.WriteStartObject();
            json.WriteString("sku", $"{sku}-{random.Hex(3).ToUpperInvariant()}");
            json.WriteString("color", random.Pick(Colors));
            json.WriteString("size", random.Pick(Sizes));
            json.WriteString("image", $"https://img.shop.example.com/{random.Hex(2)}/{random.Hex(24)}.webp?w=800");
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartObject("specs");
        json.WriteNumber("weightGrams", random.Next(80, 4_000));
        json.WriteString("dimensions", $"{random.Next(5, 80)} x {random.Next(5, 60)} x {random.Next(2, 40)} cm");
        json.WriteString("material", random.Pick(Materials));
        json.WriteString("origin", random.Pick(Origins));
        json.WriteString("gtin", $"40{random.Next(10_000_000, 99_999_999)}{random.Next(100, 999)}");
        json.WriteEndObject();
        json.WriteStartArray("breadcrumbs");
        json.WriteStringValue("Home");
        json.WriteStringValue(random.Pick(Nouns) + "s");
        json.WriteStringValue(brand);
        json.WriteEndArray();
        json.WriteStartArray("reviews");
        for (var i = random.Next(0, 4); i > 0; i--)
        {
            json.WriteStartObject();
            json.WriteString("id", random.Uuid());
            json.WriteString("author", random.Pick(Reviewers));
            json.WriteNumber("stars", random.Next(1, 6));
            json.WriteString("text", Sentences(random, 1));
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("related");
        for (var i = random.Next(3, 7); i > 0; i--)
        {
            json.WriteNumberValue(random.Next(1, 100_000));
        }

        json.WriteEndArray();
        json.WriteString("updatedAt", modified.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        json.WriteEndObject();
    }

    private static string Sentences(Random random, int count)
    {
        var words = new List<string>();
        for (var s = 0; s < count; s++)
        {
            var length = random.Next(8, 16);
            for (var w = 0; w < length; w++)
            {
                var word = random.Pick(Words);
                words.Add(w == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : w == length - 1 ? word + "." : word);
            }
        }

        return string.Join(' ', words);
    }
}
