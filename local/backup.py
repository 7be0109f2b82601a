"""Backup and restore of the local data directory (`make backup`, `make restore FILE=…`).

A backup is consistent while the registry runs, because of the order of writes:
a blob's bytes reach S3 before any metadata refers to them (the upload is
verified, then its blob record and repository link are written; a manifest is
accepted only when the blobs it names are linked), and stored objects never
change (content-addressed keys, atomic file replacement by the S3 emulator).
So the backup takes the metadata first, as one SQLite snapshot (SQLite's online
backup API: a point-in-time copy even while DynamoDB Local writes), and the
objects after it: every object the snapshot refers to already exists then.
The backup may also hold newer objects the snapshot does not know; they are
harmless (unreferenced). A blob deleted between the two steps (a tag delete
followed by garbage collection) could be missing: avoid deleting during a backup.

Usage: python -m local.backup create [--file F] | restore --file F  (REGISTRY_DATA_DIR)
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from .backends import backend_processes
from .embedded import default_data_dir

# what a data directory holds besides the two stores; all restored as they were
_KEYS = ("credentials.json", "token-key.pem", "schema1-key.pem", "tls")


class BackupError(RuntimeError):
    pass


def create(data_dir: Path, out: Path) -> dict[str, int]:
    """Write a tar of `data_dir` to `out` (mode 0600: it holds credentials and password
    hashes); returns counts. Metadata first, then objects (see the module doc)."""
    data_dir = data_dir.resolve()
    if not (data_dir / "dynamodb").is_dir() or not (data_dir / "s3").is_dir():
        raise BackupError(f"{data_dir} holds no registry data (the in-memory mode keeps none)")
    counts = {"tables": 0, "objects": 0, "bytes": 0}
    with tempfile.TemporaryDirectory(prefix="registry-backup-") as tmp:
        snap = Path(tmp)
        for db in sorted((data_dir / "dynamodb").glob("*.db")):
            src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
            dst = sqlite3.connect(snap / db.name)
            try:
                src.backup(dst)  # one step: a read lock held for the copy, so one point in time
            finally:
                dst.close()
                src.close()
            counts["tables"] += 1
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            for db in sorted(snap.iterdir()):
                tar.add(db, arcname=f"dynamodb/{db.name}")
            for name in _KEYS:
                if (data_dir / name).exists():
                    tar.add(data_dir / name, arcname=name)
            for path in sorted((data_dir / "s3").rglob("*")):
                if path.is_file() and not path.name.endswith(".tmp"):
                    try:
                        tar.add(path, arcname=str(path.relative_to(data_dir)))
                    except FileNotFoundError:  # replaced or deleted meanwhile; not referenced
                        continue
                    counts["objects"] += 1
                    counts["bytes"] += path.stat().st_size if path.exists() else 0
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, out)
    return counts


def restore(data_dir: Path, archive: Path) -> Path:
    """Replace `data_dir` with the backup's contents; the old directory is kept beside it
    (returned). The registry must be stopped."""
    data_dir = data_dir.resolve()
    if not archive.is_file():
        raise BackupError(f"{archive}: no such backup file")
    if backend_processes(data_dir):
        raise BackupError(f"the registry is running on {data_dir}: stop it (Ctrl-C) before restoring")
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir.parent))
    try:
        with tarfile.open(archive, mode="r") as tar:
            names = tar.getnames()
            if not any(n.startswith("dynamodb/") for n in names):
                raise BackupError(f"{archive} is not a registry backup (no dynamodb/ snapshot)")
            tar.extractall(staging, filter="data")  # refuses absolute paths, .., links out
        os.chmod(staging, 0o700)
        for sub in ("s3", "dynamodb"):
            (staging / sub).mkdir(exist_ok=True)
        kept = data_dir.with_name(f"{data_dir.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
        if data_dir.exists():
            data_dir.rename(kept)
        staging.rename(data_dir)
        return kept
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m local.backup", description=__doc__.split("\n")[0])
    p.add_argument("action", choices=("create", "restore"))
    p.add_argument("--file", help="the backup file (create: default registry-backup-<UTC time>.tar)")
    p.add_argument("--data-dir", help="default: REGISTRY_DATA_DIR or .local-data")
    args = p.parse_args(argv)
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    try:
        if args.action == "create":
            out = Path(args.file or f"registry-backup-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.tar")
            c = create(data_dir, out)
            print(f"backup of {data_dir} written to {out}: {c['tables']} metadata snapshot(s), "
                  f"{c['objects']} object files, {c['bytes']} bytes")
        else:
            if not args.file:
                p.error("restore needs --file (make restore FILE=...)")
            kept = restore(data_dir, Path(args.file))
            print(f"restored {args.file} into {data_dir}; the previous data is in {kept}")
    except BackupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
