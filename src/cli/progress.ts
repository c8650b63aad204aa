/**
 * Progress on stderr: a bar with amount done, rate and ETA on a terminal; on anything else (CI
 * logs, pipes) one plain line every few seconds; nothing with `quiet`.
 */
import { Presets, SingleBar } from 'cli-progress';

/** A progress display for work measured in some unit (weights, bytes). */
export interface Progress {
  update(done: number, detail?: string): void;
  stop(): void;
}

/** Options of {@link startProgress}. */
export interface ProgressOptions {
  /** What is being done, e.g. `encode`. */
  label: string;
  total: number;
  /** Unit shown after the amounts, e.g. `weights`. */
  unit: string;
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
  /** Seconds between lines on a non-terminal. Default 5. */
  intervalSec?: number;
}

const si = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${Math.round(n)}`);
const duration = (s: number) => (!Number.isFinite(s) ? '?' : s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);

/**
 * Starts a progress display.
 *
 * @example
 * ```ts
 * const p = startProgress({ label: 'encode', total: weights, unit: 'weights' });
 * p.update(done, 'layers.0.wq'); … p.stop();
 * ```
 */
export function startProgress(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  const start = performance.now();
  const rate = (done: number) => done / Math.max(1e-3, (performance.now() - start) / 1000);
  const eta = (done: number) => (done > 0 ? (o.total - done) / rate(done) : Infinity);
  if (o.quiet) return { update() {}, stop() {} };
  if (stream.isTTY) {
    const bar = new SingleBar({
      format: `${o.label} {bar} {percentage}% | {amount} ${o.unit} | {rate} ${o.unit}/s | ETA {eta} | {detail}`,
      stream, hideCursor: true, fps: 5,
    }, Presets.shades_classic);
    bar.start(o.total, 0, { amount: '', rate: '', eta: '?', detail: '' });
    return {
      update(done, detail = '') { bar.update(done, { amount: `${si(done)}/${si(o.total)}`, rate: si(rate(done)), eta: duration(eta(done)), detail }); },
      stop() { bar.stop(); },
    };
  }
  // Jobs shorter than one interval print nothing; longer ones a line per interval and a last one.
  let last = performance.now(), latest = 0, detail = '', printed = false;
  const line = () => {
    const pct = o.total > 0 ? ((100 * latest) / o.total).toFixed(1) : '100';
    stream.write(`${o.label}: ${pct}% ${si(latest)}/${si(o.total)} ${o.unit}, ${si(rate(latest))} ${o.unit}/s, ETA ${duration(eta(latest))}${detail ? ` (${detail})` : ''}\n`);
  };
  return {
    update(done, d = '') {
      latest = done; detail = d;
      const now = performance.now();
      if (now - last >= (o.intervalSec ?? 5) * 1000) { last = now; printed = true; line(); }
    },
    stop() { if (printed) line(); },
  };
}
