"""What a run records about where it ran."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_packages_vendored_inside_a_package_are_not_the_environments() -> None:
    # Importing Ray puts ray/thirdparty_files (its own psutil and colorama) on sys.path.
    code = (
        "import mloop.tracking._context as c\n"
        "before = c.installed_packages()\n"
        "c.installed_packages.cache_clear()\n"
        "import ray\n"
        "import sys\n"
        "assert any(p.endswith('thirdparty_files') for p in sys.path), sys.path\n"
        "assert c.installed_packages() == before\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_a_nested_run_leaves_the_package_list_to_its_parent(mloop_home: Path) -> None:
    import mloop
    from mloop.tracking import current_client

    with mloop.start_run() as parent, mloop.start_run(nested=True) as child:
        pass
    client = current_client()
    assert "mloop.env.packages" in client.get_run(parent.run_id).data.tags
    child_tags = client.get_run(child.run_id).data.tags
    assert not any(k.startswith("mloop.env.packages.") for k in child_tags)
    assert "mloop.env.packages" not in child_tags
    assert "mloop.env.packages_sha256" in child_tags  # the hash stays: runs compare by it


# -- the installed-package list, kept between processes ---------------------------------------


def _fake_dist(site: Path, name: str, version: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


@pytest.fixture
def packages_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import mloop.tracking._context as c

    folder = tmp_path / "cache"
    monkeypatch.setattr(c, "PACKAGES_CACHE_DIR", folder)
    return folder


def test_the_package_list_is_kept_and_read_back(
    tmp_path: Path, packages_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mloop.tracking._context as c

    site = tmp_path / "site"
    site.mkdir()
    _fake_dist(site, "mloop_fake_pkg", "1.0")
    monkeypatch.syspath_prepend(str(site))
    first = c.installed_packages.__wrapped__()
    assert "mloop-fake-pkg==1.0" in first
    (kept,) = packages_cache.glob("*.txt")
    assert tuple(kept.read_text().splitlines()) == first
    # A second process reads the kept list instead of scanning: shown by a list it could
    # not have found by scanning.
    kept.write_text("\n".join([*first, "only-in-the-cache==9"]))
    assert "only-in-the-cache==9" in c.installed_packages.__wrapped__()


def test_installing_a_package_changes_the_key(
    tmp_path: Path, packages_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import mloop.tracking._context as c

    site = tmp_path / "site"
    site.mkdir()
    _fake_dist(site, "mloop_fake_pkg", "1.0")
    monkeypatch.syspath_prepend(str(site))
    assert "mloop-fake-pkg==1.0" in c.installed_packages.__wrapped__()
    # An upgrade as pip does it: the old dist-info goes, the new one comes.
    (site / "mloop_fake_pkg-1.0.dist-info" / "METADATA").unlink()
    (site / "mloop_fake_pkg-1.0.dist-info").rmdir()
    _fake_dist(site, "mloop_fake_pkg", "2.0")
    st = site.stat()
    os.utime(site, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # coarse clocks
    now = c.installed_packages.__wrapped__()
    assert "mloop-fake-pkg==2.0" in now
    assert "mloop-fake-pkg==1.0" not in now
    assert len(list(packages_cache.glob("*.txt"))) == 2


def test_a_damaged_or_unwritable_cache_falls_back_to_scanning(
    tmp_path: Path, packages_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mloop.tracking._context as c

    site = tmp_path / "site"
    site.mkdir()
    _fake_dist(site, "mloop_fake_pkg", "1.0")
    monkeypatch.syspath_prepend(str(site))
    first = c.installed_packages.__wrapped__()
    (kept,) = packages_cache.glob("*.txt")
    kept.write_bytes(b"\xff\xfenot a package list")
    assert c.installed_packages.__wrapped__() == first
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setattr(c, "PACKAGES_CACHE_DIR", blocked / "packages")
    assert c.installed_packages.__wrapped__() == first
