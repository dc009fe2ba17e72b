def test_pages(client, page_user):
    for path in ["/stocks?q=sap", "/stocks?q=SAP.DE", "/stocks/SAP.DE", "/stocks/suggest?q=sie", "/stocks/SAP.DE/chart.json?range=3m",
                 "/rankings", "/rankings?country=Germany&limit=5", "/rankings?limit=0", "/screener", "/screener?pe_max=-1&sector=Nope",
                 "/watchlist", "/stocks/NOPE.XX"]:
        r = client.get(path)
        body = r.get_data(as_text=True)
        print(path, r.status_code, len(body), body[:150].replace("\n"," ") if r.status_code >= 300 or path.endswith("json") or "suggest" in path else "")
        import re
        print("   errors:", re.findall(r'class="field-error">([^<]*)<', body)[:4])
