/**
 * `npm run bench:encode`: encodes and verifies a real-size model file on this machine and reports
 * wall time, weights/s and peak RSS for each command, plus a per-stage breakdown (single thread).
 *
 * The model is a seeded synthetic F16 safetensors with Llama-7B shapes (embedding, `--layers`
 * transformer layers, lm_head), written once to `--file` (default in the OS temp directory):
 * 5 layers make 1.27 G weights, 2.54 GB, so every 32-bit size limit is crossed. Encode and verify
 * each run in a fresh Node process (`--child`) so peak RSS is theirs alone.
 *
 * Then it verifies a checksum-valid container that claims 2^32 weights of one constant in ≈ 1.6 MB
 * (`--huge-rows`, rows of 65,536): verify must stream it without allocating what it claims.
 *
 *   npm run bench:encode -- [--layers 5] [--jobs N] [--file path] [--keep] [--huge-rows 65536] [--json out.json]
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { constantContainer } from './synthetic.js';
import { indexChecksum, openContainer, verifyTensor } from '../src/container/container.js';
import { safetensorsHeader } from '../src/io/safetensors.js';
import { openModel } from '../src/io/formats.js';
import { floatRows, rowBytes } from '../src/io/model.js';
import { fileSource } from '../src/node/file.js';
import { encodeModelFile } from '../src/node/encode.js';
import { f16Round } from '../src/quantize/half.js';
import { MatrixQuantizer } from '../src/quantize/quantize.js';
import { encodeIndices } from '../src/rans/codec.js';
import { DEFAULT_CHUNK_BYTES } from '../src/pipeline.js';

const DIM = 4096, HIDDEN = 11008, VOCAB = 32000;

/** Llama-7B tensor list (F16), embedding first and lm_head last, with norms (1-D, listed as skipped). */
function llamaTensors(layers: number): { name: string; dtype: string; shape: number[]; length: number; sigma: number }[] {
  const t = (name: string, shape: number[], sigma: number) => ({ name, dtype: 'F16', shape, length: 2 * shape.reduce((a, b) => a * b, 1), sigma });
  const out = [t('model.embed_tokens.weight', [VOCAB, DIM], 0.02)];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    out.push(t(`${p}.input_layernorm.weight`, [DIM], 0.1));
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) out.push(t(`${p}.self_attn.${n}.weight`, [DIM, DIM], 0.02));
    out.push(t(`${p}.post_attention_layernorm.weight`, [DIM], 0.1));
    out.push(t(`${p}.mlp.gate_proj.weight`, [HIDDEN, DIM], 0.02), t(`${p}.mlp.up_proj.weight`, [HIDDEN, DIM], 0.02), t(`${p}.mlp.down_proj.weight`, [DIM, HIDDEN], 0.012));
  }
  out.push(t('model.norm.weight', [DIM], 0.1), t('lm_head.weight', [VOCAB, DIM], 0.02));
  return out;
}

/**
 * Writes the synthetic model: F16 Gaussian weights from a table of the 65,536 Gaussian quantiles
 * (as f16 patterns) indexed by a seeded xorshift, so 2.5 GB take seconds, not minutes.
 */
