import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'vite';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/paths.js';

describe('errors', () => {
  it('keep their names in a minified browser bundle (a minifier renames classes)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rans-gemv-min-'));
    const entry = join(dir, 'entry.ts');
    writeFileSync(entry, `export * from ${JSON.stringify(join(packageRoot(), 'src', 'errors.ts'))};\n`);
    await build({
      configFile: false, logLevel: 'silent', root: dir,
      build: { outDir: join(dir, 'out'), minify: 'esbuild', lib: { entry, formats: ['es'], fileName: 'errors' } },
    });
    const file = readdirSync(join(dir, 'out')).find((f) => f.startsWith('errors'))!;
    const min = await import(pathToFileURL(join(dir, 'out', file)).href);
    const classes = ['RansGemvError', 'InvalidInputError', 'ContainerError', 'StreamError', 'DeviceError'];
    for (const name of classes) {
      const e = new min[name]('SOME_CODE', 'message');
      expect(e.name).toBe(name);
      expect(e.code).toBe('SOME_CODE');
      expect(e).toBeInstanceOf(min.RansGemvError);
    }
    expect(min.ContainerError.name).not.toBe('ContainerError'); // the bundle really renamed the class
  });
});
