/**
 * CLIP's text clean-up and pre-tokenisation, as transformers' `CLIPTokenizer` does it without ftfy
 * (the `BasicTokenizer(strip_accents=False, do_split_on_punc=False)` path diffusers users get):
 * drop NUL, U+FFFD and control/format characters, turn whitespace into spaces, put spaces around CJK
 * ideographs, NFC-normalise, lower-case and collapse runs of whitespace; then split with CLIP's regex
 * (special tokens, English contractions, letter runs, single digits, runs of other symbols).
 * BPE then works inside each piece, so no token ever spans two pieces.
 *
 * This module must not know vocabularies or merges.
 */

/** Characters transformers' `_is_control` drops: Unicode categories C* except tab, newline, return. */
const CONTROL = /[\p{C}]/u;
/** `_is_whitespace`: space, tab, newline, return and category Zs. */
const WHITESPACE = /[ \t\n\r\p{Zs}]/u;

/** CJK ideograph blocks (`_is_chinese_char`); each becomes its own whitespace-separated word. */
const CJK_RANGES: readonly (readonly [number, number])[] = [
  [0x4e00, 0x9fff],
  [0x3400, 0x4dbf],
  [0x20000, 0x2a6df],
  [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f],
  [0x2b820, 0x2ceaf],
  [0xf900, 0xfaff],
  [0x2f800, 0x2fa1f],
];

function isCjk(codePoint: number): boolean {
  return CJK_RANGES.some(([lo, hi]) => codePoint >= lo && codePoint <= hi);
}

/** One character after `_clean_text` and `_tokenize_chinese_chars`: dropped, a space, or padded. */
function cleanChar(char: string): string {
  const codePoint = char.codePointAt(0)!;
  if (codePoint === 0 || codePoint === 0xfffd) return '';
  if (WHITESPACE.test(char)) return ' ';
  if (CONTROL.test(char)) return '';
  return isCjk(codePoint) ? ` ${char} ` : char;
}

/**
 * `text` as CLIP's tokenizer sees it before splitting: cleaned, NFC, lower-case, words separated by
 * single spaces, no leading or trailing space.
 */
export function normalizeClipText(text: string): string {
  let cleaned = '';
  for (const char of text) cleaned += cleanChar(char);
  return cleaned.normalize('NFC').toLowerCase().split(/\s+/u).filter(Boolean).join(' ');
}

/**
 * CLIP's pre-tokenisation regex (`self.pat` of `CLIPTokenizer`); the text is already lower-case, so the
 * case-insensitive flag only matters for the contractions.
 */
const CLIP_PATTERN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

/** The pieces BPE encodes one by one: `normalizeClipText(text)` split by CLIP's regex. */
export function preTokenizeClip(text: string): string[] {
  return normalizeClipText(text).match(CLIP_PATTERN) ?? [];
}
