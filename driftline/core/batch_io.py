"""Reading incoming batch files and keeping them, unchanged, in the batch store."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import pandas as pd

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", ".gz")


class BatchReadError(ValueError):
    """A batch file that cannot be read; the message names the file and the rule it broke."""


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the batch id is its first 16 hex digits."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def batch_id_of(sha256: str) -> str:
    return sha256[:16]


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) or Parquet file.

    Raises:
        BatchReadError: missing, empty, unreadable or unsupported file, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise BatchReadError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise BatchReadError(f"{path}: file is empty (0 bytes)")
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv" or suffixes.endswith(".csv.gz"):
            frame = pd.read_csv(path, low_memory=False)
        else:
            raise BatchReadError(f"{path}: unsupported format '{path.suffix}'; use .csv, .csv.gz or .parquet")
    except BatchReadError:
        raise
    except pd.errors.EmptyDataError:
        raise BatchReadError(f"{path}: file has no columns (empty CSV)") from None
    except UnicodeDecodeError as err:  # latin-1, UTF-16, ...: say which rule, not the codec's words
        byte = err.object[err.start : err.start + 1].hex()
        raise BatchReadError(
            f"{path}: cannot be read as {path.suffix}: not UTF-8 text "
            f"(rule: a CSV file must be UTF-8 encoded; found byte 0x{byte}); save it as UTF-8"
        ) from None
    except Exception as err:  # any parser failure becomes one readable line
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BatchReadError(f"{path}: cannot be read as {path.suffix or 'a table'} ({first_line})") from None
    if frame.shape[1] == 0:
        raise BatchReadError(f"{path}: file has no columns")
    if len(frame) == 0:
        raise BatchReadError(f"{path}: file has a header but no rows")
    duplicated = frame.columns[frame.columns.duplicated()].tolist() or _csv_duplicate_header(path)
    if duplicated:
        raise BatchReadError(f"{path}: column {duplicated[0]!r} appears more than once")
    return frame


class RawCopyError(OSError):
    """The raw copy of a batch could not be made whole (a full disk, a file that changed)."""


def keep_raw(source: Path, directory: Path, *, sha256: str) -> Path:
    """Copy the raw file unchanged into `directory` (created) and return the copy's path.

    The copy goes to a temporary name, is fsynced and checked against `sha256` before it is
    renamed into place, so no reader (a retry included) ever sees a partial copy. An existing copy
    whose hash differs (left by a crash before this rule) is replaced.

    Raises:
        RawCopyError: the copy does not match `sha256` (the source changed while being copied), or
            the disk is full (no partial copy is left behind).
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"raw{''.join(Path(source).suffixes[-2:]) or '.bin'}"
    if target.exists() and content_hash(target) == sha256:
        return target
    partial = directory / f".{target.name}.partial"
    try:
        with Path(source).open("rb") as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as err:
        partial.unlink(missing_ok=True)  # a half copy must not hold space a full disk needs
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise RawCopyError(
                f"{source}: no space left on the device of {directory.parent} (disk full): the file "
                "was not taken in and nothing was recorded; free some space and run the command again"
            ) from None
        raise
    if content_hash(partial) != sha256:
        partial.unlink(missing_ok=True)
        raise RawCopyError(
            f"{source}: its copy does not match the hash read first: the file changed while copied"
        )
    shutil.copystat(source, partial)
    os.replace(partial, target)
    return target


def _csv_duplicate_header(path: Path) -> list[str]:
    """Header names given twice in a CSV (pandas silently renames them to 'a.1')."""
    import csv
    import gzip

    if path.suffix.lower() not in (".csv", ".gz"):
        return []
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        header = next(csv.reader(handle), [])
    seen: set[str] = set()
    return [name for name in header if name in seen or seen.add(name)]  # type: ignore[func-returns-value]
