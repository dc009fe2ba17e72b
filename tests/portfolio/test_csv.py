"""CSV export and import: round trips, no duplicates, all-or-nothing, row errors by line number."""
from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import register_api
from tests.portfolio.helpers import error, ok_txn, transactions

IMPORT, EXPORT = "/api/v1/portfolio/import", "/api/v1/portfolio/export.csv"
HEADER = "date,symbol,kind,quantity,price,fee,currency,note\n"
FIELDS = ("date", "symbol", "kind", "quantity", "price", "fee", "currency", "note")


def _import(client, headers, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return client.post(IMPORT, data=data, content_type="text/csv", headers=headers)


def _content(rows: list[dict]) -> list[tuple]:
    return [tuple(r[f] for f in FIELDS) for r in rows]


def _seed(client, h) -> None:
    ok_txn(client, h, "buy", "SAP.DE", 10, "100.50", "2025-03-03", fee="4.90", note="first lot")
    ok_txn(client, h, "buy", "AAPL", "2.5", 150, "2025-03-04")
    ok_txn(client, h, "sell", "SAP.DE", 4, 120, "2025-05-02", fee=1, note='with "quotes", and a comma')
    ok_txn(client, h, "dividend", "SAP.DE", 6, "2.2", "2025-06-02")
    ok_txn(client, h, "fee", "AAPL", 1, "3.5", "2025-06-03", note="custody")


def test_export_format(client, auth) -> None:
    _seed(client, auth["headers"])
    response = client.get(EXPORT, headers=auth["headers"])
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="transactions.csv"' in response.headers["Content-Disposition"]
    assert response.get_data(as_text=True) == (
        HEADER
        + "2025-03-03,SAP.DE,buy,10,100.5,4.9,EUR,first lot\n"
        + "2025-03-04,AAPL,buy,2.5,150,0,USD,\n"
        + '2025-05-02,SAP.DE,sell,4,120,1,EUR,"with ""quotes"", and a comma"\n'
        + "2025-06-02,SAP.DE,dividend,6,2.2,0,EUR,\n"
        + "2025-06-03,AAPL,fee,1,3.5,0,USD,custody\n")


def test_export_then_import_into_a_fresh_user_reproduces_the_transactions(client, auth) -> None:
    _seed(client, auth["headers"])
    exported = client.get(EXPORT, headers=auth["headers"]).get_data(as_text=True)
    fresh = register_api(client)
    response = _import(client, fresh["headers"], exported)
    assert response.status_code == 200 and response.get_json() == {"imported": 5, "skipped": 0}
    assert _content(transactions(client, fresh["headers"])) == _content(transactions(client, auth["headers"]))
    assert client.get(EXPORT, headers=fresh["headers"]).get_data(as_text=True) == exported
    # The same file again adds nothing, for the new user ...
    assert _import(client, fresh["headers"], exported).get_json() == {"imported": 0, "skipped": 5}
    # ... and neither does the original user's own export imported into their own account.
    assert _import(client, auth["headers"], exported).get_json() == {"imported": 0, "skipped": 5}
    assert len(transactions(client, auth["headers"])) == 5 and len(transactions(client, fresh["headers"])) == 5


def test_identical_rows_in_one_file_are_two_trades(client, auth) -> None:
    text = HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n" * 2 + "2025-03-03,sap.de,buy,5,100,,,\n"
    # The third row is the same trade spelled differently (lower case, empty fee and currency): a third one.
    assert _import(client, auth["headers"], text).get_json() == {"imported": 3, "skipped": 0}
    assert _import(client, auth["headers"], text).get_json() == {"imported": 0, "skipped": 3}
    rows = transactions(client, auth["headers"])
    assert len(rows) == 3 and {r["quantity"] for r in rows} == {"5"} and {r["currency"] for r in rows} == {"EUR"}
    # One more identical row than stored: only the extra occurrence is new.
    text4 = HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n" * 4
    assert _import(client, auth["headers"], text4).get_json() == {"imported": 1, "skipped": 3}


def test_a_bad_row_rejects_the_whole_file(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 1, 100, "2025-01-02")
    before = transactions(client, h)
    good = "2025-03-03,SAP.DE,buy,5,100,0,EUR,ok\n"
    cases = [
        ("2025-13-01,SAP.DE,buy,5,100,0,EUR,\n", "date"),
        ("2025-03-03,NOPE.XX,buy,5,100,0,,\n", "symbol"),
        ("2025-03-03,SAP.DE,buy,-5,100,0,EUR,\n", "quantity"),
        ("2025-03-03,SAP.DE,buy,5,abc,0,EUR,\n", "price"),
        ("2025-03-03,SAP.DE,buy,5,100,-1,EUR,\n", "fee"),
        ("2025-03-03,SAP.DE,gift,5,100,0,EUR,\n", "kind"),
        ("2025-03-03,SAP.DE,buy,5,100,0,USD,\n", "currency"),
        ("2999-03-03,SAP.DE,buy,5,100,0,EUR,\n", "date"),
        ("2025-03-03,,buy,5,100,0,EUR,\n", "symbol"),
    ]
    for bad, field in cases:
        # Line 1 is the header, line 2 a good row, line 3 the bad one, line 4 another good one.
        response = _import(client, h, HEADER + good + bad + good)
        assert response.status_code == 400, (bad, response.get_json())
        err = error(response)
        assert err["code"] == "validation_error" and list(err["details"]["rows"]) == ["3"], (bad, err)
        assert field in err["details"]["rows"]["3"], (bad, err)
        assert "nothing was imported" in err["message"]
    assert transactions(client, h) == before


def test_every_bad_row_is_reported(client, auth) -> None:
    text = (HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n" + "bad-date,SAP.DE,buy,5,100,0,EUR,\n"
            + "2025-03-03,NOPE,buy,5,100,0,,\n" + "2025-03-03,SAP.DE,buy,,100,0,EUR,\n")
    err = error(_import(client, auth["headers"], text))
    assert err["details"]["rows"] == {
        "3": {"date": ["Use YYYY-MM-DD."]},
        "4": {"symbol": ["'NOPE' is not in the stock universe."]},
        "5": {"quantity": ["Required."]},
    }
    assert transactions(client, auth["headers"]) == []


LINE_NUMBER_BUG = ("app/portfolio/csvio.py parse_csv numbers rows with enumerate(reader, start=2), i.e. by CSV "
                   "record, not by line: csv.DictReader drops blank lines and a quoted field may span lines, so "
                   "every row after a blank line or a multi-line note is reported under a too-small line number "
                   "(reader.line_num is the real one)")


def test_line_numbers_count_blank_lines(client, auth) -> None:
    # Line 1 header, 2 a good row, 3 blank, 4 the bad row.
    text = HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n" + "\n" + "2025-03-03,NOPE,buy,5,100,0,,\n"
    assert list(error(_import(client, auth["headers"], text))["details"]["rows"]) == ["4"]


def test_line_numbers_count_the_lines_of_a_multi_line_note(client, auth) -> None:
    # Lines 2-3 are one row whose quoted note holds a line break (as the export writes it); line 4 is bad.
    text = HEADER + '2025-03-03,SAP.DE,buy,5,100,0,EUR,"one\ntwo"\n' + "2025-03-03,NOPE,buy,5,100,0,,\n"
    assert list(error(_import(client, auth["headers"], text))["details"]["rows"]) == ["4"]


def test_a_missing_column_is_400_on_line_1(client, auth) -> None:
    response = _import(client, auth["headers"], "date,symbol,kind,quantity\n2025-03-03,SAP.DE,buy,5\n")
    assert response.status_code == 400
    rows = error(response)["details"]["rows"]
    assert list(rows) == ["1"] and "price" in rows["1"]["header"][0]
    assert transactions(client, auth["headers"]) == []


def test_a_file_that_oversells_is_422_and_writes_nothing(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 3, 100, "2025-01-02")
    before = transactions(client, h)
    text = HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n" + "2025-04-01,SAP.DE,sell,9,110,0,EUR,\n"
    response = _import(client, h, text)
    assert response.status_code == 422
    # 3 held before the file + 5 bought in it = 8 on 2025-04-01, not 9.
    assert error(response)["details"] == {"symbol": "SAP.DE", "date": "2025-04-01", "held": "8", "requested": "9"}
    assert transactions(client, h) == before


def test_multipart_upload(client, auth) -> None:
    text = HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n"
    response = client.post(IMPORT, data={"file": (io.BytesIO(text.encode()), "t.csv")},
                           content_type="multipart/form-data", headers=auth["headers"])
    assert response.status_code == 200 and response.get_json() == {"imported": 1, "skipped": 0}
    # A UTF-8 byte order mark (as spreadsheet programs write) is fine too.
    bom = "\ufeff" + HEADER + "2025-03-04,SAP.DE,buy,5,100,0,EUR,\n"
    assert _import(client, auth["headers"], bom.encode("utf-8")).get_json() == {"imported": 1, "skipped": 0}


def test_bodies_that_are_not_csv_text(client, auth) -> None:
    h = auth["headers"]
    latin1 = (HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,caf\u00e9\n").encode("latin-1")
    response = _import(client, h, latin1)
    assert response.status_code == 400 and "UTF-8" in error(response)["details"]["fields"]["file"][0]
    assert _import(client, h, b"").status_code == 400
    only_header = _import(client, h, HEADER)
    assert only_header.status_code == 400 and "file" in error(only_header)["details"]["fields"]
    assert client.post(IMPORT, headers=h).status_code == 400
    # Found by schemathesis: a field the csv module refuses is a 400 that says so, not a 500 ...
    huge = _import(client, h, HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR," + "x" * 200_000 + "\n")
    assert huge.status_code == 400 and "not valid CSV" in str(error(huge)["details"]["rows"])
    # ... and NUL characters (which PostgreSQL cannot store) are refused before anything is parsed.
    for broken in (HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,a\x00b\n", "date,symbol\nfoo\rbar\x00"):
        response = _import(client, h, broken)
        assert response.status_code == 400 and "NUL" in error(response)["message"]
    assert transactions(client, h) == []


def test_old_mac_line_endings_are_rows(client, auth) -> None:
    text = HEADER.replace("\n", "\r") + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\r2025-03-04,SAP.DE,buy,1,90,0,EUR,\r"
    assert _import(client, auth["headers"], text).get_json() == {"imported": 2, "skipped": 0}


def test_notes_survive_the_round_trip(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 1, 100, "2025-03-03", note="line one\nline two")
    ok_txn(client, h, "buy", "SAP.DE", 1, 100, "2025-03-04", note="caf\u00e9 \u20ac")
    exported = client.get(EXPORT, headers=h).get_data(as_text=True)
    assert _import(client, h, exported).get_json() == {"imported": 0, "skipped": 2}
    fresh = register_api(client)
    assert _import(client, fresh["headers"], exported).get_json() == {"imported": 2, "skipped": 0}
    assert _content(transactions(client, fresh["headers"])) == _content(transactions(client, h))


def test_a_note_with_surrounding_blanks_is_not_imported_twice(client, auth) -> None:
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 1, 100, "2025-03-03", note=" padded ")
    exported = client.get(EXPORT, headers=h).get_data(as_text=True)
    assert exported.endswith(",EUR,padded\n")  # notes are stored trimmed, as the import reads them
    assert _import(client, h, exported).get_json() == {"imported": 0, "skipped": 1}
    assert len(transactions(client, h)) == 1


FORMULA_NOTES = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+2", "-2+3", "@SUM(A1:A2)", "'=already quoted",
                 "''+twice", "'tis plain", "a = b", "plain", "=cmd|' /C calc'!A0"]


def test_notes_that_read_as_formulas_are_neutralised_on_export(client, page_user) -> None:
    # Issue 13 item 14 (OWASP CSV injection): a cell starting with = + - @ (tab, CR) gets one apostrophe in front.
    h = page_user["headers"]
    for i, note in enumerate(FORMULA_NOTES):
        ok_txn(client, h, "buy", "SAP.DE", 1, 100 + i, "2025-03-03", note=note)
    exported = client.get(EXPORT, headers=h).get_data(as_text=True)
    notes = [row["note"] for row in csv.DictReader(io.StringIO(exported))]
    assert notes == ["'=HYPERLINK(\"http://evil.example\",\"x\")", "'+1+2", "'-2+3", "'@SUM(A1:A2)",
                     "''=already quoted", "'''+twice", "'tis plain", "a = b", "plain", "'=cmd|' /C calc'!A0"]
    assert not any(cell[:1] in "=+-@\t\r" and cell for row in csv.reader(io.StringIO(exported)) for cell in row)
    assert client.get("/portfolio/export.csv").get_data(as_text=True) == exported  # the page's download


def test_neutralised_notes_import_back_exactly(client, auth) -> None:
    h = auth["headers"]
    for i, note in enumerate(FORMULA_NOTES):
        ok_txn(client, h, "buy", "SAP.DE", 1, 100 + i, "2025-03-03", note=note)
    exported = client.get(EXPORT, headers=h).get_data(as_text=True)
    assert _import(client, h, exported).get_json() == {"imported": 0, "skipped": len(FORMULA_NOTES)}
    fresh = register_api(client)
    assert _import(client, fresh["headers"], exported).get_json() == {"imported": len(FORMULA_NOTES), "skipped": 0}
    assert [t["note"] for t in transactions(client, fresh["headers"])] == FORMULA_NOTES
    # A second round trip changes nothing either.
    assert client.get(EXPORT, headers=fresh["headers"]).get_data(as_text=True) == exported


def test_five_bad_rows_are_five_errors_each_on_its_line(client, auth) -> None:
    # Each row wrong in a different way, some caught while parsing and some when checked as a trade.
    text = (HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n"     # 2: fine
            + "2025-13-03,SAP.DE,buy,5,100,0,EUR,\n"           # 3: no 13th month
            + "2025-03-03,NOPE,buy,5,100,0,,\n"                # 4: not in the universe
            + "2025-03-03,SAP.DE,swap,5,100,0,EUR,\n"          # 5: no such kind
            + "2025-03-03,SAP.DE,buy,five,100,0,EUR,\n"        # 6: not a number
            + "2025-03-03,SAP.DE,buy,-5,100,0,EUR,\n")         # 7: a negative quantity
    response = _import(client, auth["headers"], text)
    assert response.status_code == 400
    body = error(response)
    assert list(body["details"]["rows"]) == ["3", "4", "5", "6", "7"]
    assert body["message"] == "5 rows are invalid; nothing was imported."
    assert transactions(client, auth["headers"]) == []


def test_a_semicolon_file_from_german_excel_imports(client, auth) -> None:
    # Excel in German saves "CSV" with semicolons, decimal commas and DD.MM.YYYY dates.
    text = ("Date;Symbol;Kind;Quantity;Price;Fee;Currency;Note\r\n"
            "01.03.2024;SAP.DE;buy;10;180,50;4,90;EUR;erste Tranche\r\n"
            "2024-04-02;SAP.DE;sell;2,5;1.190,25;0;EUR;\"Teil; verkauft\"\r\n")
    response = _import(client, auth["headers"], text)
    assert response.status_code == 200, response.get_json()
    rows = transactions(client, auth["headers"])
    assert [(r["date"], r["kind"], r["quantity"], r["price"], r["fee"], r["note"]) for r in rows] == [
        ("2024-03-01", "buy", "10", "180.5", "4.9", "erste Tranche"),
        ("2024-04-02", "sell", "2.5", "1190.25", "0", "Teil; verkauft")]
    # A tab-separated file too; and in one, a bad amount is named on its line.
    bad = "date\tsymbol\tkind\tquantity\tprice\n2024-05-02\tSAP.DE\tbuy\t1,2,3\t100\n"
    assert error(_import(client, auth["headers"], bad))["details"]["rows"] == {"2": {"quantity": ["Enter a number."]}}


def test_a_comma_file_keeps_the_decimal_point(client, auth) -> None:
    # In a comma-separated file "1.234" is one point two three four, never a thousand.
    text = HEADER + "2025-03-03,SAP.DE,buy,1.234,100,0,EUR,\n"
    assert _import(client, auth["headers"], text).status_code == 200
    assert transactions(client, auth["headers"])[0]["quantity"] == "1.234"


def test_an_oversell_is_named_with_the_other_bad_rows(client, auth) -> None:
    # Four rows wrong on their own and a fifth that sells more than is held: five rows named at once.
    text = (HEADER + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n"     # 2: fine
            + "2025-13-03,SAP.DE,buy,5,100,0,EUR,\n"           # 3
            + "2025-03-03,NOPE,buy,5,100,0,,\n"                # 4
            + "2025-03-03,SAP.DE,swap,5,100,0,EUR,\n"          # 5
            + "2025-03-03,SAP.DE,buy,five,100,0,EUR,\n"        # 6
            + "2025-04-01,SAP.DE,sell,9,110,0,EUR,\n")         # 7: 5 held
    body = error(_import(client, auth["headers"], text))
    assert body["message"] == "5 rows are invalid; nothing was imported."
    assert body["details"]["rows"]["7"] == {"quantity": ["Sells 9 but 5 are held then."]}
    assert transactions(client, auth["headers"]) == []
