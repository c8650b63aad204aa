/**
 * `npm run bench:layout`: the measurement behind the stream layout in docs/FORMAT.md.
 * Encodes one matrix at several lane lengths and prices three ways to lay the lane streams out,
 * all from the same lane streams:
 *  - offsets:  each lane's stream contiguous, a u32 start offset per lane (no cross-lane locality);
 *  - striped:  unit j of lane l at base + j·lanes + l, every lane padded to its tile's longest;
 *  - striped + ragged tails (ours): striped up to the tile's shortest lane, tails after, a u16
 *    length per lane.
 * Every variant also pays the frequency table and a u32 initial state per lane.
 */
import { quantize } from '../src/quantize/quantize.js';
import { encodeIndices } from '../src/rans/codec.js';
import { entropyBits, histogram } from '../src/rans/frequencies.js';
import { DEFAULT_PRECISION, tileShape } from '../src/rans/layout.js';
import { gaussianWeights } from './synthetic.js';

const [rows, cols] = (process.argv[2] ?? '4096x4096').split('x').map(Number);
const q = quantize(gaussianWeights(rows * cols, 7), rows, cols);
const h = entropyBits(histogram(q.indices));
const n = rows * cols;
console.log(`${rows}×${cols} Gaussian, affine g64, pair table P = ${DEFAULT_PRECISION}: entropy ${h.toFixed(4)} bits/weight`);
console.log('overhead over entropy (all metadata included):');
console.log('symbols/lane   lanes   offsets   striped   striped+tails (ours)');
for (const spl of [256, 512, 1024, 2048, 4096]) {
  const enc = encodeIndices(q.indices, rows, cols, 64, { symbolsPerLane: spl });
  const g = enc.geometry;
  const common = 32 + 4 * g.lanes;
  let units = 0, padded = 0, lane = 0;
  for (let t = 0; t < g.tiles; t++) {
    const k = tileShape(g, t).lanes;
    let max = 0;
    for (let l = 0; l < k; l++, lane++) { units += enc.laneLengths[lane]; max = Math.max(max, enc.laneLengths[lane]); }
    padded += max * k;
  }
  const pct = (bytes: number) => `${(((bytes * 8) / n / h - 1) * 100).toFixed(2).padStart(6)}%`;
  console.log(`${String(spl).padStart(12)}  ${String(g.lanes).padStart(6)}  ${pct(common + 4 * units + 4 * g.lanes)}  ${pct(common + 4 * padded + 4 * g.tiles)}  ${pct(common + 4 * units + 2 * g.lanes)}`);
}
