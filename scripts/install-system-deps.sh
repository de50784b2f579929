#!/usr/bin/env bash
# Installs the Debian packages that the tests need, idempotently:
#   chromium        headless browser for the end-to-end tests (driven by playwright-core)
#   ripgrep         VS Code's search binary, copied into the provisioned code-server
#   build headers   for compiling code-server's native modules (node-pty, kerberos, spdlog, ...)
# On a machine that has them all it does nothing and returns at once.
set -euo pipefail

packages=(chromium ripgrep libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config)

missing=()
for pkg in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "system deps: all present (${packages[*]})"
  exit 0
fi

echo "system deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
echo "system deps: installed ${missing[*]}"
