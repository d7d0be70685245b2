/**
 * CLIP's byte-level BPE tokenizer (Sennrich et al. 2016 BPE over the byte alphabet of byte-level.ts,
 * with CLIP's `</w>` end-of-word suffix), reading and writing the `tokenizer/` folder diffusers ships:
 * `vocab.json` (token → id), `merges.txt` (one merge "a b" per line, by priority, after a `#version`
 * line), `tokenizer_config.json` and `special_tokens_map.json` (BOS/EOS/PAD/UNK tokens,
 * `model_max_length`). Text is cleaned and split as clip-pretokenize.ts describes; each piece is
 * byte-encoded, gets `</w>` on its last symbol, and the lowest-ranked adjacent pair is merged until
 * no merge applies (`CLIPTokenizer.bpe`). Encodings are `<|startoftext|> … <|endoftext|>`, truncated
 * to `model_max_length` (77) with the EOS kept last, and padded with the pad token.
 *
 * The npm package `@huggingface/tokenizers` was considered: it builds a tokenizer from a `tokenizer.json`
 * (the fast-tokenizer file), which diffusers' CLIP `tokenizer/` folders do not contain, so this small
 * implementation reads vocab.json + merges.txt directly.
 *
 * This module must not know models or tensors beyond the int64 id arrays a text encoder takes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, type JsonValue } from '../io/json.js';
import { FormatError, NotFoundError, UsageError } from '../util/errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { bytesToSymbols, symbolsToText } from './byte-level.js';
import { preTokenizeClip } from './clip-pretokenize.js';

export { normalizeClipText, preTokenizeClip } from './clip-pretokenize.js';

/** CLIP's end-of-word suffix on the last symbol of every piece. */
export const END_OF_WORD = '</w>';
export const CLIP_BOS_TOKEN = '<|startoftext|>';
export const CLIP_EOS_TOKEN = '<|endoftext|>';
/** Context length of every released CLIP text encoder. */
export const CLIP_MAX_LENGTH = 77;

/** Everything a tokenizer is: the files' content as values. */
export interface ClipTokenizerSpec {
  /** Token → id (vocab.json). */
  readonly vocab: Readonly<Record<string, number>>;
  /** Merges by priority, first = applied first (merges.txt without its version line). */
  readonly merges: readonly (readonly [string, string])[];
  readonly bosToken?: string;
  readonly eosToken?: string;
  /** CLIP for SD 1.x pads with `<|endoftext|>`; SD 2.x's tokenizer pads with `!` (id 0). */
  readonly padToken?: string;
  readonly unkToken?: string;
  /** Length of padded encodings, BOS and EOS included. Default 77. */
  readonly modelMaxLength?: number;
}

export interface EncodeOptions {
  /** Wrap in BOS … EOS (default true). */
  readonly addSpecialTokens?: boolean;
  /** Cut to this many ids, special tokens included, keeping EOS last (default: no truncation). */
  readonly maxLength?: number;
}

export interface BatchEncodeOptions {
  /** Length of every row (default `modelMaxLength`); longer texts are truncated with EOS kept last. */
  readonly maxLength?: number;
  /** 'max_length' (default) pads every row to maxLength; 'longest' pads to the longest row. */
  readonly padding?: 'max_length' | 'longest';
}

/** A padded batch, row-major [count, length], ready as a text encoder's int64 input. */
export interface EncodedBatch {
  readonly inputIds: BigInt64Array;
  /** 1 for real tokens (BOS and EOS included), 0 for padding. */
  readonly attentionMask: BigInt64Array;
  readonly shape: readonly [number, number];
}

/** Cached pieces per tokenizer before the cache is cleared (bounds memory on endless streams). */
const CACHE_LIMIT = 100_000;

export class ClipTokenizer {
  readonly vocab: ReadonlyMap<string, number>;
  readonly merges: readonly (readonly [string, string])[];
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string;
  readonly unkToken: string;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  readonly unkTokenId: number;
  readonly modelMaxLength: number;
  private readonly idToToken: string[];
  private readonly ranks: Map<string, number>;
  private readonly specialIds: Set<number>;
  private readonly cache = new Map<string, number[]>();

