#!/usr/bin/env node
/**
 * `rans-gemv` command line: analyze, encode and verify models and containers.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { decodeTensor, openContainer, verifyTensor, type ContainerTensor } from '../container/container.js';
import { InvalidInputError, RansGemvError } from '../errors.js';
import type { AffineMatch, RateTarget } from '../quantize/ecsq.js';
import type { EncodeFileResult } from '../node/encode.js';
import { totalStats, type CompressOptions } from '../pipeline.js';
import { startProgress, type Progress } from './progress.js';
import { QUANTIZERS, type QuantizedMatrix } from '../quantize/types.js';
import type { EncodedMatrix } from '../rans/codec.js';
import type { GpuCheck } from '../gpu/verify.js';
import { bundledModel } from '../paths.js';
import { isContainer } from '../container/container.js';
import { cpuBackend, gpuBackend, RUNTIME_MODES, type MatVecBackend } from '../llm/backends.js';
import { generate, LlamaRuntime } from '../llm/engine.js';
import { modelFromCheckpoint, modelFromContainer } from '../llm/model.js';
import { readTokenizer } from '../llm/tokenizer.js';
import { histogramChart, statsTable } from './render.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('not an integer');
  return n;
};

interface CompressFlags { group: number; quantizer: CompressOptions['quantizer']; precision?: number; laneSymbols?: number; tileLanes?: number; bits?: number; sqnr?: number; match?: AffineMatch; stepScale?: number }

function compressOptions(o: CompressFlags): CompressOptions {
  const targets = [o.bits !== undefined && { bits: o.bits }, o.sqnr !== undefined && { sqnrDb: o.sqnr }, o.match !== undefined && { match: o.match },
    o.stepScale !== undefined && { stepScale: o.stepScale }].filter((t) => t) as RateTarget[];
  if (targets.length > 1) throw new InvalidInputError('BAD_RATE_TARGET', 'give one of --bits, --sqnr, --match and --step-scale');
  if (targets.length && o.quantizer !== 'ecsq') throw new InvalidInputError('BAD_RATE_TARGET', `--bits, --sqnr, --match and --step-scale choose the ecsq step: add --quantizer ecsq (got ${o.quantizer})`);
  return { groupSize: o.group, quantizer: o.quantizer, precision: o.precision, symbolsPerLane: o.laneSymbols, lanesPerTile: o.tileLanes, rate: targets[0] };
}

/** How a report names the quantizer: `affine g64`, or `ecsq --bits 4.1` (its rate target). */
function quantizerLabel(o: CompressFlags): string {
  if (o.quantizer !== 'ecsq') return `${o.quantizer} g${o.group}`;
  const t = compressOptions(o).rate;
  return `ecsq ${!t ? 'match q4-g64' : 'bits' in t ? `--bits ${t.bits}` : 'sqnrDb' in t ? `--sqnr ${t.sqnrDb}` : 'match' in t ? `match ${t.match}` : `--step-scale ${t.stepScale}`}`;
}

interface StreamingFlags extends CompressFlags { jobs?: number; quiet?: boolean }

/** Compresses every matrix of a model file, streaming, with progress on stderr; writes `output` if given. */
async function compressModel(path: string, output: string | null, o: StreamingFlags, label: string): Promise<EncodeFileResult> {
  const { encodeModelFile } = await import('../node/encode.js');
  let progress: Progress | null = null;
  try {
    const r = await encodeModelFile(path, output, {
      ...compressOptions(o), jobs: o.jobs,
      onOpen: (reader) => { progress = startProgress({ label, total: reader.weights, unit: 'weights', quiet: o.quiet }); },
      onProgress: (p) => progress?.update(p.weightsDone, p.tensor),
    });
    (progress as Progress | null)?.stop();
    if (r.skipped.length && !o.quiet) {
      const list = r.skipped.slice(0, 12).map((t) => `${t.name} [${t.shape.join(', ')}] ${t.dtype} (${t.reason})`).join(', ');
      console.error(`not encoded (not a 2-D float or MLX 4-bit matrix): ${r.skipped.length} tensor${r.skipped.length === 1 ? '' : 's'}: ${list}${r.skipped.length > 12 ? ', …' : ''}`);
    }
    for (const w of r.results.flatMap((t) => t.warnings)) console.error(`warning: ${w}`);
    return r;
  } catch (e) {
    (progress as Progress | null)?.stop();
    throw e;
  }
}

