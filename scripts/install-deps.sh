#!/usr/bin/env bash
# Installs what eseg's demo, tests, interop and benchmarks need on a fresh Debian machine (as root).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

packages=(
  iproute2 nftables iputils-ping iperf3 tcpdump procps
  strongswan-charon strongswan-swanctl libcharon-extra-plugins
  libstrongswan-standard-plugins libstrongswan-extra-plugins
  tinyproxy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts no daemons here, but make sure the packaged ones are not running in the root
# namespace: the lab starts its own instances inside namespaces. Only root-namespace instances are
# stopped: a plain `pkill -x charon` also killed the charons of tests and of a running eseg-bench.
root_netns=$(readlink /proc/self/ns/net)
for pid in $(pgrep -x 'tinyproxy|charon' || true); do
  if [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$root_netns" ]; then
    kill "$pid" 2>/dev/null || true
  fi
done

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
