#!/usr/bin/env bash
# The Docker test needs dockerd (Debian's docker.io) and debootstrap: install them when missing,
# as .ci/run does for chromium. Needs root (or sudo); without them the test skips outside CI.
set -euo pipefail
missing=()
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "not root and no sudo: cannot install ${missing[*]}" >&2
        exit 0  # the test then says why it skips (or fails, in CI)
    fi
    SUDO="sudo"
fi
echo "Installing ${missing[*]} for the Docker test..."
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
