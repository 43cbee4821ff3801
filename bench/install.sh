#!/usr/bin/env bash
# Installs what the benchmark runs (Debian packages; as root). The packages'
# system services are kept from starting (policy-rc.d exits 101).
set -euo pipefail
if [ ! -x /usr/sbin/policy-rc.d ] || ! grep -q 'exit 101' /usr/sbin/policy-rc.d; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends dnsperf knot knot-dnsutils bind9 bind9-utils bind9-dnsutils nsd iproute2 util-linux time
