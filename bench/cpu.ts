/**
 * `npm run bench:cpu`: CPU encode and reference-decode throughput (one core, this process) on
 * LLM-shaped matrices, and the size/quality table: entropy, all-in bits/weight and SQNR.
 */
import { readFileSync } from 'node:fs';
import { llama2cMatrices } from '../src/io/llama2c.js';
import { bundledModel } from '../src/paths.js';
import { compressMatrix, totalStats } from '../src/pipeline.js';
import { quantize } from '../src/quantize/quantize.js';
import { decodeIndices, encodedBytes, encodeIndices } from '../src/rans/codec.js';
import { entropyBits, histogram } from '../src/rans/frequencies.js';
import { gaussianWeights, median } from './synthetic.js';

const REPEATS = 5;
console.log(`CPU reference codec, Node ${process.version}, one thread; median of ${REPEATS} after one warm-up\n`);
console.log('shape          entropy  bits/w  overhead  encode Msym/s  decode Msym/s');
for (const [rows, cols] of [[4096, 4096], [4096, 11008]]) {
  const q = quantize(gaussianWeights(rows * cols, rows + cols), rows, cols);
  const n = rows * cols, out = new Uint8Array(n);
  let enc = encodeIndices(q.indices, rows, cols, q.groupSize);
  decodeIndices(enc, out);
  const te: number[] = [], td: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    let t = performance.now();
    enc = encodeIndices(q.indices, rows, cols, q.groupSize);
    te.push(performance.now() - t);
    t = performance.now();
    decodeIndices(enc, out);
    td.push(performance.now() - t);
  }
  const h = entropyBits(histogram(q.indices)), bpw = (encodedBytes(enc) * 8) / n;
  console.log(`${`${rows}×${cols}`.padEnd(13)}  ${h.toFixed(3)}   ${bpw.toFixed(3)}   ${((bpw / h - 1) * 100).toFixed(2).padStart(5)}%  ${(n / median(te) / 1e3).toFixed(1).padStart(13)}  ${(n / median(td) / 1e3).toFixed(1).padStart(13)}`);
}

console.log('\nstories260K (all 36 matrices), affine quantizer:');
console.log('group  entropy  bits/w  overhead  scale b/w  SQNR dB');
const matrices = llama2cMatrices(new Uint8Array(readFileSync(bundledModel().model)));
for (const groupSize of [32, 64, 128]) {
  const t = totalStats(matrices.map((m) => compressMatrix(m, { groupSize })));
  console.log(`g${String(groupSize).padEnd(5)} ${t.entropyBits.toFixed(3)}    ${t.bitsPerWeight.toFixed(3)}   ${t.overheadPct.toFixed(2).padStart(5)}%      ${t.scaleBitsPerWeight.toFixed(3)}    ${t.sqnrDb!.toFixed(2)}`);
}

// ecsq against the q4 it competes with: all-in bits/weight (indices with every stream byte,
// exception lists, scales or row steps) at the same or given quality.
console.log('\nquantizers, all-in bits/weight (coded indices + exceptions + scales/steps) and SQNR:');
console.log('matrix                 quantizer              all-in b/w  exceptions b/w  SQNR dB');
const gauss = { name: 'gaussian 4096×4096', rows: 4096, cols: 4096, kind: 'float' as const, weights: gaussianWeights(4096 * 4096, 8192) };
const configs: [string, Parameters<typeof compressMatrix>[1]][] = [
  ['affine g64', { groupSize: 64 }], ['affine g32', { groupSize: 32 }],
  ['ecsq match q4-g64', { quantizer: 'ecsq', rate: { match: 'q4-g64' } }], ['ecsq --bits 3.8', { quantizer: 'ecsq', rate: { bits: 3.8 } }],
  ['ecsq --bits 4.5', { quantizer: 'ecsq', rate: { bits: 4.5 } }],
];
for (const [label, options] of configs) {
  for (const [what, stats] of [[gauss.name, compressMatrix(gauss, options).stats], ['stories260K', totalStats(matrices.map((m) => compressMatrix(m, options)))]] as const) {
    console.log(`${what.padEnd(22)} ${label.padEnd(22)} ${(stats.bitsPerWeight + stats.scaleBitsPerWeight).toFixed(3).padStart(10)}  ${stats.exceptionBitsPerWeight.toFixed(3).padStart(11)}  ${stats.sqnrDb!.toFixed(2).padStart(7)}`);
  }
}
