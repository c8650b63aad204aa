/**
 * Headless Chrome for WebGPU pages: finding the browser, launching it with a GPU adapter (or
 * SwiftShader where there is none), and serving a vite-built page on 127.0.0.1.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { build, preview, type PreviewServer } from 'vite';

/** Where Chrome or Chromium usually is, after the CHROME_PATH environment variable. */
export const CHROME_LOCATIONS = [
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Google Chrome Canary.app/Contents/MacOS/Google Chrome Canary',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  join(homedir(), 'Applications/Google Chrome.app/Contents/MacOS/Google Chrome'),
  '/usr/bin/google-chrome-stable', '/usr/bin/google-chrome', '/usr/bin/chromium', '/usr/bin/chromium-browser',
  '/snap/bin/chromium', '/opt/google/chrome/chrome',
];

/** No Chrome or Chromium could be found; the message says what to install. */
export class BrowserNotFoundError extends Error {
  override name = 'BrowserNotFoundError';
}

/** The browser to drive, or a clear message saying what to install. */
export function findChrome(): string {
  const env = process.env.CHROME_PATH;
  if (env) {
    if (!existsSync(env)) throw new BrowserNotFoundError(`CHROME_PATH is set to ${env}, which does not exist`);
    return env;
  }
  const found = CHROME_LOCATIONS.find((p) => existsSync(p));
  if (!found) {
    throw new BrowserNotFoundError('no Chrome or Chromium found: install Google Chrome (macOS: https://www.google.com/chrome/), or on Debian/Ubuntu `apt-get install chromium`, or set CHROME_PATH to the browser executable');
  }
  return found;
}

// Quiet, reproducible headless runs: no background traffic, no first-run UI; developer features
// give full-resolution timestamp queries (Chrome otherwise rounds them to 100 µs).
const COMMON_FLAGS = ['--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu', '--enable-webgpu-developer-features'];
// A real GPU through the platform's backend (Metal on macOS, Vulkan on Linux).
const HARDWARE_FLAGS = ['--enable-features=Vulkan', '--enable-dawn-features=allow_unsafe_apis'];
// Google's CPU Vulkan driver, shipped with Chrome and Debian's chromium.
const SOFTWARE_FLAGS = ['--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan', '--use-angle=swiftshader'];

/** A page with WebGPU and what it runs on. */
export interface WebGpuBrowser {
  browser: Browser;
  page: Page;
  /** Adapter description as the page sees it. */
  adapter: string;
  /** True when the adapter is SwiftShader: every figure is "software (SwiftShader)". */
  software: boolean;
}

async function adapterOf(page: Page): Promise<string | null> {
  return page.evaluate(async () => {
    const a = await (navigator as Navigator & { gpu?: GPU }).gpu?.requestAdapter();
    if (!a) return null;
    const i = a.info;
    return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') || 'unknown adapter';
  });
}

/**
 * Opens `url` in headless Chrome with a WebGPU adapter: the machine's GPU when it has one,
 * SwiftShader otherwise (or when `software` is true).
 */
export async function openWebGpuPage(url: string, options: { software?: boolean } = {}): Promise<WebGpuBrowser> {
  const executablePath = findChrome();
  const tries = options.software ? [SOFTWARE_FLAGS] : [HARDWARE_FLAGS, SOFTWARE_FLAGS];
  for (const flags of tries) {
    const args = [...COMMON_FLAGS, ...flags];
    if (process.getuid?.() === 0) args.push('--no-sandbox'); // Chrome refuses to sandbox as root
    const browser = await puppeteer.launch({ executablePath, headless: true, args, protocolTimeout: 3_600_000 });
    const page = await browser.newPage();
    await page.goto(url, { waitUntil: 'load' });
    const adapter = await adapterOf(page);
    if (adapter) return { browser, page, adapter, software: /swiftshader/i.test(adapter) };
    await browser.close();
  }
  throw new Error(`no WebGPU adapter in ${executablePath}, not even SwiftShader`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Builds HTML pages (paths relative to the repository root) with vite into `outDir` and serves
 * them on 127.0.0.1 (a secure context, as WebGPU requires). Returns the base URL.
 */
export async function servePages(root: string, pages: string[], outDir: string): Promise<{ url: string; server: PreviewServer }> {
  await build({
    root, logLevel: 'warn', configFile: false,
    build: { outDir, emptyOutDir: true, target: 'es2022', rollupOptions: { input: pages.map((p) => join(root, p)) } },
  });
  const port = await freePort();
  const server = await preview({ root, configFile: false, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true } });
  return { url: `http://127.0.0.1:${port}`, server };
}
