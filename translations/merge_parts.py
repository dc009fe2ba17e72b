"""Merge German part files (translations/parts/*.po) into translations/de/LC_MESSAGES/messages.po.

Used while pages are translated in parallel, each group handing in its part; afterwards `make translations`
keeps the one catalogue up to date. A msgid in two parts must carry the same translation.
"""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
TARGET = HERE / "de" / "LC_MESSAGES" / "messages.po"


def main() -> int:
    merged = Catalog(locale="de", project="Tickerdesk", fuzzy=False, copyright_holder="Tickerdesk",
                     language_team="de", last_translator="Tickerdesk")
    if TARGET.exists():
        with TARGET.open("rb") as f:
            for message in read_po(f):
                if message.id:
                    merged.add(message.id, message.string, flags=message.flags)
    clashes = []
    for part in sorted((HERE / "parts").glob("*.po")):
        with part.open("rb") as f:
            for message in read_po(f):
                if not message.id:
                    continue
                known = merged.get(message.id)
                if known is not None and known.string and known.string != message.string:
                    clashes.append((part.name, message.id, known.string, message.string))
                    continue
                merged.add(message.id, message.string, flags=message.flags)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    with TARGET.open("wb") as f:
        write_po(f, merged, no_location=True, sort_output=True, width=120)
    for clash in clashes:
        print("different translations:", *clash, sep="\n  ")
    print(f"{len(merged)} messages in {TARGET.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
