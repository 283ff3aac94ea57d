using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Teleport.Demo.Load;

/// <summary>
/// The demo's traffic: half OpenRTB-style bid requests as an ad exchange sends them (POST /bid, 1-2 KB
/// JSON bodies), half product API calls as a browser makes them (GET /api/items/{id} with cookies and
/// client hints). Request i depends only on the seed and i, so every run sends the same bytes.
/// </summary>
internal static class SampleTraffic
{
    private static readonly string[] BrowserAgents =
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ];

    private static readonly string[] Languages = ["de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "en-US,en;q=0.9", "fr-FR,fr;q=0.9,en;q=0.8", "nl-NL,nl;q=0.9,en;q=0.6"];
    private static readonly string[] Locales = ["de-DE", "en-US", "fr-FR", "nl-NL"];
    private static readonly string[] ShopCategories = ["outdoor", "kitchen", "audio", "office", "running", "travel", "home"];
    private static readonly string[] SiteDomains = ["news.example.com", "sports-daily.example", "recipes.example.org", "techreview.example.net", "weather-now.example"];
    private static readonly string[] AppBundles = ["com.example.puzzle", "com.example.newsreader", "com.example.fitness", "com.example.podcasts"];
    private static readonly string[] Cities = ["Berlin", "Hamburg", "Munich", "Paris", "Lyon", "Amsterdam", "Vienna", "Zurich"];
    private static readonly string[] Countries = ["DEU", "FRA", "NLD", "AUT", "CHE"];
    private static readonly string[] IabCategories = ["IAB1", "IAB2", "IAB3", "IAB9", "IAB12", "IAB15", "IAB17", "IAB19", "IAB20"];
    private static readonly string[] BlockedCategories = ["IAB7-39", "IAB8-18", "IAB8-5", "IAB9-9", "IAB14-1", "IAB25", "IAB26"];
    private static readonly (int W, int H)[] BannerSizes = [(300, 250), (728, 90), (320, 50), (160, 600), (300, 600), (970, 250)];

    /// <summary>Makes <paramref name="count"/> requests from <paramref name="seed"/>.</summary>
    public static SampleRequest[] Create(int count, int seed)
    {
        var requests = new SampleRequest[count];
        for (var i = 0; i < count; i++)
        {
            // One generator per request: request i is the same whatever the count or the order of sending.
            var random = new Random(seed + i);
            requests[i] = random.Next(2) == 0 ? BidRequest(random) : ItemRequest(random);
        }

        return requests;
    }

    private static SampleRequest ItemRequest(Random random)
    {
        var requestId = random.Uuid();
        var itemId = random.Next(1, 100_000).ToString(CultureInfo.InvariantCulture);
        var category = random.Pick(ShopCategories);
        var agent = random.Next(BrowserAgents.Length);
        var mobile = agent is 2 or 3;
        KeyValuePair<string, string>[] headers =
        [
            new("User-Agent", BrowserAgents[agent]),
            new("Accept", "application/json, text/plain, */*"),
            new("Accept-Language", random.Pick(Languages)),
            new("Accept-Encoding", "gzip, deflate, br, zstd"),
            new("Referer", $"https://shop.example.com/c/{category}?page={random.Next(1, 12)}&sort=popular"),
            new("Cookie", $"sid={random.Hex(32)}; _ga=GA1.1.{random.Next(100_000_000, 999_999_999)}.{random.Next(1_700_000_000, 1_735_000_000)}; "
                + $"cart={random.Next(0, 6)}; consent={random.Token(96)}; ab=catalog-{(random.Next(2) == 0 ? "a" : "b")}"),
            new("sec-ch-ua", "\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\", \"Google Chrome\";v=\"131\""),
            new("sec-ch-ua-mobile", mobile ? "?1" : "?0"),
            new("sec-ch-ua-platform", mobile ? "\"Android\"" : "\"Windows\""),
            new("Sec-Fetch-Dest", "empty"),
            new("Sec-Fetch-Mode", "cors"),
            new("Sec-Fetch-Site", "same-origin"),
            new("X-Request-Id", requestId),
        ];
        var target = $"/api/items/{itemId}?locale={random.Pick(Locales)}&currency=EUR&fields=full";
        return new SampleRequest("GET", target, headers, null, requestId, itemId);
    }

    private static SampleRequest BidRequest(Random random)
    {
        var id = random.Uuid();
        var body = new ArrayBufferWriter<byte>(2048);
        using (var json = new Utf8JsonWriter(body, SampleJson.Options))
        {
            WriteBidRequest(json, id, random);
        }

        KeyValuePair<string, string>[] headers =
        [
            new("User-Agent", "teleport-demo-exchange/2.3 (+https://exchange.example/bidders)"),
            new("Accept", "application/json"),
            new("Accept-Encoding", "gzip"),
            new("X-OpenRTB-Version", "2.5"),
            new("X-Request-Id", id),
        ];
        return new SampleRequest("POST", "/bid", headers, body.WrittenSpan.ToArray(), id, id);
    }

    private static void WriteBidRequest(Utf8JsonWriter json, string id, Random random)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteStartArray("imp");
        var impressions = random.Next(1, 4);
        for (var i = 1; i <= impressions; i++)
        {
            var (w, h) = random.Pick(BannerSizes);
            json.WriteStartObject();
            json.WriteString("id", i.ToString(CultureInfo.InvariantCulture));
            json.WriteStartObject("banner");
            json.WriteNumber("w", w);
            json.WriteNumber("h", h);
            json.WriteNumber("pos", random.Next(0, 4));
            json.WriteStartArray("api");
            json.WriteNumberValue(3);
            json.WriteNumberValue(5);
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteString("tagid", $"slot-{random.Hex(8)}");
            json.WriteNumber("bidfloor", random.Price(0.05, 2.5));
            json.WriteString("bidfloorcur", "USD");
            json.WriteNumber("secure", 1);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        if (random.Next(3) == 0)
        {
            json.WriteStartObject("app");
            json.WriteString("id", random.Hex(12));
            json.WriteString("bundle", random.Pick(AppBundles));
            json.WriteString("storeurl", $"https://play.google.com/store/apps/details?id={random.Pick(AppBundles)}");
        }
        else
        {
            var domain = random.Pick(SiteDomains);
            json.WriteStartObject("site");
            json.WriteString("id", random.Hex(12));
            json.WriteString("domain", domain);
            json.WriteString("page", $"https://{domain}/{random.Next(2023, 2026)}/{random.Next(1, 13):00}/{random.Token(18).ToLowerInvariant()}");
            json.WriteString("ref", $"https://www.google.com/search?q={random.Token(10).ToLowerInvariant()}");
        }

        json.WriteStartArray("cat");
        json.WriteStringValue(random.Pick(IabCategories));
        json.WriteStringValue(random.Pick(IabCategories));
        json.WriteEndArray();
        json.WriteStartObject("publisher");
        json.WriteString("id", $"pub-{random.Next(1_000, 99_999)}");
        json.WriteEndObject();
        json.WriteEndObject();

        json.WriteStartObject("device");
        json.WriteString("ua", random.Pick(BrowserAgents));
        json.WriteString("ip", $"{random.Next(1, 224)}.{random.Next(256)}.{random.Next(256)}.0");
        json.WriteStartObject("geo");
        json.WriteNumber("lat", Math.Round(45 + (random.NextDouble() * 10), 4));
        json.WriteNumber("lon", Math.Round(2 + (random.NextDouble() * 14), 4));
        json.WriteString("country", random.Pick(Countries));
        json.WriteString("city", random.Pick(Cities));
        json.WriteNumber("type", 2);
        json.WriteEndObject();
        json.WriteNumber("devicetype", random.Next(1, 5));
        json.WriteString("language", random.Pick(Locales)[..2]);
        json.WriteNumber("js", 1);
        json.WriteNumber("dnt", 0);
        json.WriteEndObject();

        json.WriteStartObject("user");
        json.WriteString("id", random.Hex(32));
        json.WriteString("buyeruid", random.Token(24));
        json.WriteStartObject("ext");
        // TCF consent strings are long and random-looking: they do not compress well, which keeps the demo honest.
        json.WriteString("consent", random.Token(random.Next(180, 320)));
        json.WriteEndObject();
        json.WriteEndObject();

        json.WriteNumber("at", 1);
        json.WriteNumber("tmax", random.Next(80, 300));
        json.WriteStartArray("cur");
        json.WriteStringValue("USD");
        json.WriteEndArray();
        json.WriteStartArray("bcat");
        foreach (var blocked in BlockedCategories)
        {
            json.WriteStringValue(blocked);
        }

        json.WriteEndArray();
        json.WriteStartObject("source");
        json.WriteString("tid", random.Uuid());
        json.WriteStartObject("ext");
        json.WriteStartObject("schain");
        json.WriteString("ver", "1.0");
        json.WriteNumber("complete", 1);
        json.WriteStartArray("nodes");
        json.WriteStartObject();
        json.WriteString("asi", "exchange.example");
        json.WriteString("sid", random.Hex(10));
        json.WriteNumber("hp", 1);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteStartObject("regs");
        json.WriteStartObject("ext");
        json.WriteNumber("gdpr", 1);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
