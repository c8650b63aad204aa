// The benchmark page: requests the best WebGPU device the browser offers and runs the suite
// when the runner calls window.runBench. Progress goes to the console, which the runner relays.
import { deviceDescriptor } from '../../src/gpu/device.js';
import { runSuite, type ShapeResult, type SuiteConfig } from '../suite.js';

declare global {
  interface Window {
    runBench: (config: SuiteConfig) => Promise<{ adapter: string; features: string[]; results: ShapeResult[] }>;
    benchReady: boolean;
  }
}

window.runBench = async (config) => {
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  const log = document.getElementById('log')!;
  const results = await runSuite(device, config, (line) => {
    console.log(`[bench] ${line}`);
    log.textContent += `${line}\n`;
  });
  const i = adapter.info;
  device.destroy();
  return { adapter: [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') || 'unknown adapter', features: [...device.features], results };
};
window.benchReady = true;
