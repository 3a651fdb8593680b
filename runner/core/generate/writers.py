"""Writing a batch's files (``<source>__<entity>__<batch date>.<ext>``), with the
duplicates an export repeats, and the generator's state file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import asdict, fields
from pathlib import Path

from runner.core.generate.dirt import Dirt
from runner.core.generate.entities import State
from runner.errors import WarehouseError

STATE_FILE = "_generator.json"


class BatchFiles:
    def __init__(self, folder: Path, date: dt.date, dirt: Dirt):
        self.folder, self.date, self.dirt = folder, date, dirt

    def text(self, source: str, entity: str, ext: str, text: str) -> None:
        path = self.folder / f"{source}__{entity}__{self.date.isoformat()}.{ext}"
        path.write_text(text, encoding="utf-8")

    def csv(self, entity: str, header: list[str], rows: list[list]) -> None:
        """ERP CSV with a header; some rows sent twice."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        duplicate = ("exact_duplicate",)
        for row in rows:
            writer.writerow(row)
            if self.dirt.pick(duplicate):
                writer.writerow(row)
        self.text("erp", entity, "csv", buffer.getvalue())

    def jsonl(self, entity: str, records: list[dict]) -> None:
        """CRM JSON lines; some records sent twice, some again with a newer timestamp."""
        lines = []
        for record in records:
            line = json.dumps(record, ensure_ascii=False)
            lines.append(line)
            if self.dirt.dirty("exact_duplicate"):
                lines.append(line)
            elif record.get("customer_id") and self.dirt.dirty("newer_duplicate"):
                newer = dict(record, updated_at=f"{self.date.isoformat()} 23:59:59")
                lines.append(json.dumps(newer, ensure_ascii=False))
        self.text("crm", entity, "jsonl", "\n".join(lines) + ("\n" if lines else ""))


def save_state(folder: Path, state: State) -> None:
    (folder / STATE_FILE).write_text(json.dumps(asdict(state), indent=1, sort_keys=True) + "\n")


def load_state(folder: Path) -> State:
    path = folder / STATE_FILE
    if not path.exists():
        raise WarehouseError(
            f"{folder} holds no generated data ({STATE_FILE} missing). Run "
            f"`runner generate --out {folder}` first."
        )
    try:
        saved = json.loads(path.read_text())
    except ValueError as error:
        raise WarehouseError(
            f"{path} is not valid JSON ({error}), so no day can be added. Restore it from a "
            "copy, or generate a new folder (`runner generate --out NEW_FOLDER`)."
        ) from error
    known = {item.name for item in fields(State)}
    # A folder written by another version of the generator: its state lacks what a next
    # day needs (the id ranges) or has fields this version does not know.
    usable = (
        isinstance(saved, dict)
        and {"seed", "scale", "dirt"} <= set(saved) <= known
        and (not saved.get("batches") or (saved.get("order_ranges") and saved.get("customer_ranges")))
    )
    if not usable:
        raise WarehouseError(
            f"{path} was written by another version of `runner generate`, so this version "
            "cannot add days to it. Generate a new folder (`runner generate --out NEW_FOLDER`) "
            "and load it into a fresh database."
        )
    return State(**saved)
