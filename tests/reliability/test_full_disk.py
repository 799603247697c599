"""A full disk under the project's stores: one clear line, nothing half-accepted, nothing stuck.

The artifact store (``mlartifacts``: drift reports and models) and then the batch store
(``batches``: the raw copies) are moved onto a small tmpfs each, with little space to spare, and
batches are ingested until the disk is full. The failing batch must stop with one line that names
the disk problem, never be accepted with fewer rows, and either stay resumable (its raw copy kept,
`driftline recover` finishes it) or not be taken in at all (no half copy holding the space). Once
the tmpfs is enlarged, the work completes. Needs root (``mount -t tmpfs``); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from driftline.core.config import load_config
from driftline.store.state import StateStore
from tests.streams import make_batch
from tests.test_cli import driftline

pytestmark = pytest.mark.slow

KB = 1024


def _mount_problem() -> str | None:
    """Why tmpfs cannot be mounted here (None when it can)."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "no mount/umount command"
    return None


class SmallDisk:
    """`folder` moved onto a tmpfs of its own, its content copied over; `restore` copies back
    what was written meanwhile, unmounts and puts the folder back on the real disk."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.aside = folder, folder.with_name(f"{folder.name}.on-disk")
        self.mounted = False

    def mount(self, *, spare_kb: int) -> None:
        self.folder.rename(self.aside)
        self.folder.mkdir()
        need = sum(-(-p.stat().st_size // (4 * KB)) * 4 for p in self.aside.rglob("*") if p.is_file())
        self._mount("-t", "tmpfs", "-o", f"size={need + spare_kb + 1024}k,mode=0755", "tmpfs")
        self.mounted = True
        shutil.copytree(self.aside, self.folder, dirs_exist_ok=True, symlinks=True)
        self.resize(self.used_kb() + spare_kb)

    def resize(self, size_kb: int) -> None:
        self._mount("-o", f"remount,size={size_kb}k")

    def used_kb(self) -> int:
        st = os.statvfs(self.folder)
        return (st.f_blocks - st.f_bfree) * st.f_frsize // KB

    def free_kb(self) -> int:
        st = os.statvfs(self.folder)
        return st.f_bavail * st.f_frsize // KB

    def restore(self) -> None:
        if self.mounted:
            shutil.copytree(self.folder, self.aside, dirs_exist_ok=True, symlinks=True)
            done = subprocess.run(["umount", str(self.folder)], capture_output=True, text=True)
            if done.returncode != 0:  # still busy: detach it now, the kernel frees it when idle
                subprocess.run(["umount", "-l", str(self.folder)], check=True)
            self.mounted = False
        if self.aside.exists():
            self.folder.rmdir()
            self.aside.rename(self.folder)

    def _mount(self, *options: str) -> None:
        done = subprocess.run(["mount", *options, str(self.folder)], capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError(f"mount {' '.join(options)} {self.folder}: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    problem = _mount_problem()
    if problem:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("full-disk")
    probe = SmallDisk(root / "probe")
    probe.folder.mkdir()
    try:
        probe.mount(spare_kb=64)
    except OSError as err:
        probe.restore()
        pytest.skip(f"cannot mount a tmpfs here: {err}")
    probe.restore()

    pd.concat([make_batch(700, seed=s, start=s * 700) for s in range(4)]).to_csv(
        root / "history.csv", index=False
    )
    done = driftline(
        "init", "--data", "history.csv", "--target", "y", "--time-column", "ts", "--id-column", "event_id",
        "--dir", "proj", cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root / "proj"


@pytest.fixture
def small_disk(request):
    disks: list[SmallDisk] = []

    def make(folder: Path, *, spare_kb: int) -> SmallDisk:
        disk = SmallDisk(folder)
        disks.append(disk)
        disk.mount(spare_kb=spare_kb)
        return disk

    yield make
    for disk in reversed(disks):  # always: a test that fails half-way must not leave a mount behind
        disk.restore()


def store(project: Path) -> StateStore:
    return StateStore(load_config(project / "driftline.yaml").database_url)


def root_of(project: Path) -> Path:
    return load_config(project / "driftline.yaml").root


def batches(project: Path, name: str, seeds: range, rows: int = 400) -> list[str]:
    names = []
    for seed in seeds:
        make_batch(rows, seed=seed, start=seed * 1000).to_csv(project / f"{name}-{seed}.csv", index=False)
        names.append(f"{name}-{seed}.csv")
    return names


def results_of(stdout: str) -> list[dict]:
    found = json.loads(stdout)
    return found if isinstance(found, list) else [found]


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("error:")]
    return line


def scored_rows(project: Path, batch_id: str) -> int:
    return len(store(project).predictions_with_labels([batch_id]))


def test_a_full_artifact_store_stops_the_batch_in_one_line_and_recover_finishes_it(project, small_disk):
    # A drift report is ~4 MB: a little more than one batch's worth of room.
    disk = small_disk(root_of(project) / "mlartifacts", spare_kb=6 * KB)
    names = batches(project, "art", range(500, 504))
    done = driftline("ingest", *names, "--no-retrain", "--json", cwd=project)
    assert done.returncode == 1, done.stderr[-2000:]
    line = one_error_line(done.stderr)
    assert "No space left on device" in line and "`driftline recover` redoes it" in line, line
    assert "mlartifacts has" in line and "MiB free" in line, line  # names the store that is full
    *accepted, failed = results_of(done.stdout)
    assert failed["status"] == "failed" and Path(failed["source"]).name in line
    for result in accepted:  # the batches before the full disk: whole
        assert result["status"] == "accepted" and scored_rows(project, result["batch_id"]) == 400

    (stuck,) = store(project).unfinished_batches()  # the failing batch: kept, resumable, not accepted
    assert stuck.source == Path(failed["source"]).name and Path(stuck.raw_path).is_file()
    assert stuck.stage != "done" and stuck.decision is None

    disk.resize(disk.used_kb() + 200 * KB)  # space freed
    recovered = driftline("recover", "--no-retrain", "--json", cwd=project)
    assert recovered.returncode == 0, recovered.stderr
    (again,) = results_of(recovered.stdout)
    assert again["status"] == "accepted" and again["seq"] == stuck.seq
    assert scored_rows(project, again["batch_id"]) == 400  # every row once, not a partial redo
    rest = names[len(accepted) + 1 :]
    if rest:
        after = driftline("ingest", *rest, "--no-retrain", "--json", cwd=project)
        assert after.returncode == 0, after.stderr
        assert all(r["status"] == "accepted" for r in results_of(after.stdout))
    assert store(project).unfinished_batches() == []
    seqs = [b.seq for b in store(project).list_batches()]
    assert seqs == list(range(1, len(seqs) + 1))


def test_a_full_batch_store_refuses_the_batch_in_one_line_and_keeps_no_half_copy(project, small_disk):
    names = batches(project, "raw", range(600, 604), rows=1500)  # ~200 KB each
    disk = small_disk(root_of(project) / "batches", spare_kb=300)  # one raw copy fits
    before = {b.batch_id for b in store(project).list_batches()}
    done = driftline("ingest", *names, "--no-retrain", "--json", cwd=project)
    assert done.returncode == 1, done.stderr[-2000:]
    line = one_error_line(done.stderr)
    *accepted, failed = results_of(done.stdout)
    source = project / Path(failed["source"]).name
    assert f"{source}: no space left on the device of {disk.folder} (disk full)" in line, line
    assert "nothing was recorded" in line and "recover" not in line, line
    assert len(accepted) >= 1 and all(r["status"] == "accepted" for r in accepted)
    assert source.is_file()  # the user's file is untouched
    assert not list(disk.folder.rglob("*.partial"))  # no half copy left to hold the space
    known = store(project).list_batches()
    assert {b.batch_id for b in known} - before == {r["batch_id"] for r in accepted}  # not taken in
    assert store(project).unfinished_batches() == []

    disk.resize(disk.used_kb() + 4 * KB * KB)
    rest = names[len(accepted) :]
    after = driftline("ingest", *rest, "--no-retrain", "--json", cwd=project)
    assert after.returncode == 0, after.stderr
    for result in results_of(after.stdout):
        assert result["status"] == "accepted" and scored_rows(project, result["batch_id"]) == 1500
    seqs = [b.seq for b in store(project).list_batches()]
    assert seqs == list(range(1, len(seqs) + 1))
