/**
 * The llama2.c tokenizer (`tok512.bin`-style files): int32 max_token_length, then per token
 * f32 score, int32 byte length and the bytes. Encoding is run.c's greedy BPE by merge score.
 */
import { ContainerError, InvalidInputError } from '../errors.js';

export const BOS = 1;
export const EOS = 2;

/** A loaded tokenizer. Token pieces are raw bytes (UTF-8 fragments or `<0xXX>` byte tokens). */
export interface Tokenizer {
  vocab: Uint8Array[];
  scores: Float32Array;
  maxTokenLength: number;
  /** piece (as a latin1 string of its bytes) → token id */
  lookup: Map<string, number>;
}

const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

/**
 * Parses a tokenizer for a model with `vocabSize` tokens. The file must hold exactly that many
 * entries: a tokenizer that does not fit the vocabulary throws {@link ContainerError}
 * (`TOKENIZER_MISMATCH`), as does any length running past the end of the file.
 */
export function readTokenizer(bytes: Uint8Array, vocabSize: number): Tokenizer {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw new ContainerError('TRUNCATED', 'tokenizer file is shorter than its header');
  const maxTokenLength = dv.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 1024) throw new ContainerError('BAD_HEADER', `implausible max_token_length ${maxTokenLength}`);
  const vocab: Uint8Array[] = [];
  const scores = new Float32Array(vocabSize);
  let at = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (at + 8 > bytes.length) throw new ContainerError('TOKENIZER_MISMATCH', `tokenizer ends after ${i} tokens; the model has a vocabulary of ${vocabSize}`);
    scores[i] = dv.getFloat32(at, true);
    const len = dv.getInt32(at + 4, true);
    at += 8;
    if (len < 0 || len > maxTokenLength || at + len > bytes.length) throw new ContainerError('TOKENIZER_MISMATCH', `token ${i} claims ${len} bytes, past the end of the file or max_token_length`);
    vocab.push(bytes.slice(at, at + len));
    at += len;
  }
  if (at !== bytes.length) throw new ContainerError('TOKENIZER_MISMATCH', `tokenizer has ${bytes.length - at} bytes after ${vocabSize} tokens: it belongs to a larger vocabulary`);
  const lookup = new Map<string, number>();
  vocab.forEach((v, i) => { if (!lookup.has(latin1(v))) lookup.set(latin1(v), i); });
  return { vocab, scores, maxTokenLength, lookup };
}

/** The bytes token `token` prints after `prev` (run.c's decode: no leading space after BOS, raw bytes for <0xXX>). */
export function decodePiece(t: Tokenizer, prev: number, token: number): Uint8Array {
  if (token < 0 || token >= t.vocab.length) throw new InvalidInputError('BAD_TOKEN', `token ${token} is outside the vocabulary`);
  let piece = t.vocab[token];
  if (prev === BOS && piece[0] === 0x20) piece = piece.subarray(1);
  const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(latin1(piece));
  return m ? Uint8Array.of(parseInt(m[1], 16)) : piece;
}

/** run.c's encode: BOS, a dummy-prefix space, per-codepoint lookup with byte fallback, then BPE merges by score. */
export function encode(t: Tokenizer, text: string): number[] {
  const tokens: number[] = [BOS];
  if (text.length === 0) return tokens;
  const space = t.lookup.get(' ');
  if (space !== undefined) tokens.push(space);
  for (const ch of text) {
    const bytes = new TextEncoder().encode(ch);
    const id = t.lookup.get(latin1(bytes));
    if (id !== undefined) tokens.push(id);
    else for (const b of bytes) tokens.push(b + 3); // byte fallback: <0x00> is token 3
  }
  for (;;) {
    let best = -Infinity, bestId = -1, bestAt = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const merged = latin1(t.vocab[tokens[i]]) + latin1(t.vocab[tokens[i + 1]]);
      const id = t.lookup.get(merged);
      if (id !== undefined && t.scores[id] > best) { best = t.scores[id]; bestId = id; bestAt = i; }
    }
    if (bestAt < 0) break;
    tokens.splice(bestAt, 2, bestId);
  }
  return tokens;
}
