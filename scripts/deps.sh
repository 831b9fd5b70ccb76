#!/usr/bin/env bash
# Installs what l7tap needs to build, run and test. Idempotent: a no-op in seconds when all is present.
# Usage: scripts/deps.sh [PREFIX_DIR]   (PREFIX_DIR receives prometheus-cpp; default build/deps)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$here/build/deps}

debian_packages=(
  clang llvm bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev libzstd-dev
  cmake make pkg-config g++ libgtest-dev libgmock-dev libbenchmark-dev
  node-llhttp civetweb libcivetweb-dev libcurl4-openssl-dev
  curl python3 iproute2 nginx-light openssl
)

missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  as_root apt-get update -qq
  # Packages such as nginx start a system service when installed; tests run their own instances instead.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    trap 'as_root rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  as_root rm -f "$policy"
  trap - EXIT
fi

# prometheus-cpp is not packaged for bookworm; trixie's binary packages work on it. They are unpacked into
# a prefix inside the build tree (never installed system-wide) and found by CMake through CMAKE_PREFIX_PATH.
if [ -f /usr/lib/x86_64-linux-gnu/cmake/prometheus-cpp/prometheus-cpp-config.cmake ]; then
  exit 0 # a system package exists: prefer it
fi
if [ -f "$prefix/usr/lib/x86_64-linux-gnu/cmake/prometheus-cpp/prometheus-cpp-config.cmake" ]; then
  exit 0
fi

# The Debian mirror this machine already uses, read from its apt sources.
mirror=$(
  { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true
    grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } |
    grep -v security | head -n 1 || true
)
if [ -z "$mirror" ]; then
  echo "deps: cannot find a Debian mirror in /etc/apt/sources.list*; add one and retry" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/sources.list.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$tmp/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/sources.list.d"
  -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
echo "deps: fetching prometheus-cpp (trixie) into $prefix"
apt-get "${apt_opts[@]}" update -qq
(cd "$tmp" && apt-get "${apt_opts[@]}" download -qq \
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0 prometheus-cpp-dev)
mkdir -p "$prefix"
for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$prefix"; done
echo "deps: prometheus-cpp ready in $prefix"
