// `npm run demo`: serves the demo page with vite on 127.0.0.1 (WebGPU needs a secure context).
import { createServer } from 'vite';
import { packageRoot } from '../src/paths.js';

const port = Number(process.env.PORT ?? 5173);
const server = await createServer({ root: packageRoot(), configFile: false, server: { host: '127.0.0.1', port } });
await server.listen();
console.log(`demo: http://127.0.0.1:${server.config.server.port}/demo/index.html (open in Chrome; Ctrl-C to stop)`);
