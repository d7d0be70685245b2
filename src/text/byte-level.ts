/**
 * The byte-level alphabet of GPT-2 and CLIP BPE (Radford et al. 2019; `bytes_to_unicode` in OpenAI's
 * CLIP `simple_tokenizer.py`): every byte 0–255 gets one printable unicode character, so a BPE over
 * these characters can spell any UTF-8 text and never needs an unknown token. Printable Latin-1
 * bytes map to themselves; the other 68 bytes map to U+0100, U+0101, … in byte order.
 *
 * This module must not know vocabularies or merges; it only maps bytes to characters and back.
 */

/** The 256 characters standing for bytes 0–255, index = byte. */
export const BYTE_TO_CHAR: readonly string[] = byteAlphabet();

/**
 * The alphabet in the order of `bytes_to_unicode().values()` — printable bytes first, then the rest —
 * which is the order of the first 256 entries of CLIP's vocab.json ('!' = 0, 'a' = 64).
 */
export const CLIP_ALPHABET_ORDER: readonly string[] = [...BYTE_TO_CHAR].sort(
  (a, b) => a.codePointAt(0)! - b.codePointAt(0)!,
);

/** The inverse of BYTE_TO_CHAR. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

function byteAlphabet(): string[] {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars: string[] = [];
  let next = 0;
  for (let b = 0; b < 256; b++) {
    chars.push(String.fromCodePoint(printable(b) ? b : 256 + next++));
  }
  return chars;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** The UTF-8 bytes of `text`, each written as its alphabet character. */
export function bytesToSymbols(text: string): string {
  let out = '';
  for (const byte of encoder.encode(text)) out += BYTE_TO_CHAR[byte];
  return out;
}

/**
 * The text whose UTF-8 bytes `symbols` spells; characters outside the alphabet are dropped and
 * invalid UTF-8 becomes U+FFFD (Python's `errors="replace"`, the CLIP tokenizer's default).
 */
export function symbolsToText(symbols: string): string {
  const bytes: number[] = [];
  for (const char of symbols) {
    const byte = CHAR_TO_BYTE.get(char);
    if (byte !== undefined) bytes.push(byte);
  }
  return decoder.decode(Uint8Array.from(bytes));
}
