#!/bin/sh
# install-deps.sh - installs the Debian 12 packages r1 builds and tests with.
# Idempotent: installs only what is missing. Uses sudo when not root.
set -eu

PACKAGES="build-essential cmake pkg-config libcmocka-dev libjansson-dev python3 clang-14 libclang-rt-14-dev valgrind libpcre2-dev libutf8proc-dev libmicrohttpd-dev libinih-dev curl libcurl4-openssl-dev libcjose-dev libsqlite3-dev libssl-dev openssl libgnutls28-dev prometheus haproxy nginx libnginx-mod-stream rsync libsndfile1-dev libvorbis-dev libogg-dev libseccomp-dev libsamplerate0-dev libkissfft-dev libespeak-ng-dev espeak-ng-data portaudio19-dev libasound2-dev sox chromium"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
