/**
 * Learns a CLIP-style byte-level BPE tokenizer from a list of texts (Sennrich et al. 2016, §3.1):
 * the texts are cleaned and split exactly as `ClipTokenizer` does, each distinct piece becomes a
 * sequence of byte symbols with `</w>` on the last, and the most frequent adjacent pair is merged,
 * again and again, until the vocabulary has the requested size or no pair occurs `minFrequency`
 * times. The vocabulary is laid out as CLIP's: the 256 byte symbols, the same with `</w>`, one token
 * per merge, then `<|startoftext|>` and `<|endoftext|>` — so any text encodes (no unknown tokens),
 * and the result saves as vocab.json + merges.txt that `loadClipTokenizer` reads unchanged.
 *
 * This module must not read or write files; save the result with `saveClipTokenizer`.
 */
import { UsageError } from '../util/errors.js';
import { CLIP_ALPHABET_ORDER, bytesToSymbols } from './byte-level.js';
import { preTokenizeClip } from './clip-pretokenize.js';
import {
  CLIP_BOS_TOKEN,
  CLIP_EOS_TOKEN,
  CLIP_MAX_LENGTH,
  ClipTokenizer,
  END_OF_WORD,
} from './clip-tokenizer.js';

export interface TrainTokenizerOptions {
  /** Vocabulary size to reach, 514 (bytes and specials alone) or more. Default 1,024. */
  readonly vocabSize?: number;
  /** A pair is merged only if it occurs at least this often (counting repeated texts). Default 2. */
  readonly minFrequency?: number;
  /** `model_max_length` of the tokenizer (padded encoding length). Default 77. */
  readonly modelMaxLength?: number;
}

/** The 512 base symbols of CLIP's vocabulary, ids 0–511: the byte alphabet, then the same with `</w>`. */
export function baseSymbols(): string[] {
  return [...CLIP_ALPHABET_ORDER, ...CLIP_ALPHABET_ORDER.map((c) => c + END_OF_WORD)];
}

/** Distinct pieces of `texts` as symbol lists (last with `</w>`) and how often each occurs. */
function wordCounts(texts: readonly string[]): { symbols: string[]; count: number }[] {
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const piece of preTokenizeClip(text)) {
      if (piece === CLIP_BOS_TOKEN || piece === CLIP_EOS_TOKEN) continue;
      counts.set(piece, (counts.get(piece) ?? 0) + 1);
    }
  }
  return [...counts].map(([piece, count]) => {
    const symbols = [...bytesToSymbols(piece)];
    symbols[symbols.length - 1] += END_OF_WORD;
    return { symbols, count };
  });
}

/** The most frequent adjacent pair (ties: the smallest key, for determinism) and its count. */
function mostFrequentPair(words: readonly { symbols: string[]; count: number }[]): [string, string, number] {
  const counts = new Map<string, number>();
  for (const { symbols, count } of words) {
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = `${symbols[i]} ${symbols[i + 1]}`;
      counts.set(key, (counts.get(key) ?? 0) + count);
    }
  }
  let bestKey = '';
  let bestCount = 0;
  for (const [key, count] of counts) {
    if (count > bestCount || (count === bestCount && key < bestKey)) {
      bestKey = key;
      bestCount = count;
    }
  }
  const space = bestKey.indexOf(' ');
  return [bestKey.slice(0, space), bestKey.slice(space + 1), bestCount];
}

function applyMerge(symbols: string[], first: string, second: string): string[] {
  const merged: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === first && symbols[i + 1] === second) {
      merged.push(first + second);
      i++;
    } else merged.push(symbols[i]);
  }
  return merged;
}

/** A byte-level BPE tokenizer learnt from `texts` (see the module header). */
export function trainClipTokenizer(
  texts: readonly string[],
  options: TrainTokenizerOptions = {},
): ClipTokenizer {
  const { vocabSize = 1024, minFrequency = 2, modelMaxLength = CLIP_MAX_LENGTH } = options;
  const base = baseSymbols();
  if (!Number.isSafeInteger(vocabSize) || vocabSize < base.length + 2) {
    throw new UsageError(`tokenizer vocabSize ${vocabSize} is below ${base.length + 2}`, {
      hint: 'the 512 byte symbols and the two special tokens are always in the vocabulary',
    });
  }
  if (!Number.isSafeInteger(minFrequency) || minFrequency < 1) {
    throw new UsageError(`tokenizer minFrequency must be a positive integer, got ${minFrequency}`);
  }
  const tokens = [...base];
  const known = new Set(tokens);
  const merges: [string, string][] = [];
  let words = wordCounts(texts);
  while (tokens.length + 2 < vocabSize) {
    const [first, second, count] = mostFrequentPair(words);
    if (count < minFrequency) break;
    merges.push([first, second]);
    // Two different merges can spell the same token; the vocabulary keeps one entry for it.
    if (!known.has(first + second)) {
      tokens.push(first + second);
      known.add(first + second);
    }
    words = words.map((w) => ({ symbols: applyMerge(w.symbols, first, second), count: w.count }));
  }
  tokens.push(CLIP_BOS_TOKEN, CLIP_EOS_TOKEN);
  return new ClipTokenizer({
    vocab: Object.fromEntries(tokens.map((token, id) => [token, id])),
    merges,
    modelMaxLength,
  });
}
