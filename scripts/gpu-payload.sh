#!/bin/sh
# Packs what the Node benchmarks need on a machine that has a GPU but no Node and no registry
# (the `device` machine of this workplace): .gpu/ holds this machine's Node (xz), the benchmarks
# bundled by esbuild (run.mjs, llm.mjs) and the two packages they load from disk — webgpu
# (Dawn, linux-x64 only) and chart.js (the report's charts). About 30 MB.
# Run there with scripts/gpu-bench.sh; .gpu/ is git-ignored.
set -eu
cd "$(dirname "$0")/.."
rm -rf .gpu
mkdir -p .gpu/node_modules/webgpu/dist .gpu/node_modules/chart.js/dist
npm run --silent build >/dev/null # the embedded shaders
# CommonJS dependencies call require(): give the ESM bundle one.
banner="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
# Split, so that the browser runner's puppeteer and vite stay behind a dynamic import.
npx esbuild bench/run.ts bench/llm.ts --bundle --splitting --platform=node --format=esm --target=node20 \
  --external:webgpu --external:chart.js --external:puppeteer-core --external:vite \
  --banner:js="$banner" --log-level=warning --outdir=.gpu --out-extension:.js=.mjs
cp node_modules/webgpu/package.json node_modules/webgpu/index.js .gpu/node_modules/webgpu/
cp -r node_modules/webgpu/dist/linux-x64 .gpu/node_modules/webgpu/dist/
xz -T2 -6 .gpu/node_modules/webgpu/dist/linux-x64/dawn.node
cp node_modules/chart.js/package.json .gpu/node_modules/chart.js/
cp node_modules/chart.js/dist/chart.cjs node_modules/chart.js/dist/chart.umd.min.js .gpu/node_modules/chart.js/dist/
xz -T2 -6 -c "$(readlink -f "$(command -v node)")" >.gpu/node.xz
du -sh .gpu
