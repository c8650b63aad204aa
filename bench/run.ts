/**
 * `npm run bench`: the benchmark suite end to end. Builds the page with vite, serves it on
 * 127.0.0.1, runs it in headless Chrome through puppeteer (or, with `--runtime node`, runs the
 * same suite through Dawn in Node), then writes bench-results/<date>-<device>.json, an HTML
 * report and a calibration file, and prints a summary table.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { llama2cMatrices } from '../src/io/llama2c.js';
import { DEFAULT_SYMBOLS_PER_LANE, TARGET_LANES_PER_TILE } from '../src/rans/layout.js';
import { bundledModel, packageRoot } from '../src/paths.js';
import { parseShapes, preset, type PresetName } from './presets.js';
import { renderReport } from './report.js';
import { checkCalibration, type Calibration } from '../src/gpu/auto.js';
import { assembleResult, mergeCalibration, type BenchResult } from './result.js';
import { runSuite, type Shape, type ShapeResult, type Spread, type SuiteConfig } from './suite.js';
import { quantizerSweep } from './sweep.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('not a positive integer');
  return n;
};

interface Options {
  runtime: 'browser' | 'node';
  preset?: PresetName;
  shapes?: string;
  group?: number;
  iterations?: number;
  vectors?: number;
  laneSymbols?: number;
  tileLanes?: number;
  peakGbps?: number;
  out: string;
  software?: boolean;
}

/** The preset's real stories260K matrices, as shapes with weights. */
function storiesShapes(names: string[]): Shape[] {
  const all = llama2cMatrices(new Uint8Array(readFileSync(bundledModel().model)));
  return names.map((n) => {
    const m = all.find((x) => x.name === n);
    if (!m || m.kind !== 'float') throw new Error(`stories260K has no float matrix ${n}`);
    return { name: `stories260K ${n}`, rows: m.rows, cols: m.cols, weights: Array.from(m.weights) };
  });
}

function suiteConfig(o: Options, software: boolean): { name: string; config: SuiteConfig } {
  const name = o.preset ?? (software ? 'quick' : 'full');
  const p = preset(name);
  const shapes = o.shapes ? parseShapes(o.shapes) : [...p.shapes, ...storiesShapes(p.stories)];
  return {
    name: o.shapes ? `${name} (custom shapes)` : name,
    config: { ...p.config, groupSize: o.group ?? p.config.groupSize, iterations: o.iterations ?? p.config.iterations, vectors: o.vectors ?? p.config.vectors, layout: { symbolsPerLane: o.laneSymbols, lanesPerTile: o.tileLanes }, shapes },
  };
}

const progress = (line: string) => process.stderr.write(`  … ${line}\n`);

async function runInNode(o: Options) {
  const { requestNodeDevice } = await import('../src/node/device.js');
  const nd = await requestNodeDevice();
  const software = o.software || nd.software;
  const { name, config } = suiteConfig(o, software);
  console.error(`Node + Dawn on ${nd.description}${software ? ' — software (SwiftShader)' : ''}; preset ${name}`);
  const cpuClock = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  const results = await runSuite(nd.device, config, progress, cpuClock);
  const features = [...nd.device.features];
  nd.device.destroy();
  return { description: nd.description, software, features, name, config, results };
}

async function runInBrowser(o: Options) {
  // Loaded here so that `--runtime node` needs neither puppeteer nor vite.
  const { findChrome, openWebGpuPage, servePages } = await import('./browser.js');
  findChrome(); // fail before building anything when there is no browser
  const root = packageRoot();
  const { url, server } = await servePages(root, ['bench/page/index.html'], mkdtempSync(join(tmpdir(), 'rans-gemv-bench-')));
  try {
    const open = await openWebGpuPage(`${url}/bench/page/index.html`, { software: o.software });
    try {
      const software = open.software;
      const { name, config } = suiteConfig(o, software);
      console.error(`Chrome (headless) on ${open.adapter}${software ? ' — software (SwiftShader)' : ''}; preset ${name}; page ${url}`);
      open.page.on('console', (m) => { if (m.text().startsWith('[bench] ')) progress(m.text().slice(8)); });
      await open.page.waitForFunction(() => (window as unknown as { benchReady?: boolean }).benchReady === true);
      const out = await open.page.evaluate((c) => window.runBench(c), config as SuiteConfig) as { adapter: string; features: string[]; results: ShapeResult[] };
      return { description: out.adapter, software, features: out.features, name, config, results: out.results };
    } finally {
      await open.browser.close();
    }
  } finally {
    await new Promise<void>((r) => server.httpServer.close(() => r()));
  }
}

/** The calibration file already written for this device, or null (none, or unreadable: said on stderr). */
function readCalibration(file: string): Calibration | null {
  if (!existsSync(file)) return null;
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Calibration;
    checkCalibration(c);
    return c;
  } catch (e) {
    console.error(`bench: replacing ${file}, which does not read as a calibration (${(e as Error).message})`);
    return null;
  }
}

