#!/usr/bin/env bash
# Installs what l7tap needs to build, run and test. Idempotent: a no-op in seconds when all is present.
# Usage: scripts/deps.sh [PREFIX_DIR]   (PREFIX_DIR receives what Debian bookworm lacks: prometheus-cpp, newer Go
# toolchains; default build/deps)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$here/build/deps}

# civetweb and libcurl: prometheus-cpp's CMake config asks for them (its pull and push libraries), though
# l7tap links its core only; libmicrohttpd serves the endpoint.
debian_packages=(
  clang llvm libclang-rt-14-dev bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev libzstd-dev
  cmake make pkg-config g++ libgtest-dev libgmock-dev libbenchmark-dev
  node-llhttp civetweb libcivetweb-dev libcurl4-openssl-dev
  curl python3 iproute2 nginx-light openssl qemu-system-x86 busybox-static
  libcapstone-dev golang-1.19-go libldns-dev dnsmasq-base bind9-dnsutils wrk gnuplot-nox musl-tools
  libnghttp2-dev nghttp2-client python3-grpcio golang-google-grpc-dev golang-golang-x-net-dev
  libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libncurses-dev libcrypt-dev prometheus tmux libcap2-bin
  systemd util-linux libmicrohttpd-dev python3-yaml
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

# Go toolchains for the Go fixtures beyond bookworm's 1.19: bookworm-backports' 1.21, 1.22 and 1.23, unpacked
# (never installed) into $prefix/go. Each runs from there with GOROOT=$prefix/go/usr/lib/go-1.2x (the
# fixtures' CMake sets it); its src/ is a relative link into the golang-1.2x-src package unpacked beside it.
go_versions=(1.21 1.22 1.23)
go_missing=()
for v in "${go_versions[@]}"; do
  [ -x "$prefix/go/usr/lib/go-$v/bin/go" ] && [ -f "$prefix/go/usr/share/go-$v/src/runtime/symtab.go" ] ||
    go_missing+=("$v")
done
if [ ${#go_missing[@]} -gt 0 ]; then
  go_tmp=$(mktemp -d)
  trap 'rm -rf "$go_tmp"' EXIT
  echo "deps: fetching Go ${go_missing[*]} (bookworm-backports) into $prefix/go"
  # shellcheck source=scripts/apt_suite.sh
  source "$here/scripts/apt_suite.sh"
  apt_suite "$go_tmp" bookworm-backports
  go_debs=()
  for v in "${go_missing[@]}"; do go_debs+=("golang-$v-go" "golang-$v-src"); done
  (cd "$go_tmp" && apt-get "${apt_opts[@]}" download -qq "${go_debs[@]}")
  mkdir -p "$prefix/go"
  for deb in "$go_tmp"/*.deb; do dpkg -x "$deb" "$prefix/go"; done
  rm -rf "$go_tmp"
  trap - EXIT
  for v in "${go_missing[@]}"; do
    GOROOT="$prefix/go/usr/lib/go-$v" GOTOOLCHAIN=local "$prefix/go/usr/lib/go-$v/bin/go" version
  done
fi

# prometheus-cpp is not packaged for bookworm; trixie's binary packages work on it. They are unpacked into
# a prefix inside the build tree (never installed system-wide) and found by CMake through CMAKE_PREFIX_PATH.
if [ -f /usr/lib/x86_64-linux-gnu/cmake/prometheus-cpp/prometheus-cpp-config.cmake ]; then
  exit 0 # a system package exists: prefer it
fi
if [ -f "$prefix/usr/lib/x86_64-linux-gnu/cmake/prometheus-cpp/prometheus-cpp-config.cmake" ]; then
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "deps: fetching prometheus-cpp (trixie) into $prefix"
# shellcheck source=scripts/apt_suite.sh
source "$here/scripts/apt_suite.sh"
apt_suite "$tmp" trixie
(cd "$tmp" && apt-get "${apt_opts[@]}" download -qq \
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0 prometheus-cpp-dev)
mkdir -p "$prefix"
for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$prefix"; done
echo "deps: prometheus-cpp ready in $prefix"