  constructor(spec: ClipTokenizerSpec, source = 'tokenizer') {
    this.vocab = new Map(Object.entries(spec.vocab));
    this.idToToken = inverseVocab(this.vocab, source);
    this.merges = spec.merges;
    this.ranks = new Map(spec.merges.map(([a, b], rank) => [pairKey(a, b), rank]));
    this.bosToken = spec.bosToken ?? CLIP_BOS_TOKEN;
    this.eosToken = spec.eosToken ?? CLIP_EOS_TOKEN;
    this.padToken = spec.padToken ?? this.eosToken;
    this.unkToken = spec.unkToken ?? this.eosToken;
    const idOf = (token: string, role: string) => {
      const id = this.vocab.get(token);
      if (id === undefined) {
        throw new FormatError(`${source}: the ${role} token '${token}' is not in the vocabulary`, {
          hint: 'vocab.json and tokenizer_config.json must belong to the same tokenizer',
        });
      }
      return id;
    };
    this.bosTokenId = idOf(this.bosToken, 'BOS');
    this.eosTokenId = idOf(this.eosToken, 'EOS');
    this.padTokenId = idOf(this.padToken, 'pad');
    this.unkTokenId = idOf(this.unkToken, 'unknown');
    this.specialIds = new Set([this.bosTokenId, this.eosTokenId, this.padTokenId, this.unkTokenId]);
    this.modelMaxLength = spec.modelMaxLength ?? CLIP_MAX_LENGTH;
    if (!Number.isSafeInteger(this.modelMaxLength) || this.modelMaxLength < 2) {
      throw new FormatError(`${source}: model_max_length ${this.modelMaxLength} is not an integer ≥ 2`);
    }
  }

  /** Number of ids (the text encoder's `vocab_size` must be at least this). */
  get vocabSize(): number {
    return this.idToToken.length;
  }

  /** The BPE tokens of `text` (no special tokens added), e.g. "a photo" → ["a</w>", "photo</w>"]. */
  tokenize(text: string): string[] {
    return this.pieceIds(text).map((id) => this.idToToken[id]);
  }

  /** Ids of `text`: BOS, the BPE tokens, EOS (see EncodeOptions for truncation). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const { addSpecialTokens = true, maxLength } = options;
    const body = this.pieceIds(text);
    if (!addSpecialTokens) return maxLength === undefined ? body : body.slice(0, maxLength);
    if (maxLength !== undefined && maxLength < 2) {
      throw new UsageError(`maxLength ${maxLength} leaves no room for the BOS and EOS tokens`);
    }
    const kept = maxLength === undefined ? body : body.slice(0, maxLength - 2);
    return [this.bosTokenId, ...kept, this.eosTokenId];
  }

  /**
   * The text of `ids`: tokens joined, bytes decoded as UTF-8, each `</w>` read as a space, trimmed.
   * Special tokens (BOS, EOS, pad, unknown) are left out unless `skipSpecialTokens` is false.
   */
  decode(ids: ArrayLike<number | bigint>, skipSpecialTokens = true): string {
    let symbols = '';
    for (let i = 0; i < ids.length; i++) {
      const id = Number(ids[i]);
      const token = this.idToToken[id];
      if (token === undefined) {
        throw new UsageError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
      }
      if (!(skipSpecialTokens && this.specialIds.has(id))) symbols += token;
    }
    // As `convert_tokens_to_string`: bytes first, then `</w>` (plain ASCII in the alphabet) → space.
    return symbolsToText(symbols).replaceAll(END_OF_WORD, ' ').trim();
  }