function summary(r: BenchResult): string {
  const ratio = (x: Spread | null) => (x ? `${x.median.toFixed(2)} (${x.min.toFixed(2)}–${x.max.toFixed(2)})` : '–');
  const lines = [`\n${r.device.label} — ${r.runtime}, preset ${r.preset}`, `${'shape'.padEnd(28)} ${'kernel'.padEnd(15)} ${'median ms'.padStart(10)} ${'cpu ms'.padStart(9)} ${'rec µs'.padStart(7)} ${'GB/s'.padStart(7)}  ${'/dense (round min–max)'.padEnd(22)} ${'/q4 (round min–max)'.padEnd(20)} verified`];
  for (const s of r.shapes) {
    for (const k of s.kernels) {
      lines.push(`${s.name.padEnd(28)} ${k.kernel.padEnd(15)} ${(k.medianMs?.toFixed(3) ?? '–').padStart(10)} ${(k.cpuMedianMs?.toFixed(1) ?? '–').padStart(9)} ${(k.recordUs?.toFixed(1) ?? '–').padStart(7)} ${(k.gbps?.toFixed(2) ?? '–').padStart(7)}  ${ratio(k.vsDense).padEnd(22)} ${ratio(k.vsQ4).padEnd(20)} ${k.skipped ? 'skipped' : k.verified ? 'yes' : 'NO'}`);
    }
    lines.push(`${''.padEnd(28)} bits/w ${s.bitsPerWeight.toFixed(3)} (+${s.scaleBitsPerWeight.toFixed(3)} scales), SQNR ${s.sqnrDb.toFixed(2)} dB; fused/q4 ${s.fusedOverQ4?.toFixed(2) ?? '–'}, decode/q4 ${s.decodeOverQ4?.toFixed(2) ?? '–'}; ${s.verdict}`);
    if (s.ecsq) lines.push(`${''.padEnd(28)} ecsq at that SQNR: ${s.ecsq.bitsPerWeight.toFixed(3)} bits/w all-in (exception lists ${s.ecsq.exceptionBitsPerWeight.toFixed(3)}), SQNR ${s.ecsq.sqnrDb.toFixed(2)} dB; fused-ecsq/fused ${s.ecsqOverFused?.toFixed(2) ?? '–'} per round`);
  }
  lines.push('projected 8B tokens/s: ' + r.projections.map((p) => `${p.kernel} ${p.tokensPerSec?.toPrecision(3) ?? '–'}${p.extrapolated ? '*' : ''}`).join(', ') + ' (* extrapolated)');
  return lines.join('\n');
}

const program = new Command('bench')
  .description('rans-gemv benchmark: dense f32, plain q4, fused rANS, decode-only and decode-then-q4 side by side')
  .addOption(new Option('--runtime <runtime>', 'where the kernels run').choices(['browser', 'node']).default('browser'))
  .addOption(new Option('--preset <name>', 'shape set (default: quick without a GPU, full with one)').choices(['tiny', 'quick', 'full']))
  .option('--shapes <list>', 'custom shapes, e.g. 4096x4096,1024x4096')
  .option('--group <n>', 'quantization group size', int)
  .option('--iterations <n>', 'timed rounds (each round times every kernel once, interleaved)', int)
  .option('--vectors <n>', 'activation vectors per product (1: token generation; up to 8: a batch)', int)
  .option('--lane-symbols <n>', `stream layout: target weights per lane (default ${DEFAULT_SYMBOLS_PER_LANE})`, int)
  .option('--tile-lanes <n>', `stream layout: lanes per tile, one workgroup (default ${TARGET_LANES_PER_TILE})`, int)
  .option('--peak-gbps <n>', 'the device\'s peak DRAM bandwidth, GB/s', int)
  .option('--software', 'force SwiftShader')
  .option('--out <dir>', 'where results go', 'bench-results')
  .action(async (o: Options) => {
    const run = o.runtime === 'node' ? await runInNode(o) : await runInBrowser(o);
    const { config: { shapes: _, ...config } } = run;
    const result = assembleResult({
      runtime: o.runtime, preset: run.name, description: run.description, software: run.software, features: run.features,
      config, results: run.results, sweep: await quantizerSweep(), peakGbps: o.peakGbps,
    });
    const slug = result.device.label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'device';
    const stamp = result.date.replace(/[:]/g, '-').replace(/\..*/, '');
    const dir = resolve(o.out);
    mkdirSync(dir, { recursive: true });
    const base = join(dir, `${stamp}-${slug}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(`${base}.html`, renderReport(result));
    const calibrationFile = join(dir, `calibration-${slug}.json`);
    writeFileSync(calibrationFile, `${JSON.stringify(mergeCalibration(readCalibration(calibrationFile), result.calibration), null, 2)}\n`);
    console.log(summary(result));
    console.log(`\nwrote ${base}.json, ${base}.html and ${calibrationFile} (merged with the shapes it had)`);
    if (result.shapes.some((s) => s.kernels.some((k) => !k.verified && !k.skipped))) {
      console.error('some kernels did not match the CPU reference: their timings were not taken');
      process.exitCode = 1;
    }
  });

try {
  await program.parseAsync();
} catch (e) {
  if (!(e instanceof Error) || e.name !== 'BrowserNotFoundError') throw e;
  console.error(`bench: ${e.message} (or run the suite in Node with --runtime node)`);
  process.exitCode = 2;
}
