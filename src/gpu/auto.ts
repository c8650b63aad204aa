/**
 * `mode: 'auto'`: choosing fused, decode-then-q4 or q4 per shape and batch size from a device
 * calibration measured by the benchmark suite (`npm run bench` writes one per device).
 *
 * Decision rule: take the calibration entries whose vector count M is nearest the call's, among
 * them the entry nearest in size (|log(rows·cols)| distance), and compare its fused and q4 times.
 * Fused no slower → `fused` (it also reads and stores fewer bytes). Otherwise the plain q4 kernel
 * wins: `q4` if the matrix has host-uploaded nibbles, else `decode-then-q4` (decode once, keep the
 * q4 copy: more memory, q4 speed). Without a calibration `auto` means `fused`.
 */
import { InvalidInputError } from '../errors.js';

/** Measured times of one shape and batch size on one device. */
export interface CalibrationEntry {
  rows: number;
  cols: number;
  vectors: number;
  fusedMs: number;
  q4Ms: number;
  /** Decode-only time of the whole matrix, for reference. */
  decodeMs?: number;
}

/** A device's calibration: what `bench` measured, small enough for a runtime to ship. */
export interface Calibration {
  /** Adapter description the numbers belong to. */
  device: string;
  entries: CalibrationEntry[];
}

const registry = new WeakMap<GPUDevice, Calibration>();

/**
 * Registers the calibration `mode: 'auto'` uses on `device` (a per-call option overrides it).
 *
 * @example
 * ```ts
 * setCalibration(device, JSON.parse(await (await fetch('calibration.json')).text()));
 * await fusedMatVec(device, m, x, { mode: 'auto' });
 * ```
 */
export function setCalibration(device: GPUDevice, calibration: Calibration): void {
  checkCalibration(calibration);
  registry.set(device, calibration);
}

/**
 * The calibration registered for a device, if any.
 *
 * @example
 * ```ts
 * const cal = getCalibration(device); // undefined until setCalibration
 * ```
 */
export function getCalibration(device: GPUDevice): Calibration | undefined {
  return registry.get(device);
}

/**
 * Throws {@link InvalidInputError} unless every entry has positive sizes and times.
 *
 * @example
 * ```ts
 * checkCalibration(json); // throws InvalidInputError BAD_CALIBRATION
 * ```
 */
export function checkCalibration(c: Calibration): void {
  const ok = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (!c || !Array.isArray(c.entries)) throw new InvalidInputError('BAD_CALIBRATION', 'a calibration needs an entries array');
  c.entries.forEach((e, i) => {
    if (![e.rows, e.cols, e.vectors, e.fusedMs, e.q4Ms].every(ok)) throw new InvalidInputError('BAD_CALIBRATION', `calibration entry ${i} needs positive rows, cols, vectors, fusedMs and q4Ms`);
  });
}

/**
 * The mode `auto` resolves to for a matrix shape and vector count.
 *
 * @example
 * ```ts
 * chooseMode(calibration, 4096, 4096, 1, false); // 'fused' or 'decode-then-q4'
 * ```
 */
export function chooseMode(calibration: Calibration | undefined, rows: number, cols: number, vectors: number, hostQ4: boolean): 'fused' | 'decode-then-q4' | 'q4' {
  if (!calibration || calibration.entries.length === 0) return 'fused';
  const nearestM = Math.min(...calibration.entries.map((e) => Math.abs(e.vectors - vectors)));
  const sameM = calibration.entries.filter((e) => Math.abs(e.vectors - vectors) === nearestM);
  const size = Math.log(rows * cols);
  const best = sameM.reduce((a, b) => (Math.abs(Math.log(a.rows * a.cols) - size) <= Math.abs(Math.log(b.rows * b.cols) - size) ? a : b));
  if (best.fusedMs <= best.q4Ms) return 'fused';
  return hostQ4 ? 'q4' : 'decode-then-q4';
}
