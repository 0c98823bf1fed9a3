"""A view's table as a downloadable file: CSV in UTF-8 with a byte-order mark (Thai opens correctly in
Excel) or an XLSX workbook whose figures are numbers."""
from __future__ import annotations

import csv
import io

from openpyxl import Workbook

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_bytes(title: str, header: list[str], rows: list[list[str]]) -> bytes:
    """One sheet named ``title``; an aggregate's figures (after area, name, level, parent) as numbers,
    blank where suppressed; identifiers and microdata fields as text."""
    figures_from = len(header) if header[0] == "row" else 4
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append(row[:figures_from] + [_number(v) for v in row[figures_from:]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _number(text: str) -> int | float | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)