  /** Ids of many texts as one int64 [count, length] array plus attention mask (see BatchEncodeOptions). */
  encodeBatch(texts: readonly string[], options: BatchEncodeOptions = {}): EncodedBatch {
    const { maxLength = this.modelMaxLength, padding = 'max_length' } = options;
    const rows = texts.map((text) => this.encode(text, { maxLength }));
    const length = padding === 'longest' ? Math.max(2, ...rows.map((r) => r.length)) : maxLength;
    const inputIds = new BigInt64Array(texts.length * length).fill(BigInt(this.padTokenId));
    const attentionMask = new BigInt64Array(texts.length * length);
    rows.forEach((row, i) => {
      row.forEach((id, j) => {
        inputIds[i * length + j] = BigInt(id);
        attentionMask[i * length + j] = 1n;
      });
    });
    return { inputIds, attentionMask, shape: [texts.length, length] };
  }

  /** The files' content as values, for saving or building a modified tokenizer. */
  spec(): ClipTokenizerSpec {
    return {
      vocab: Object.fromEntries(this.vocab),
      merges: this.merges,
      bosToken: this.bosToken,
      eosToken: this.eosToken,
      padToken: this.padToken,
      unkToken: this.unkToken,
      modelMaxLength: this.modelMaxLength,
    };
  }

  private pieceIds(text: string): number[] {
    const ids: number[] = [];
    for (const piece of preTokenizeClip(text)) ids.push(...this.idsOfPiece(piece));
    return ids;
  }

  private idsOfPiece(piece: string): number[] {
    const special = this.vocab.get(piece);
    if (special !== undefined && this.specialIds.has(special)) return [special];
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = bpe(bytesToSymbols(piece), this.ranks).map((token) => this.vocab.get(token) ?? this.unkTokenId);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(piece, ids);
    }
    return ids;
  }
}

function pairKey(a: string, b: string): string {
  return `${a} ${b}`;
}

/**
 * BPE of one byte-encoded piece: its symbols, the last with `</w>`, merged pair by pair, always the
 * adjacent pair of lowest rank first, every occurrence of it left to right (`CLIPTokenizer.bpe`).
 */
export function bpe(symbols: string, ranks: ReadonlyMap<string, number>): string[] {
  const word = [...symbols];
  if (word.length === 0) return [];
  word[word.length - 1] += END_OF_WORD;
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < word.length; i++) {
      const rank = ranks.get(pairKey(word[i], word[i + 1]));
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) return word;
    const [first, second] = [word[best], word[best + 1]];
    const merged: string[] = [];
    for (let i = 0; i < word.length; i++) {
      if (i + 1 < word.length && word[i] === first && word[i + 1] === second) {
        merged.push(first + second);
        i++;
      } else merged.push(word[i]);
    }
    word.splice(0, word.length, ...merged);
  }
}

function inverseVocab(vocab: ReadonlyMap<string, number>, source: string): string[] {
  const tokens: string[] = [];
  for (const [token, id] of vocab) {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new FormatError(`${source}: token '${token}' has id ${String(id)}, not a non-negative integer`);
    }
    if (tokens[id] !== undefined) {
      throw new FormatError(`${source}: tokens '${tokens[id]}' and '${token}' share id ${id}`);
    }
    tokens[id] = token;
  }
  const gap = tokens.findIndex((t) => t === undefined);
  if (gap >= 0 || tokens.length !== vocab.size) {
    throw new FormatError(`${source}: ids must be 0..${vocab.size - 1} without gaps; id ${gap} is unused`);
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------------
// Files

export const VOCAB_FILE = 'vocab.json';
export const MERGES_FILE = 'merges.txt';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const SPECIAL_TOKENS_FILE = 'special_tokens_map.json';

/** A token as transformers saves it: a string, or an AddedToken object with `content`. */
function tokenContent(value: JsonValue | undefined, path: string, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && !Array.isArray(value) && typeof value.content === 'string') {
    return value.content;
  }
  throw new FormatError(`${path}: '${key}' must be a token string or an object with 'content'`);
}

function readObject(path: string, what: string): Record<string, JsonValue> {
  const value = readJsonFile(path, what);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FormatError(`${what} '${path}' must hold a JSON object`);
  }
  return value;
}

