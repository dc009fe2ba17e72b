import time, json
def test_x(client, auth):
    h = auth["headers"]
    for url in ["/api/v1/stocks/SAP.DE/score", "/api/v1/rankings/growth?index=DAX&limit=5",
                "/api/v1/rankings/growth?country=Germany&limit=3", "/api/v1/screener?index=DAX&limit=100",
                "/api/v1/stocks/SAP.DE/indicators?range=1y", "/api/v1/stocks/SAP.DE/history?range=max",
                "/api/v1/stocks/SAP.DE/profile", "/api/v1/stocks/SAP.DE/news",
                "/api/v1/rankings/growth?country=Nowhere", "/api/v1/screener?pe_max=abc"]:
        t = time.time(); r = client.get(url, headers=h); d = r.get_json()
        s = json.dumps(d)
        print(url, r.status_code, round(time.time()-t, 2), s[:1500] if "history" not in url else len(d["bars"]))