const program = new Command('rans-gemv')
  .description('rANS-compressed 4-bit weights for fused WebGPU GEMV')
  .showHelpAfterError();

const quantizerOption = () => new Option('--quantizer <kind>', 'quantizer').choices(QUANTIZERS).default('affine');

const jobsOption = () => new Option('--jobs <n>', 'worker threads (default: one per core); output is identical for any value').argParser(int);
/** The quantizer and stream-layout options of analyze, encode and eval. */
function addCompressOptions(command: Command): Command {
  return command
    .option('--group <n>', 'group size (32, 64, 128)', int, 64)
    .addOption(quantizerOption())
    .option('--precision <bits>', 'pair-table precision in bits (11..12)', int)
    .option('--lane-symbols <n>', 'target symbols per lane stream', int)
    .option('--tile-lanes <n>', 'lanes per tile (one workgroup), 1..256', int)
    .option('--bits <b>', 'ecsq: all-in bits/weight per matrix (indices, stream metadata, exceptions, row steps)', parseFloat)
    .option('--sqnr <dB>', 'ecsq: SQNR per matrix in dB', parseFloat)
    .addOption(new Option('--match <q4>', 'ecsq: the SQNR affine q4 reaches on each matrix (the default: q4-g64)').choices(['q4-g32', 'q4-g64', 'q4-g128']))
    .option('--step-scale <s>', 'ecsq: one step scale s for every matrix (row step = s·RMS of the row), instead of a target per matrix', parseFloat);
}

const quietOption = () => new Option('--quiet', 'no progress output');

