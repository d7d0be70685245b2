/**
 * Text for text-conditioned models: CLIP's byte-level BPE tokenizer (reads and writes diffusers'
 * `tokenizer/` folders) and a trainer that learns one from captions. Callers import from here.
 *
 * This module must not define anything itself.
 */
export * from './clip-tokenizer.js';
export { trainClipTokenizer, baseSymbols } from './train-tokenizer.js';
export type { TrainTokenizerOptions } from './train-tokenizer.js';
export { BYTE_TO_CHAR, CLIP_ALPHABET_ORDER, bytesToSymbols, symbolsToText } from './byte-level.js';
