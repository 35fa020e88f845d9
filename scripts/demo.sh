#!/usr/bin/env bash
# The main job: a working tunnel on built-in defaults, in a lab of network namespaces.
#
# Builds eseg-gateway, eseg-client and the demo program (release), then runs the demo as root: it
# builds a lab (client -- gateway -- core, each in its own network namespace), starts the gateway
# and the client on their built-in defaults, shows the tunnel up, pings and transfers through it
# in both directions (including a connection the core opens towards the client), measures plain
# veth next to it, prints a summary and removes everything it created. Nothing is added to the
# root network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (network namespaces and TUN devices): sudo $0" >&2
  exit 1
fi

bash scripts/install-deps.sh

echo "==> building (release)"
cargo build --release --locked -p eseg-gateway -p eseg-client -p eseg-tests --bin eseg-gateway \
  --bin eseg-client --bin eseg-demo

exec "${CARGO_TARGET_DIR:-target}/release/eseg-demo"