addCompressOptions(program.command('analyze'))
  .description('entropy, coded bits/weight with all metadata, overhead, scale bits and SQNR per 2-D tensor')
  .argument('[model]', 'safetensors, GGUF, llama2.c .bin or an MLC directory (default: the bundled stories260K)')
  .addOption(jobsOption())
  .addOption(quietOption())
  .option('--json', 'print { tensors, total, skipped } as JSON')
  .action(async (model: string | undefined, o) => {
    const path = model ?? bundledModel().model;
    const { results, skipped } = await compressModel(path, null, o, 'analyze');
    const total = totalStats(results);
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ model: path, tensors: results.map((r) => r.stats), total, skipped }, null, 2)}\n`);
      return;
    }
    console.log(`${path}: ${results.length} matrices, ${quantizerLabel(o)}\n`);
    console.log(statsTable(results.map((r) => r.stats), total));
    console.log(`\nindex histogram over all tensors (entropy of the pooled histogram ignores per-tensor tables):\n${histogramChart(total.histogram)}`);
  });

addCompressOptions(program.command('encode'))
  .description('write every 2-D weight tensor into an .rgmv container (streaming: memory is bounded by the largest tensors, not the file)')
  .argument('<model>', 'safetensors, GGUF, llama2.c .bin or an MLC directory')
  .requiredOption('-o, --output <file>', 'container to write')
  .addOption(jobsOption())
  .addOption(quietOption())
  .action(async (model: string, o) => {
    // llama2.c checkpoints keep their config and norm weights, so `generate` can run the container.
    const { results, bytes } = await compressModel(model, o.output, o, 'encode');
    const total = totalStats(results);
    const sqnr = total.sqnrDb === null ? 'imported' : `${total.sqnrDb.toFixed(2)} dB`;
    console.log(`wrote ${o.output}: ${results.length} tensors, ${bytes} bytes, ${total.bitsPerWeight.toFixed(3)} bits/weight coded + ${total.scaleBitsPerWeight.toFixed(3)} scale bits (entropy ${total.entropyBits.toFixed(3)}, SQNR ${sqnr})`);
  });

program.command('verify')
  .description('check every checksum and decode every stream on the CPU against the stored index checksum (streaming: one tensor in memory at a time)')
  .argument('<file>', '.rgmv container')
  .option('--gpu', 'also decode every tensor with the GPU kernel (bit-exact vs CPU) and check fusedMatVec in every mode, M = 1 and 4')
  .addOption(quietOption())
  .option('--json', 'print the result as JSON')
  .action(async (file: string, o) => {
    const report: { name: string; rows: number; cols: number; ok: boolean; error?: string; code?: string }[] = [];
    let fault: RansGemvError | null = null;
    let gpu: { device: string; software: boolean; checks: GpuCheck[] } | undefined;
    const { fileSource } = await import('../node/file.js');
    const source = fileSource(file);
    let progress: Progress | null = null;
    let release = () => {};
    try {
      const container = await openContainer(source);
      const tensors = container.index.tensors;
      const total = tensors.reduce((n, t) => n + t.header.rows * t.header.cols, 0);
      progress = startProgress({ label: 'verify', total, unit: 'weights', quiet: o.quiet || o.json });
      let gpuCheck: ((name: string, q: QuantizedMatrix, encoded: EncodedMatrix) => Promise<GpuCheck[]>) | null = null;
      let gpuRejectCheck: ((t: ContainerTensor) => Promise<GpuCheck>) | null = null;
      if (o.gpu) {
        const { requestNodeDevice } = await import('../node/device.js');
        const { verifyTensorOnGpu, gpuRejects } = await import('../gpu/verify.js');
        const nd = await requestNodeDevice();
        if (!o.json) console.log(`GPU: ${nd.description}${nd.software ? ' — software (SwiftShader), no GPU adapter found' : ''}`);
        gpu = { device: nd.description, software: nd.software, checks: [] };
        gpuCheck = (name, q, encoded) => verifyTensorOnGpu(nd.device, name, q, encoded);
        gpuRejectCheck = (t) => gpuRejects(nd.device, t.header.name, t.params, t.encoded);
        release = () => nd.device.destroy();
      }
      await container.readRaw();
      let done = 0;
      for (let i = 0; i < tensors.length; i++) {
        const h = tensors[i].header;
        const entry = { name: h.name, rows: h.rows, cols: h.cols, ok: true };
        let t: ContainerTensor | null = null;
        try {
          t = await container.readTensor(i);
          // The GPU checks need the indices in memory; CPU-only verification streams them.
          if (gpuCheck) {
            const q = decodeTensor(t);
            const c = await gpuCheck(h.name, q, t.encoded);
            gpu!.checks.push(...c);
            if (!o.json) {
              const fmt = c.map((r) => (r.mode === 'decode' ? `decode ${r.ok ? 'bit-exact' : 'MISMATCH'}` : `${r.mode} M=${r.vectors} ${r.activations ?? 'f32'} ${r.maxRelErr.toExponential(1)}${r.ok ? '' : ' FAIL'}`));
              console.log(`  ${h.name}: ${fmt.join(', ')}`);
            }
          } else {
            verifyTensor(t, (w) => progress?.update(done + w, h.name));
          }
          report.push(entry);
        } catch (e) {
          if (!(e instanceof RansGemvError)) throw e;
          report.push({ ...entry, ok: false, error: e.message, code: e.code });
          // The CPU rejected the streams: the GPU decode must reject them too.
          if (t && gpuRejectCheck) {
            const c = await gpuRejectCheck(t);
            gpu!.checks.push(c);
            if (!o.json) console.log(`  ${h.name}: CPU rejected it; GPU decode ${c.ok ? 'rejected it too' : 'ACCEPTED it'}`);
          }
        }
        done += h.rows * h.cols;
        progress.update(done, h.name);
      }
    } catch (e) {
      if (!(e instanceof RansGemvError)) throw e;
      fault = e;
    } finally {
      (progress as Progress | null)?.stop();
      release();
      await source.close?.();
    }
    const ok = !fault && report.every((r) => r.ok) && (gpu?.checks.every((c) => c.ok) ?? true);
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ file, ok, error: fault ? { code: fault.code, message: fault.message } : undefined, tensors: report, gpu }, null, 2)}\n`);
    } else if (fault) {
      console.error(`${file}: INVALID: [${fault.code}] ${fault.message}`);
    } else {
      for (const r of report.filter((r) => !r.ok)) console.error(`${file}: tensor ${r.name}: [${r.code}] ${r.error}`);
      for (const c of gpu?.checks.filter((c) => !c.ok) ?? []) console.error(`${file}: tensor ${c.tensor}: GPU ${c.mode}${c.vectors ? ` M=${c.vectors}` : ''}${c.activations ? ` ${c.activations}` : ''} failed: ${c.error ?? `max relative error ${c.maxRelErr}`}`);
      const weights = report.reduce((n, r) => n + r.rows * r.cols, 0);
      console.log(`${file}: ${ok ? 'OK' : 'INVALID'}: ${report.filter((r) => r.ok).length}/${report.length} tensors decoded bit-exactly (${weights} weights)${gpu ? `; GPU checks ${gpu.checks.filter((c) => c.ok).length}/${gpu.checks.length} passed` : ''}`);
    }
    process.exitCode = ok ? 0 : 1;
  });

