/** Plain-text rendering for the CLI: aligned tables and histogram bars. */
import type { MatrixStats } from '../pipeline.js';

const BLOCKS = ' ▁▂▃▄▅▆▇█';

/** A 16-character sparkline of a histogram, one block per symbol 0..15. */
export function sparkline(hist: number[]): string {
  const max = Math.max(...hist, 1);
  return hist.map((c) => BLOCKS[c === 0 ? 0 : Math.max(1, Math.round((c / max) * 8))]).join('');
}

/** Horizontal bar chart of a histogram: symbol, share, ideal code length, bar. */
export function histogramChart(hist: number[], width = 40): string {
  const total = hist.reduce((a, b) => a + b, 0) || 1;
  const max = Math.max(...hist, 1);
  const lines = hist.map((c, s) => {
    const p = c / total;
    const eighths = Math.round((c / max) * width * 8);
    const bar = '█'.repeat(eighths >> 3) + (eighths & 7 ? BLOCKS[eighths & 7] : '');
    const bits = p > 0 ? (-Math.log2(p)).toFixed(2).padStart(5) : '    -';
    return `${String(s).padStart(3)} ${(p * 100).toFixed(2).padStart(6)}% ${bits} bits │${bar}`;
  });
  return ['sym  share   −log2 p  │', ...lines].join('\n');
}

/** Left-pads every column to its widest cell; first column left-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The `analyze` table: one row per tensor and a total row. */
export function statsTable(tensors: MatrixStats[], total: MatrixStats): string {
  const fmt = (s: MatrixStats, shape: string) => [
    s.name, shape, s.entropyBits.toFixed(3), s.bitsPerWeight.toFixed(3), `${s.overheadPct.toFixed(2)}%`,
    s.scaleBitsPerWeight.toFixed(3), s.sqnrDb === null ? 'imported' : s.sqnrDb.toFixed(2), sparkline(s.histogram),
  ];
  return table(
    ['tensor', 'shape', 'entropy', 'bits/w', 'overhead', 'scale b/w', 'SQNR dB', 'histogram 0..15'],
    [...tensors.map((s) => fmt(s, `${s.rows}×${s.cols}`)), fmt(total, `${total.rows} w`)],
  );
}
