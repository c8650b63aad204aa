/**
 * A WebGPU device in Node through Dawn (npm `webgpu`). Picks whatever adapter the machine has
 * (Metal on a Mac, Vulkan elsewhere); on Linux with no GPU adapter it falls back by itself to the
 * SwiftShader Vulkan driver of an installed Chromium, and says so in `software`. Where Linux shows
 * no GPU device node at all it goes to SwiftShader directly, so Dawn never probes Mesa's lavapipe
 * (which it rejects, with a warning on stderr).
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceDescriptor } from '../gpu/device.js';
import { DeviceError } from '../errors.js';

/** SwiftShader ICDs shipped by Chromium packages. */
export const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json', '/opt/google/chrome/vk_swiftshader_icd.json'];

/** A device and what it runs on. */
export interface NodeDevice {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  /** A one-line description: vendor, architecture, device, backend. */
  description: string;
  /** True when running on SwiftShader (a CPU implementation): timings are not GPU timings. */
  software: boolean;
}

/**
 * The Vulkan loader (and Wayland probing) print "error: XDG_RUNTIME_DIR is invalid or not set"
 * on every instance when the variable is missing, as in containers and CI. Give the process a
 * private one (mode 0700, as the spec requires) before Dawn starts.
 */
function ensureRuntimeDir(): void {
  const dir = process.env.XDG_RUNTIME_DIR;
  if (dir && existsSync(dir)) return;
  process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'rans-gemv-xdg-'));
  chmodSync(process.env.XDG_RUNTIME_DIR, 0o700);
}

/**
 * Whether Linux shows a device node that a hardware GPU's Vulkan driver opens: a DRM render node,
 * an NVIDIA device or WSL's /dev/dxg. Without one, the only Vulkan device is a CPU driver: Mesa's
 * lavapipe, which Dawn rejects with a "Vulkan shaderUniform*ArrayDynamicIndexing required"
 * warning on stderr, or SwiftShader.
 */
function linuxHasGpuNode(): boolean {
  try {
    if (readdirSync('/dev/dri').some((n) => n.startsWith('renderD'))) return true;
  } catch { /* no DRM */ }
  try {
    return readdirSync('/dev').some((n) => /^nvidia\d+$/.test(n) || n === 'dxg');
  } catch {
    return true; // cannot tell: let the Vulkan loader look
  }
}

// dawn.node crashes if the object create() returned is collected while a device lives.
const instances: unknown[] = [];

/** npm `webgpu` (Dawn for Node): an optional peer dependency, loaded on first use. */
type DawnModule = { create(flags: string[]): unknown; globals: object };
let dawn: DawnModule | null = null;
async function loadDawn(): Promise<DawnModule> {
  if (!dawn) {
    try {
      dawn = (await import('webgpu')) as DawnModule;
    } catch (e) {
      throw new DeviceError('MISSING_WEBGPU', `WebGPU in Node needs the optional package 'webgpu' (Dawn): npm install webgpu (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return dawn;
}

async function adapterFrom(flags: string[]): Promise<GPUAdapter | null> {
  const gpu = (await loadDawn()).create(flags) as GPU;
  instances.push(gpu);
  return gpu.requestAdapter({ powerPreference: 'high-performance' });
}

/**
 * Requests a device with the library's optional features (subgroups, timestamp-query,
 * shader-f16) and the adapter's largest buffer and workgroup-memory limits.
 *
 * @example
 * ```ts
 * const { device, description, software } = await requestNodeDevice();
 * ```
 */
export async function requestNodeDevice(options: { dawnFlags?: string[] } = {}): Promise<NodeDevice> {
  Object.assign(globalThis, (await loadDawn()).globals);
  ensureRuntimeDir();
  const flags = options.dawnFlags ?? ['disable-dawn-features=timestamp_quantization'];
  const swiftShader = SWIFTSHADER_ICDS.find((p) => existsSync(p));
  const driverChosen = Boolean(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);
  if (process.platform === 'linux' && !driverChosen && swiftShader && !linuxHasGpuNode()) {
    process.env.VK_ICD_FILENAMES = swiftShader; // no GPU to find: skip lavapipe and its warning
  }
  let adapter = await adapterFrom(flags);
  let software = false;
  if (!adapter && process.platform === 'linux' && !process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && swiftShader) {
    process.env.VK_ICD_FILENAMES = swiftShader;
    adapter = await adapterFrom(flags);
  }
  if (!adapter) {
    throw new DeviceError('NO_ADAPTER', 'no WebGPU adapter: install a GPU driver with Vulkan/Metal support, or Chromium (its SwiftShader driver) and libvulkan1 on Linux');
  }
  const info = adapter.info;
  software = /swiftshader/i.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`) || software;
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') || 'unknown adapter';
  return { device, adapterInfo: info, description, software };
}