addCompressOptions(program.command('generate'))
  .description('greedy text generation with a llama2.c-architecture model, every weight product through fusedMatVec')
  .option('--model <file>', 'llama2.c .bin checkpoint (quantized on load) or .rgmv container from encode (default: bundled stories260K)')
  .option('--tokenizer <file>', 'llama2.c tokenizer (default: bundled tok512.bin)')
  .option('--steps <n>', 'tokens to run, prompt included', int, 256)
  .option('--prompt <text>', 'text to start from', '')
  .addOption(new Option('--mode <mode>', 'where the weight products run').choices(RUNTIME_MODES).default('fused'))
  .action(async (o) => {
    const bundled = bundledModel();
    const modelBytes = new Uint8Array(readFileSync(o.model ?? bundled.model));
    const model = isContainer(modelBytes) ? modelFromContainer(modelBytes) : modelFromCheckpoint(modelBytes, compressOptions(o));
    const tokenizer = readTokenizer(new Uint8Array(readFileSync(o.tokenizer ?? bundled.tokenizer)), model.config.vocabSize);
    let backend: MatVecBackend, release = () => {};
    if (o.mode === 'cpu' || o.mode === 'cpu-fp32') backend = cpuBackend(model, o.mode);
    else {
      const { requestNodeDevice } = await import('../node/device.js');
      const nd = await requestNodeDevice();
      console.error(`GPU: ${nd.description}${nd.software ? ' — software (SwiftShader)' : ''}`);
      backend = gpuBackend(nd.device, model, o.mode);
      release = () => { backend.destroy(); nd.device.destroy(); };
    }
    try {
      const rt = new LlamaRuntime(model, backend);
      const g = await generate(rt, tokenizer, { steps: o.steps, prompt: o.prompt, onToken: (_, piece) => process.stdout.write(piece) });
      process.stdout.write('\n');
      const bytes = o.mode.startsWith('cpu') ? 'CPU reference' : `${rt.bytesPerToken()} weight bytes read per token`;
      console.error(`${g.tokens.length} tokens, ${g.tokensPerSec.toFixed(1)} tokens/s (${o.mode}), ${bytes}`);
    } finally {
      release();
    }
  });

addCompressOptions(program.command('eval'))
  .description('model quality of a quantizer: mean KL(fp32 ‖ quantized) of next-token distributions, perplexity and top-1 agreement on seeded continuations the fp32 model samples, with all-in bits/weight (CPU)')
  .option('--model <file>', 'llama2.c .bin checkpoint (default: bundled stories260K)')
  .option('--sequences <n>', 'continuations sampled', int, 16)
  .option('--tokens <n>', 'tokens per continuation (≤ the model\'s seqLen; default 256 or seqLen)', int)
  .option('--seed <n>', 'sampling seed', int, 1)
  .addOption(quietOption())
  .option('--json', 'print the result as JSON')
  .action(async (o) => {
    const { evaluateModel } = await import('../llm/eval.js');
    const model = modelFromCheckpoint(new Uint8Array(readFileSync(o.model ?? bundledModel().model)), compressOptions(o));
    const progress = startProgress({ label: 'eval', total: o.sequences, unit: 'sequences', quiet: o.quiet || o.json });
    const r = await evaluateModel(model, { sequences: o.sequences, tokens: o.tokens, seed: o.seed, onSequence: (done) => progress.update(done) });
    progress.stop();
    if (o.json) {
      console.log(JSON.stringify({ quantizer: o.quantizer, groupSize: o.group, ...r }, null, 2));
      return;
    }
    console.log(`${quantizerLabel(o)}: KL(fp32 ‖ q) ${r.klDivergence.toFixed(4)} nats/token, perplexity ${r.perplexity.toFixed(3)} (fp32 ${r.fp32Perplexity.toFixed(3)}), top-1 agreement ${(100 * r.top1Agreement).toFixed(1)} %`);
    console.log(`  ${r.bitsPerWeight.toFixed(3)} bits/weight all-in, SQNR ${r.sqnrDb?.toFixed(2) ?? '–'} dB; ${r.sequences} sequences, ${r.tokens} tokens, seed ${r.seed}`);
  });

try {
  await program.parseAsync();
} catch (e) {
  if (e instanceof RansGemvError) {
    console.error(`rans-gemv: [${e.code}] ${e.message}`);
    process.exitCode = 2;
  } else throw e;
}
