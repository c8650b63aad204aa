import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root folder (where its package.json is), from source or from dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'rans-gemv') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('rans-gemv package root not found');
    dir = up;
  }
}

/** The bundled stories260K checkpoint and tokenizer. */
export function bundledModel(): { model: string; tokenizer: string } {
  const dir = join(packageRoot(), 'fixtures', 'stories260K');
  return { model: join(dir, 'stories260K.bin'), tokenizer: join(dir, 'tok512.bin') };
}
