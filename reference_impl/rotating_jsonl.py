"""An append-only JSON-lines file rotated by size (``name`` -> ``name.1`` ... ``name.N``)."""

from __future__ import annotations

from pathlib import Path


class RotatingJsonLines:
    """Append-only JSON-lines file rotated to ``name.1 .. name.N`` when it would exceed max_bytes."""

    def __init__(self, path: Path, max_bytes: int, backup_count: int) -> None:
        self._path, self._max_bytes, self._backups = path, max_bytes, backup_count
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")

    def write(self, line: str) -> None:
        data = line + "\n"
        size = self._fh.tell()
        if size > 0 and size + len(data.encode("utf-8")) > self._max_bytes:
            self._rotate()
        self._fh.write(data)
        self._fh.flush()

    def _rotate(self) -> None:
        self._fh.close()
        if self._backups == 0:
            self._path.unlink(missing_ok=True)
        else:
            for index in range(self._backups - 1, 0, -1):
                older = self._path.with_name(f"{self._path.name}.{index}")
                if older.exists():
                    older.replace(self._path.with_name(f"{self._path.name}.{index + 1}"))
            self._path.replace(self._path.with_name(f"{self._path.name}.1"))
        self._fh = self._path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._fh.close()