function writeModel(path: string, layers: number): void {
  const tensors = llamaTensors(layers);
  const { header } = safetensorsHeader(tensors);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
    const block = new Uint16Array(1 << 22);
    let s = 0x9e3779b9;
    for (const t of tensors) {
      // Inverse normal CDF by bisection is slow, so quantiles come from the Box–Muller pairs of a
      // sorted sample: accurate enough for a benchmark's weight statistics.
      const quantiles = new Uint16Array(65536);
      const sample = new Float64Array(65536);
      for (let i = 0; i < 65536; i += 2) {
        const u = (i + 1) / 65538, v = ((i * 0.618034) % 1);
        const r = Math.sqrt(-2 * Math.log(u));
        sample[i] = r * Math.cos(2 * Math.PI * v); sample[i + 1] = r * Math.sin(2 * Math.PI * v);
      }
      sample.sort();
      for (let i = 0; i < 65536; i++) quantiles[i] = f16Round(t.shape.length === 1 ? 1 + t.sigma * sample[i] : t.sigma * sample[i]);
      let left = t.length / 2;
      while (left > 0) {
        const n = Math.min(block.length, left);
        for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; block[i] = quantiles[s & 0xffff]; }
        writeSync(fd, new Uint8Array(block.buffer, 0, 2 * n));
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Child mode: run one command in this fresh process and print its figures as JSON. */
async function child(command: string, file: string, output: string, jobs: number): Promise<void> {
  const start = performance.now();
  let weights = 0, extra: Record<string, unknown> = {};
  if (command === 'encode') {
    const r = await encodeModelFile(file, output, { groupSize: 64, jobs });
    weights = r.results.reduce((n, t) => n + t.stats.rows * t.stats.cols, 0);
    extra = { bytes: r.bytes, tensors: r.results.length, skipped: r.skipped.length };
  } else {
    const source = fileSource(file);
    const c = await openContainer(source);
    for (let i = 0; i < c.index.tensors.length; i++) { const t = await c.readTensor(i); verifyTensor(t); weights += t.header.rows * t.header.cols; }
    await source.close?.();
  }
  const ms = performance.now() - start;
  process.stdout.write(JSON.stringify({ command, weights, ms, weightsPerSec: weights / (ms / 1000), maxRssBytes: process.resourceUsage().maxRSS * 1024, ...extra }));
}

/** Per-stage throughput on one down_proj-shaped tensor, single thread, warm (second of two runs), weights/s. */
async function stages(file: string): Promise<Record<string, number>> {
  await stagesOnce(file);
  return stagesOnce(file);
}

async function stagesOnce(file: string): Promise<Record<string, number>> {
  const source = fileSource(file);
  const reader = await openModel(source);
  const e = reader.matrices.find((m) => m.name.endsWith('down_proj.weight'))!;
  if (e.kind !== 'float') throw new Error('unexpected entry');
  const n = e.rows * e.cols;
  const rate = (ms: number) => n / (ms / 1000);
  // As the encoder does it: 8 MB blocks of rows into reused buffers (no allocation timed).
  const bytesPerRow = rowBytes(e), rowsPerBlock = Math.floor(DEFAULT_CHUNK_BYTES / bytesPerRow);
  const raw = new Uint8Array(rowsPerBlock * bytesPerRow), block = new Float32Array(rowsPerBlock * e.cols);
  const mq = new MatrixQuantizer(e.rows, e.cols, { groupSize: 64 });
  let read = 0, convert = 0, quantize = 0;
  for (let r = 0; r < e.rows; r += rowsPerBlock) {
    const k = Math.min(rowsPerBlock, e.rows - r);
    let t = performance.now();
    const bytes = await source.readInto!(e.data.offset + r * bytesPerRow, raw.subarray(0, k * bytesPerRow));
    read += performance.now() - t;
    t = performance.now();
    const w = floatRows(bytes, e.dtype, block);
    convert += performance.now() - t;
    t = performance.now();
    mq.addRows(w);
    quantize += performance.now() - t;
  }
  const q = mq.result();
  let t = performance.now();
  encodeIndices(q.indices, e.rows, e.cols, 64);
  const encode = performance.now() - t;
  t = performance.now();
  indexChecksum(q.indices, e.rows, e.cols);
  const checksum = performance.now() - t;
  await source.close?.();
  return { read: rate(read), f16ToF32: rate(convert), quantize: rate(quantize), rans: rate(encode), indexChecksum: rate(checksum) };
}

const program = new Command('bench:encode')
  .option('--layers <n>', 'transformer layers (5 → 1.27 G weights, 2.54 GB)', (v) => Number(v), 5)
  .option('--jobs <n>', 'worker threads for encode (default: one per core)', (v) => Number(v), availableParallelism())
  .option('--file <path>', 'where the synthetic model is written (reused when its size matches)')
  .option('--keep', 'keep the model and container files')
  .option('--huge-rows <n>', 'rows of 65,536 weights in the constant container verify must stream (0: skip)', (v) => Number(v), 65536)
  .option('--json <path>', 'also write the figures as JSON')
  .option('--child <command>', 'internal: run encode or verify in this process')
  .option('--output <path>', 'internal: container path')
  .parse();
const o = program.opts();

if (o.child) {
  await child(o.child, o.file, o.output, o.jobs);
} else {
  const file = o.file ?? join(tmpdir(), `rans-gemv-bench-llama7b-${o.layers}L.safetensors`);
  const output = `${file}.rgmv`;
  const tensors = llamaTensors(o.layers);
  const expected = safetensorsHeader(tensors).header.length + tensors.reduce((n, t) => n + t.length, 0);
  if (!existsSync(file) || statSync(file).size !== expected) {
    console.error(`writing ${file} (${(expected / 1e9).toFixed(2)} GB of F16)…`);
    const t = performance.now();
    writeModel(file, o.layers);
    console.error(`  ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const self = fileURLToPath(import.meta.url);
  const run = (command: string) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', command, '--file', command === 'encode' ? file : output, '--output', output, '--jobs', String(o.jobs)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  console.error('encode…');
  const encode = run('encode');
  console.error('verify…');
  const verify = run('verify');
  let huge: Record<string, number> | null = null;
  if (o.hugeRows > 0) {
    console.error('huge constant container…');
    const hugeFile = `${file}.constant.rgmv`;
    writeFileSync(hugeFile, await constantContainer(o.hugeRows));
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', 'verify', '--file', hugeFile, '--output', hugeFile], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`verify of the constant container failed: ${r.stderr}`);
    huge = { ...JSON.parse(r.stdout), fileBytes: statSync(hugeFile).size };
    rmSync(hugeFile, { force: true });
  }
  console.error('stages…');
  const stage = await stages(file);
  const result = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    model: { file, bytes: expected, layers: o.layers }, jobs: o.jobs, encode, verify, verifyConstant: huge, stagesWeightsPerSec: stage,
  };
  const m = (x: number) => `${(x / 1e6).toFixed(1)} M`;
  console.log(`model: ${(expected / 1e9).toFixed(2)} GB F16, ${m(encode.weights)} weights, ${encode.tensors} matrices (${encode.skipped} 1-D tensors skipped); ${result.machine.cpus} cores, jobs ${o.jobs}`);
  console.log(`encode: ${(encode.ms / 1000).toFixed(1)} s, ${m(encode.weightsPerSec)} weights/s, peak RSS ${(encode.maxRssBytes / 1e9).toFixed(2)} GB, container ${(encode.bytes / 1e9).toFixed(3)} GB`);
  console.log(`verify: ${(verify.ms / 1000).toFixed(1)} s, ${m(verify.weightsPerSec)} weights/s, peak RSS ${(verify.maxRssBytes / 1e9).toFixed(2)} GB`);
  if (huge) console.log(`verify of a ${(huge.fileBytes / 1e6).toFixed(1)} MB container claiming ${m(huge.weights)} weights (one constant): ${(huge.ms / 1000).toFixed(1)} s, ${m(huge.weightsPerSec)} weights/s, peak RSS ${(huge.maxRssBytes / 1e9).toFixed(2)} GB`);
  console.log(`stages (one ${HIDDEN}×${DIM} tensor, one thread), weights/s: ${Object.entries(stage).map(([k, v]) => `${k} ${m(v)}`).join(', ')}`);
  if (o.json) writeFileSync(o.json, `${JSON.stringify(result, null, 2)}\n`);
  if (!o.keep) { rmSync(output, { force: true }); if (!o.file) rmSync(file, { force: true }); }
}
