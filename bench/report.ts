/**
 * The self-contained HTML report: tables, verdicts and six charts (Chart.js inlined, data
 * inlined), so the file opens from disk with no network.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { BenchResult } from './result.js';
import type { Spread } from './suite.js';
import { SWEEP_EVAL, SWEEP_GAUSSIAN } from './sweep.js';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const num = (v: number | null | undefined, digits = 2) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const sci = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toExponential(2));

function chartJsSource(): string {
  // The UMD build (not in chart.js's exports map) sits beside its CommonJS entry.
  const require = createRequire(import.meta.url);
  return readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
}

/** Renders the report for one benchmark run. */
export function renderReport(r: BenchResult): string {
  const label = r.device.label;
  const rows = r.shapes.map((s) => {
    const ratio = (x: Spread | null) => (x ? `${num(x.median)} (${num(x.min)} – ${num(x.max)})` : '–');
    const ecsq = s.ecsq ? `<p>ecsq on the same weights (at affine q4's SQNR): ${num(s.ecsq.bitsPerWeight, 3)} bits/weight all-in (exception lists ${num(s.ecsq.exceptionBitsPerWeight, 3)}) vs ${num(s.bitsPerWeight + s.scaleBitsPerWeight, 3)} · SQNR ${num(s.ecsq.sqnrDb)} dB · fused-ecsq / fused, per round: ${num(s.ecsqOverFused)}</p>` : '';
    const kernels = s.kernels.map((k) => `<tr><td>${k.kernel}</td><td>${num(k.medianMs, 3)}</td><td>${num(k.p10Ms, 3)} – ${num(k.p90Ms, 3)}</td><td>${k.timingSource ?? '–'}</td><td>${num(k.cpuMedianMs, 1)}</td><td>${num(k.recordUs, 1)}</td><td>${ratio(k.vsDense)}</td><td>${ratio(k.vsQ4)}</td><td>${num(k.gbps)}</td><td>${num(k.pctOfPeak, 1)}</td><td>${k.skipped ? esc(k.skipped) : k.verified ? `yes (${sci(k.maxRelErr)})` : 'NO'}</td></tr>`).join('');
    return `<h3>${esc(s.name)} <small>${s.rows}×${s.cols}</small></h3>
<p>entropy ${num(s.entropyBits, 3)} bits · coded ${num(s.bitsPerWeight, 3)} bits/weight + ${num(s.scaleBitsPerWeight, 3)} scale bits · SQNR ${num(s.sqnrDb)} dB ·
decode ${sci(s.decodeSymbolsPerSec)} symbols/s vs needed ${sci(s.neededSymbolsPerSec)} (${esc(s.neededRateBasis)}) · fused/q4 ${num(s.fusedOverQ4)} · decode/q4 ${num(s.decodeOverQ4)}</p>
${ecsq}<p class="verdict">${esc(s.verdict)}</p>
<table><tr><th>kernel</th><th>median ms</th><th>p10 – p90 ms</th><th>timer</th><th>CPU ms</th><th>record µs</th><th>÷ dense f32, per round: median (min – max)</th><th>÷ q4, per round</th><th>GB/s</th><th>% of peak</th><th>verified vs CPU</th></tr>${kernels}</table>`;
  }).join('\n');
  const proj = r.projections.map((p) => `<tr><td>${p.kernel}</td><td>${p.tokensPerSec === null ? '–' : p.tokensPerSec.toPrecision(3)}</td><td>${p.extrapolated ? 'extrapolated from the largest measured shape' : 'measured shapes'}</td></tr>`).join('');
  const sweep = r.sweep.map((p) => `<tr><td>${esc(p.label)}</td><td>${num(p.sqnrDb)}</td><td>${num(p.entropyBits, 3)}</td><td>${num(p.q4BytesPerWeight, 4)}</td><td>${num(p.ransBytesPerWeight, 4)}</td><td>${num(8 * p.ransBytesPerWeight, 3)}</td><td>${num(p.klDivergence, 4)}</td><td>${num(p.gaussian?.bitsPerWeight, 3)}</td><td>${num(p.gaussian?.sqnrDb)}</td></tr>`).join('');
  const data = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rans-gemv benchmark — ${esc(label)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.verdict{font-weight:600}.software{background:#fff3cd;padding:.5em 1em;border:1px solid #e0c060}
.chart{position:relative;height:360px;margin:1em 0 2em}
</style></head><body>
<h1>rans-gemv benchmark</h1>
<p><b>Device:</b> ${esc(r.device.description)} · <b>runtime:</b> ${r.runtime} · <b>preset:</b> ${esc(r.preset)} · ${esc(r.date)}<br>
<b>peak bandwidth:</b> ${r.device.peakGbps === null ? esc(r.device.peakSource) : `${r.device.peakGbps} GB/s (${esc(r.device.peakSource)})`} · <b>features:</b> ${esc(r.device.features.join(', '))}</p>
${r.device.software ? '<p class="software">Every figure on this page is <b>software (SwiftShader)</b>: WebGPU on the CPU. Ratios between kernels are a rough instruction-count proxy; nothing here is a GPU time or a GPU bandwidth.</p>' : ''}
<h2>Bandwidth saved vs decode throughput, per shape — ${esc(label)}</h2>
<p>Fused wins only where both bars are high: bytes it reads less than q4, and the decode rate as a share of the rate that keeps it memory-bound (100 %).</p><div class="chart"><canvas id="saved"></canvas></div>
<h2>Time per kernel per shape — ${esc(label)}</h2><div class="chart"><canvas id="time"></canvas></div>
<h2>Decode throughput vs the rate that keeps fused memory-bound — ${esc(label)}</h2><div class="chart"><canvas id="rate"></canvas></div>
<h2>Bytes per weight vs SQNR (stories260K weights)</h2><div class="chart"><canvas id="quality"></canvas></div>
<h2>Bits per weight (all-in, rANS-coded) vs KL to the fp32 model (stories260K, ${SWEEP_EVAL.sequences} seeded continuations × ${SWEEP_EVAL.tokens} tokens)</h2>
<p>The picture to pick a quantizer by: lower and further left is better. ecsq (one step per row, exceptions) at several bit budgets beside the group quantizers.</p><div class="chart"><canvas id="kl"></canvas></div>
<h2>Bits per weight (all-in, rANS-coded) vs SQNR (Gaussian ${SWEEP_GAUSSIAN.rows}×${SWEEP_GAUSSIAN.cols})</h2><div class="chart"><canvas id="gauss"></canvas></div>
<h2>Shapes</h2>${rows}
<h2>Projected tokens/s, 8B Llama weight reads (32 layers + vocabulary) — ${esc(label)}</h2>
<table><tr><th>kernel</th><th>tokens/s</th><th>basis</th></tr>${proj}</table>
<h2>Quantizers (stories260K)</h2>
<table><tr><th>quantizer</th><th>SQNR dB</th><th>entropy bits</th><th>q4 bytes/weight</th><th>rANS bytes/weight</th><th>rANS bits/weight</th><th>KL nats/token</th><th>Gaussian bits/weight</th><th>Gaussian SQNR dB</th></tr>${sweep}</table>
<h2>Method</h2>
<p>Every kernel is verified against the CPU reference before it is timed. Warm-up ${r.config.warmup}, ${r.config.iterations} samples of ${r.config.dispatchesPerSample} products;
GPU timestamps around the timed passes where available (the timer column), wall clock otherwise and always recorded; median and p10/p90.
${r.config.rotateBytes > 0 ? `Weight buffers rotated through ≥ ${(r.config.rotateBytes / 2 ** 20).toFixed(0)} MiB per kernel, so that bandwidth is DRAM bandwidth.` : 'One copy of each weight buffer (not rotated): a matrix that fits the cache is timed from the cache.'} Bytes counted: everything a kernel must read (weights or streams, tables, scales, x).
decode-then-q4 is timed in steady state (decoded once, then plain q4). The needed decode rate is 8·bandwidth / bits the fused kernel reads per weight.</p>
<script>${chartJsSource()}</script>
<script>
const R = ${data};
const kernels = ['dense-f32', 'q4', 'fused', 'decode', 'decode-then-q4', 'fused-ecsq'];
const colors = ['#888', '#1f77b4', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd'];
const families = [['group scales', (p) => p.quantizer !== 'ecsq', '#d62728'], ['ecsq', (p) => p.quantizer === 'ecsq', '#9467bd']];
const opts = (y, log) => ({ responsive: true, maintainAspectRatio: false, animation: false, scales: { y: { type: log ? 'logarithmic' : 'linear', title: { display: true, text: y } } } });
new Chart(document.getElementById('saved'), { type: 'bar', data: { labels: R.shapes.map((s) => s.name), datasets: [
  { label: 'bytes read less than q4 (%)', backgroundColor: '#2ca02c', data: R.shapes.map((s) => s.bytesSavedVsQ4 ?? null) },
  { label: 'decode rate, % of what fused needs to stay memory-bound', backgroundColor: '#ff7f0e', data: R.shapes.map((s) => s.decodeRateOfNeeded ?? null) } ] },
  options: opts('% (' + R.device.label + ')', false) });
new Chart(document.getElementById('time'), { type: 'bar', data: { labels: R.shapes.map((s) => s.name),
  datasets: kernels.map((k, i) => ({ label: k, backgroundColor: colors[i], data: R.shapes.map((s) => s.kernels.find((x) => x.kernel === k)?.medianMs ?? null) })) },
  options: opts('ms per product (' + R.device.label + ')', true) });
new Chart(document.getElementById('rate'), { type: 'bar', data: { labels: R.shapes.map((s) => s.name), datasets: [
  { label: 'decode symbols/s (measured)', backgroundColor: '#ff7f0e', data: R.shapes.map((s) => s.decodeSymbolsPerSec) },
  { label: 'symbols/s needed to stay memory-bound', backgroundColor: '#1f77b4', data: R.shapes.map((s) => s.neededSymbolsPerSec) } ] },
  options: opts('symbols/s (' + R.device.label + ')', true) });
new Chart(document.getElementById('quality'), { type: 'scatter', data: { datasets: [
  { label: 'plain q4', backgroundColor: '#1f77b4', pointRadius: 6, data: R.sweep.filter((p) => p.q4BytesPerWeight !== null).map((p) => ({ x: p.q4BytesPerWeight, y: p.sqnrDb, label: p.label })) },
  { label: 'rANS-coded', backgroundColor: '#d62728', pointRadius: 6, data: R.sweep.map((p) => ({ x: p.ransBytesPerWeight, y: p.sqnrDb, label: p.label })) } ] },
  options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { x: { title: { display: true, text: 'bytes per weight (indices + scales)' } }, y: { title: { display: true, text: 'SQNR dB' } } },
    plugins: { tooltip: { callbacks: { label: (c) => c.raw.label + ': ' + c.raw.x.toFixed(4) + ' B/w, ' + c.raw.y.toFixed(2) + ' dB' } } } } });
const scatter = (id, x, y, point) => new Chart(document.getElementById(id), { type: 'scatter', data: { datasets: families.map(([label, keep, color]) => (
  { label, backgroundColor: color, borderColor: color, showLine: label === 'ecsq', pointRadius: 6, data: R.sweep.filter(keep).map(point).filter((d) => Number.isFinite(d.y)) })) },
  options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { x: { title: { display: true, text: x } }, y: { title: { display: true, text: y } } },
    plugins: { tooltip: { callbacks: { label: (c) => c.raw.label + ': ' + c.raw.x.toFixed(3) + ' b/w, ' + c.raw.y.toFixed(4) } } } } });
scatter('kl', 'bits per weight, all-in', 'KL(fp32 ‖ quantized), nats/token', (p) => ({ x: 8 * p.ransBytesPerWeight, y: p.klDivergence, label: p.label }));
scatter('gauss', 'bits per weight, all-in', 'SQNR dB', (p) => ({ x: p.gaussian?.bitsPerWeight, y: p.gaussian?.sqnrDb, label: p.label }));
document.body.dataset.chartsReady = 'true';
</script>
</body></html>
`;
}
