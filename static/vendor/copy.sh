#!/bin/sh
# Copy the files the pages use out of node_modules ($1) into static/vendor ($2).
# `make assets` runs this after installing the versions listed in PACKAGES from the npm registry.
set -eu
src=$1
dst=$2
mkdir -p "$dst/pico" "$dst/lightweight-charts" "$dst/socket.io" "$dst/swagger-ui"
cp "$src/@picocss/pico/css/pico.min.css" "$src/@picocss/pico/LICENSE.md" "$dst/pico/"
cp "$src/lightweight-charts/dist/lightweight-charts.standalone.production.js" "$src/lightweight-charts/LICENSE" "$dst/lightweight-charts/"
cp "$src/socket.io-client/dist/socket.io.min.js" "$src/socket.io-client/LICENSE" "$dst/socket.io/"
cp "$src/swagger-ui-dist/swagger-ui.css" "$src/swagger-ui-dist/swagger-ui-bundle.js" "$src/swagger-ui-dist/LICENSE" "$dst/swagger-ui/"
