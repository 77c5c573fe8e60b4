"""A stand-in for ``python:3.11-slim-bookworm``, made from Debian's packages.

Images cannot be pulled here (only the package registries are reachable), so the Docker test
builds the Dockerfile ``FROM`` this instead (``--build-arg PYTHON_IMAGE=...``): Debian
bookworm's minimal base with its Python 3.11, venv and pip, ``python`` linked to ``python3``
as in the official image. The debootstrapped tree is cached as a tarball (about 35 s to make,
reused after); the machine's CA bundle and pip configuration are added on top at each run, so
pip inside the build reaches the registry the way it does here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.docker.engine import Engine, EngineUnavailableError, unmount_below

SUITE = "bookworm"
PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
ROOTFS_TAG = "ftd-standin-rootfs:bookworm"
TAG = "ftd-standin-python:3.11-bookworm"

# Where pip reads its configuration as root, and the variables it (and OpenSSL) honour.
PIP_CONFIG_FILES = (
    Path("/etc/pip.conf"),
    Path("/etc/xdg/pip"),
    Path.home() / ".config" / "pip",
)
FORWARDED_PREFIXES = ("PIP_",)
FORWARDED_NAMES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fastapi-tasks-demo"


def debian_mirror() -> str | None:
    """The Debian mirror apt uses here (debootstrap's default otherwise)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    listing = Path("/etc/apt/sources.list")
    if listing.is_file():
        for line in listing.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                return words[1]
    return None


def rootfs_tarball() -> Path:
    """SLOW the first time (about 35 s): debootstrap bookworm, tar it into the cache."""
    tarball = cache_dir() / f"debootstrap-{SUITE}-minbase.tar"
    if tarball.is_file():
        return tarball
    debootstrap = shutil.which("debootstrap") or shutil.which(
        "debootstrap", path="/usr/sbin"
    )
    if not debootstrap:
        raise EngineUnavailableError(
            "no debootstrap: install Debian's debootstrap (.ci/run does)"
        )
    tree = Path(tempfile.mkdtemp(prefix="ftd-rootfs-", dir="/tmp"))
    try:
        mirror = debian_mirror()
        done = subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={PACKAGES}",
                SUITE,
                str(tree),
                *([mirror] if mirror else []),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"debootstrap failed:\n{done.stdout[-3000:]}")
        (tree / "usr/local/bin/python").symlink_to("/usr/bin/python3")
        # Downloaded packages and index files: not part of an image.
        for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (tree / leftovers).glob("*"):
                if path.is_file():
                    path.unlink()
        tarball.parent.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "-C", str(tree), "-cf", str(partial), "."],
            check=True,
            timeout=300,
        )
        partial.rename(tarball)  # complete or absent, never half-written
    finally:
        unmount_below(
            tree
        )  # debootstrap mounts /proc and /sys in the tree while it works
        shutil.rmtree(tree, ignore_errors=True)
    return tarball


def _machine_settings(context: Path) -> list[str]:
    """Copy the CA bundle and pip configuration into ``context/files``; the ENV lines."""
    files = context / "files"
    files.mkdir()

    def copy_in(path: Path) -> None:
        target = files / path.relative_to("/")
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)

    if CA_BUNDLE.is_file():
        copy_in(CA_BUNDLE)
    for path in PIP_CONFIG_FILES:
        if path.exists():
            copy_in(path.resolve())
    env_lines = []
    for name, value in sorted(os.environ.items()):
        if not (name.startswith(FORWARDED_PREFIXES) or name in FORWARDED_NAMES):
            continue
        if value.startswith("/"):
            if not Path(value).is_file():
                continue  # a directory of this machine (a local wheel cache): not inside
            copy_in(Path(value))
        env_lines.append(f"ENV {name}={value}")
    return env_lines


def build_standin(engine: Engine) -> str:
    """Import the cached tree and add this machine's pip settings; returns the tag."""
    engine.run("import", "-", ROOTFS_TAG, stdin=rootfs_tarball(), timeout=300)
    context = Path(tempfile.mkdtemp(prefix="ftd-standin-", dir="/tmp"))
    try:
        env_lines = _machine_settings(context)
        (context / "Dockerfile").write_text(
            "\n".join([f"FROM {ROOTFS_TAG}", "COPY files/ /", *env_lines]) + "\n",
            encoding="utf-8",
        )
        engine.run("build", "-q", "-t", TAG, str(context), timeout=300)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return TAG
