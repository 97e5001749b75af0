"""The SEC index fixtures the demo lands, read straight from the files (no filinglake code): expected values."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import NamedTuple

#: the SEC index files of the demo's partitions (scripts/demo.py), relative to the fixtures folder
DEMO_SEC_INDEXES = ("edgar/full-index/2016/QTR3/master.gz", "edgar/full-index/1993/QTR4/master.idx",
                    "edgar/daily/master.20181231.excerpt.idx", "edgar/daily/master.20260102.excerpt.idx")


class IndexRow(NamedTuple):
    cik: str
    company: str
    form: str
    date: str  # YYYY-MM-DD
    accession: str


def sec_index_rows(fixtures_dir: Path) -> list[IndexRow]:
    """Every (CIK, accession) of the demo's SEC indexes once, with the first listing's name, form and date."""
    seen: dict[tuple[str, str], IndexRow] = {}
    for name in DEMO_SEC_INDEXES:
        data = (fixtures_dir / name).read_bytes()
        text = (gzip.decompress(data) if name.endswith(".gz") else data).decode("latin-1")
        for line in text.splitlines():
            parts = line.split("|")
            if len(parts) != 5 or not parts[0].isdigit():
                continue
            cik, company, form, filed, path = parts
            day = filed if "-" in filed else f"{filed[:4]}-{filed[4:6]}-{filed[6:8]}"
            accession = path.rsplit("/", 1)[-1].removesuffix(".txt")
            seen.setdefault((cik, accession), IndexRow(cik, company, form, day, accession))
    return list(seen.values())
