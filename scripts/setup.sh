#!/usr/bin/env bash
# Installs what tern needs to build and test on Debian 12. Idempotent: it only
# calls apt-get when a package is missing, and runs `apt-get update` once then.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev
      liburing-dev libjemalloc-dev libcunit1-dev liburcu-dev libssl-dev libmicrohttpd-dev libjansson-dev libzstd-dev
      dpdk-dev libdpdk-dev
      python3-kazoo zookeeper zookeeper-bin libzookeeper-mt-dev
      python3-pytest python3-pytest-timeout python3-mock python3-objgraph
      python3-eventlet python3-gevent
      netcat-openbsd nftables iproute2 gnuplot-nox procps
      ethtool)  # ethtool: rack.sh --sites turns offloads off for tern-wanem
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	sudo_cmd=""
	[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
	$sudo_cmd apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi
