#!/bin/sh
# Make the base image the Docker tests build on, without any image registry: a minimal Debian
# root from Debian's own mirror (debootstrap), Python and a virtualenv on PATH (what
# python:3.11-slim offers), imported with `docker import`. Made once; the daemon keeps it.
#
#   scripts/docker-test-base.sh [TAG]      (default mloop-test-base:py3.11; needs root)
set -eu
TAG="${1:-mloop-test-base:py3.11}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "$TAG exists"
    exit 0
fi
command -v debootstrap >/dev/null || apt-get install -y -q debootstrap
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOT" "$MIRROR"
chroot "$ROOT" python3 -m venv /opt/venv
# The host's certificate authorities, so that pip in the image trusts the same network.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
rm -rf "$ROOT/var/cache/apt/archives"/*.deb "$ROOT/var/lib/apt/lists"/*
tar -C "$ROOT" -c . | docker import \
    --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' - "$TAG"
echo "made $TAG"
