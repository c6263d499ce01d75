#!/usr/bin/env bash
# Installs what libmutual needs to build, demo and test, from Debian 12's
# packages only. Runs apt-get only when something is missing.
set -euo pipefail

packages=(
	meson ninja-build pkg-config gcc g++        # build
	libsqlite3-dev libgit2-dev zlib1g-dev libsodium-dev   # the library's dependencies
	libicu-dev                                  # the library's too: device names compared as Unicode (NFKC, case folding, confusables)
	git sqlite3 python3 python3-nacl util-linux mount     # tests: stock git, vectors, bind mounts
	openssh-server openssh-client               # tests: sync over ssh:// to a real sshd
	lighttpd lighttpd-mod-openssl tinyproxy     # tests: an HTTPS hub (git-http-backend, basic auth, a test CA) and a CONNECT proxy
	python3-venv python3-setuptools python3-wheel python3-pip   # the Python binding's install test
	valgrind                                    # the Python binding's leak test
	clang libclang-rt-14-dev                    # libFuzzer harnesses and sanitizer runtimes
	libmicrohttpd-dev tzdata                    # the apps' web front end; time zones for the rota
	libgnutls28-dev openssl                     # the web front end's HTTPS certificate (tls.c); its test checks it with openssl s_client
	iproute2                                    # the web front end's HTTPS test: an address beyond loopback in a private network namespace (ip)
	chromium python3-websocket                  # the web front end's test in a real browser (DevTools protocol)
	fonts-dejavu-core                           # so its screenshots show readable text
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing ${missing[*]}; run as root (or install them) first" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
