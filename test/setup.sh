#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (run as root), then the npm packages.
# Tests start their own servers (redis-server, ...) on free loopback ports, so nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The eBPF collector (collector-native): its build packages, and what its tests drive (ip netns, curl,
  # python3 -m http.server, unshare), gcc for the security tests' builds and the "miner" they compile, and
  # Chromium for the web UI tests (test/ui, driven headless through playwright-core).
  apt-get install -y -qq --no-install-recommends redis-server docker-compose prometheus-alertmanager \
    clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make pkg-config libcurl4-openssl-dev iproute2 curl \
    python3 util-linux gcc libc6-dev chromium >/dev/null
  # Debian starts a system redis on 6379; the tests use their own instances.
  # Java 17 and Maven build the Neo4j test launcher; most images have them, install them where missing.
  command -v mvn >/dev/null && command -v java >/dev/null || apt-get install -y -qq --no-install-recommends maven openjdk-17-jdk-headless >/dev/null
  for svc in redis-server prometheus-alertmanager; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
  done
else
  echo "not root: skipping apt-get (need: redis-server docker-compose prometheus-alertmanager clang llvm libbpf-dev" \
    "bpftool libelf-dev zlib1g-dev make pkg-config libcurl4-openssl-dev iproute2 curl python3 util-linux gcc libc6-dev chromium)" >&2
fi

# `npm ci` refuses this lock: chdb lists macOS and arm64 builds the registry here does not serve (404), so
# they cannot be recorded; `npm install` skips the missing optional packages and keeps the lock otherwise.
npm install --no-audit --no-fund --loglevel=error
# The eBPF collector; its tests (test/collector) run it as root. The tests run `make` again, which is quick then.
if [ "$(id -u)" = 0 ] || command -v clang >/dev/null; then
  make -C collector-native
else
  echo "not root and no clang: skipping the collector build (make -C collector-native)" >&2
fi
# A real Neo4j 5 for the topology contract suite: a small launcher built from Maven Central artifacts.
bash test/neo4j/build.sh
ROOTLINE_TOKENS=compose-check docker-compose config -q
echo "setup done"