function readVocab(path: string): Record<string, number> {
  const raw = readObject(path, 'tokenizer vocabulary');
  for (const [token, id] of Object.entries(raw)) {
    if (typeof id !== 'number') {
      throw new FormatError(`tokenizer vocabulary '${path}': token '${token}' maps to a non-number`);
    }
  }
  return raw as Record<string, number>;
}

/** Merges of a merges.txt: one "a b" per line after an optional `#version` line; blank lines skipped. */
export function parseMerges(text: string, source = MERGES_FILE): [string, string][] {
  const lines = text.split(/\r?\n/);
  const merges: [string, string][] = [];
  lines.forEach((line, index) => {
    if (line === '' || (index === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new FormatError(`${source} line ${index + 1}: expected two symbols separated by one space`, {
        hint: `got '${line.slice(0, 40)}'`,
      });
    }
    merges.push([parts[0], parts[1]]);
  });
  return merges;
}

function readMerges(path: string): [string, string][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new NotFoundError(`cannot read tokenizer merges '${path}'`, { cause: error });
  }
  return parseMerges(text, path);
}

/** transformers writes `model_max_length` 1e30 when none was set; that means "use CLIP's 77". */
function maxLengthOf(value: JsonValue | undefined, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number') throw new FormatError(`${path}: 'model_max_length' must be a number`);
  return value > 1e9 ? undefined : value;
}

/**
 * The tokenizer of a diffusers `tokenizer/` folder. vocab.json and merges.txt are required;
 * tokenizer_config.json and special_tokens_map.json are read when present (special tokens from the
 * latter win, as in transformers). A missing file is a NotFoundError and a malformed one a FormatError,
 * both naming the file.
 */
export function loadClipTokenizer(dir: string): ClipTokenizer {
  const vocabPath = join(dir, VOCAB_FILE);
  const configPath = join(dir, TOKENIZER_CONFIG_FILE);
  const specialPath = join(dir, SPECIAL_TOKENS_FILE);
  const config = existsSync(configPath) ? readObject(configPath, 'tokenizer config') : {};
  const special = existsSync(specialPath) ? readObject(specialPath, 'special tokens map') : {};
  const token = (key: string) =>
    tokenContent(special[key], specialPath, key) ?? tokenContent(config[key], configPath, key);
  return new ClipTokenizer(
    {
      vocab: readVocab(vocabPath),
      merges: readMerges(join(dir, MERGES_FILE)),
      bosToken: token('bos_token'),
      eosToken: token('eos_token'),
      padToken: token('pad_token'),
      unkToken: token('unk_token'),
      modelMaxLength: maxLengthOf(config.model_max_length, configPath),
    },
    vocabPath,
  );
}

/** Writes the four files of a `tokenizer/` folder into `dir` (each atomically) in transformers' layout. */
export function writeClipTokenizerFiles(dir: string, tokenizer: ClipTokenizer): void {
  const vocab = Object.fromEntries([...tokenizer.vocab].sort((a, b) => a[1] - b[1]));
  writeFileAtomic(join(dir, VOCAB_FILE), `${JSON.stringify(vocab)}\n`);
  const merges = tokenizer.merges.map(([a, b]) => `${a} ${b}\n`).join('');
  writeFileAtomic(join(dir, MERGES_FILE), `#version: 0.2\n${merges}`);
  const specials = {
    bos_token: tokenizer.bosToken,
    eos_token: tokenizer.eosToken,
    pad_token: tokenizer.padToken,
    unk_token: tokenizer.unkToken,
  };
  const config = {
    tokenizer_class: 'CLIPTokenizer',
    model_max_length: tokenizer.modelMaxLength,
    do_lower_case: true,
    errors: 'replace',
    ...specials,
  };
  writeFileAtomic(join(dir, TOKENIZER_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  writeFileAtomic(join(dir, SPECIAL_TOKENS_FILE), `${JSON.stringify(specials, null, 2)}\n`);
}

/** Saves a tokenizer as a `tokenizer/` folder, replacing `dir` atomically. */
export function saveClipTokenizer(dir: string, tokenizer: ClipTokenizer): void {
  writeDirAtomic(dir, (temp) => writeClipTokenizerFiles(temp, tokenizer));
}
