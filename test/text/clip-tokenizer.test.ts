// CLIP tokenizer: CLIP's clean-up and regex, byte-level BPE with </w> against ids worked out by hand for
// a tiny vocabulary, BOS/EOS, truncation and padding, decode(encode(s)) on random unicode text, the
// tokenizer/ folder round trip, bad files named in FormatError/NotFoundError; and the trainable
// tokenizer: merges learnt from captions, saved and loaded unchanged.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  ClipTokenizer,
  loadClipTokenizer,
  normalizeClipText,
  parseMerges,
  preTokenizeClip,
  saveClipTokenizer,
  writeClipTokenizerFiles,
} from '../../src/text/clip-tokenizer.js';
import { BYTE_TO_CHAR, bytesToSymbols, symbolsToText } from '../../src/text/byte-level.js';
import { trainClipTokenizer } from '../../src/text/train-tokenizer.js';
import { FormatError, NotFoundError, UsageError } from '../../src/util/errors.js';

/** A hand-made vocabulary: a few letters, their </w> forms, three merges, the two special tokens. */
function tinyTokenizer(options: { modelMaxLength?: number; padToken?: string } = {}): ClipTokenizer {
  const tokens = [
    'a',
    'c',
    't',
    'o',
    'g',
    'd',
    '!', // 0–6
    'a</w>',
    'c</w>',
    't</w>',
    'o</w>',
    'g</w>',
    'd</w>',
    '!</w>', // 7–13
    'at</w>',
    'cat</w>',
    'og</w>', // 14–16: merges
    '<|startoftext|>',
    '<|endoftext|>', // 17, 18
  ];
  return new ClipTokenizer({
    vocab: Object.fromEntries(tokens.map((t, i) => [t, i])),
    merges: [
      ['a', 't</w>'],
      ['c', 'at</w>'],
      ['o', 'g</w>'],
    ],
    ...options,
  });
}

describe('CLIP text clean-up and pre-tokenisation', () => {
  it('lower-cases, collapses whitespace, drops control characters and spaces out CJK', () => {
    assert.equal(normalizeClipText('  A  Photo\tof\n\nA CAT  '), 'a photo of a cat');
    assert.equal(normalizeClipText('x\u0000y\u200bz\ufffd'), 'xyz');
    assert.equal(normalizeClipText('猫が好き'), '猫 が 好 き');
    assert.equal(normalizeClipText('Cafe\u0301'), 'café'); // NFC
  });

  it("splits with CLIP's regex: contractions, letter runs, single digits, symbol runs", () => {
    assert.deepEqual(preTokenizeClip("It's 42 cats!!"), ['it', "'s", '4', '2', 'cats', '!!']);
    assert.deepEqual(preTokenizeClip('a<|endoftext|>b'), ['a', '<|endoftext|>', 'b']);
    assert.deepEqual(preTokenizeClip('naïve café'), ['naïve', 'café']);
  });

  it('maps every byte to one printable character and back', () => {
    assert.equal(new Set(BYTE_TO_CHAR).size, 256);
    assert.equal(BYTE_TO_CHAR[0x41], 'A');
    assert.equal(BYTE_TO_CHAR[0x20], 'Ġ'); // space → U+0120, as in GPT-2 and CLIP
    assert.equal(symbolsToText(bytesToSymbols('héllo 🌍')), 'héllo 🌍');
  });
});

describe('CLIP tokenizer on a hand-made vocabulary', () => {
  it('encodes with BPE merges in rank order, </w> on the last symbol, BOS and EOS', () => {
    const tokenizer = tinyTokenizer();
    assert.deepEqual(tokenizer.tokenize('cat'), ['cat</w>']);
    assert.deepEqual(tokenizer.tokenize('Dog cat!'), ['d', 'og</w>', 'cat</w>', '!</w>']);
    assert.deepEqual(tokenizer.encode('Dog cat!'), [17, 5, 16, 15, 13, 18]);
    assert.deepEqual(tokenizer.encode('tat', { addSpecialTokens: false }), [2, 14]);
    // A byte outside the vocabulary becomes the unknown token (CLIP's is <|endoftext|>).
    assert.deepEqual(tokenizer.encode('z', { addSpecialTokens: false }), [18]);
    assert.equal(tokenizer.decode([17, 5, 16, 15, 13, 18]), 'dog cat !');
    assert.equal(tokenizer.decode([17, 15, 18], false), '<|startoftext|>cat <|endoftext|>');
  });

  it('truncates keeping EOS last and pads to model_max_length with the pad token', () => {
    const tokenizer = tinyTokenizer({ modelMaxLength: 5, padToken: '!' });
    assert.deepEqual(tokenizer.encode('cat cat cat cat', { maxLength: 4 }), [17, 15, 15, 18]);
    const batch = tokenizer.encodeBatch(['cat', 'dog dog dog dog']);
    assert.deepEqual(batch.shape, [2, 5]);
    assert.deepEqual([...batch.inputIds], [17n, 15n, 18n, 6n, 6n, 17n, 5n, 16n, 5n, 18n]);
    assert.deepEqual([...batch.attentionMask], [1n, 1n, 1n, 0n, 0n, 1n, 1n, 1n, 1n, 1n]);
    const longest = tokenizer.encodeBatch(['cat', 'a cat'], { padding: 'longest', maxLength: 77 });
    assert.deepEqual(longest.shape, [2, 4]);
    assert.deepEqual([...longest.inputIds], [17n, 15n, 18n, 6n, 17n, 7n, 15n, 18n]);
    assert.throws(() => tokenizer.encode('cat', { maxLength: 1 }), UsageError);
    assert.throws(() => tokenizer.decode([99]), /token id 99 is outside the vocabulary/);
  });
});

describe('CLIP tokenizer round trips', () => {
  const tokenizer = trainClipTokenizer(
    ['a handwritten seven', 'the digit 7', 'a drawing of the number seven', 'grinning face emoji 😀'],
    { vocabSize: 560, minFrequency: 1 },
  );

  it('decode(encode(s)) is the normalised text with pieces separated by spaces, for any unicode text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
        const expected = preTokenizeClip(text).join(' ');
        assert.equal(tokenizer.decode(tokenizer.encode(text)), expected);
      }),
      { numRuns: 300, seed: 11 },
    );
    for (const text of ['Hello, World!', 'ÉMOJI 👩‍👩‍👧 🇫🇷 ok', "don't   STOP", 'tab\tand\nnewline', '数字 7']) {
      assert.equal(tokenizer.decode(tokenizer.encode(text)), preTokenizeClip(text).join(' '));
    }
  });

  it('keeps plain words whole once their merges are learnt', () => {
    assert.deepEqual(tokenizer.tokenize('A handwritten SEVEN'), ['a</w>', 'handwritten</w>', 'seven</w>']);
  });
});

describe('tokenizer/ folder', () => {
  it('saves vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json and loads them back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenizer-'));
    try {
      const trained = trainClipTokenizer(['a photo of a cat', 'a photo of a dog', 'the cat sat'], {
        vocabSize: 530,
        modelMaxLength: 16,
      });
      saveClipTokenizer(join(dir, 'tokenizer'), trained);
      const loaded = loadClipTokenizer(join(dir, 'tokenizer'));
      assert.equal(loaded.vocabSize, trained.vocabSize);
      assert.deepEqual(loaded.merges, trained.merges);
      assert.equal(loaded.modelMaxLength, 16);
      assert.equal(loaded.bosTokenId, trained.vocabSize - 2);
      assert.equal(loaded.eosTokenId, trained.vocabSize - 1);
      const text = 'A photo of the cat!';
      assert.deepEqual(loaded.encode(text), trained.encode(text));
      const merges = readFileSync(join(dir, 'tokenizer', 'merges.txt'), 'utf8').split('\n');
      assert.equal(merges[0], '#version: 0.2');
      assert.equal(merges[1], trained.merges[0].join(' '));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads AddedToken objects and transformers’ 1e30 model_max_length placeholder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenizer-'));
    try {
      writeClipTokenizerFiles(dir, tinyTokenizer());
      writeFileSync(
        join(dir, 'tokenizer_config.json'),
        JSON.stringify({
          model_max_length: 1e30,
          bos_token: { __type: 'AddedToken', content: '<|startoftext|>', lstrip: false },
          eos_token: { content: '<|endoftext|>' },
          pad_token: '!</w>',
        }),
      );
      writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify({ pad_token: '!' }));
      const loaded = loadClipTokenizer(dir);
      assert.equal(loaded.modelMaxLength, 77);
      assert.equal(loaded.padTokenId, 6); // special_tokens_map.json wins over tokenizer_config.json
      assert.equal(loaded.bosTokenId, 17);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the file in errors: missing, malformed vocabulary, malformed merges, unknown special token', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenizer-'));
    try {
      assert.throws(
        () => loadClipTokenizer(dir),
        (e: Error) => e instanceof NotFoundError && e.message.includes('vocab.json'),
      );
      writeClipTokenizerFiles(dir, tinyTokenizer());
      writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\na t</w>\nbroken-line\n');
      assert.throws(
        () => loadClipTokenizer(dir),
        (e: Error) => e instanceof FormatError && /merges\.txt line 3/.test(e.message),
      );
      writeClipTokenizerFiles(dir, tinyTokenizer());
      writeFileSync(join(dir, 'vocab.json'), '{"a": 0, "b": "one"}');
      assert.throws(
        () => loadClipTokenizer(dir),
        (e: Error) =>
          e instanceof FormatError && e.message.includes('vocab.json') && e.message.includes("'b'"),
      );
      writeFileSync(join(dir, 'vocab.json'), '[1, 2');
      assert.throws(
        () => loadClipTokenizer(dir),
        (e: Error) => e instanceof FormatError && e.message.includes('vocab.json'),
      );
      writeFileSync(join(dir, 'vocab.json'), '{"a": 0, "<|endoftext|>": 1}');
      assert.throws(
        () => loadClipTokenizer(dir),
        (e: Error) =>
          e instanceof FormatError &&
          /BOS token '<\|startoftext\|>' is not in the vocabulary/.test(e.message),
      );
      writeFileSync(join(dir, 'vocab.json'), '{"a": 0, "b": 2}');
      assert.throws(() => loadClipTokenizer(dir), /without gaps/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses merges with or without a version line and skips blank lines', () => {
    assert.deepEqual(parseMerges('#version: 0.2\na b\n\nab c</w>\n'), [
      ['a', 'b'],
      ['ab', 'c</w>'],
    ]);
    assert.deepEqual(parseMerges('x y'), [['x', 'y']]);
  });
});

describe('trainable tokenizer', () => {
  it("learns the most frequent pairs first and lays the vocabulary out as CLIP's", () => {
    const tokenizer = trainClipTokenizer(['aaab', 'aaab', 'aaab', 'ab'], { vocabSize: 520 });
    // Pair counts: (a,a) 6, (a,b</w>) 4 → 'aa'; then (a,b</w>) 4 > (aa,a) 3 → 'ab</w>'; then 'aaab</w>'.
    assert.deepEqual(tokenizer.merges, [
      ['a', 'a'],
      ['a', 'b</w>'],
      ['aa', 'ab</w>'],
    ]);
    // CLIP's ids for the base symbols: '!' 0, 'a' 64, 'a</w>' 320.
    assert.equal(tokenizer.vocab.get('!'), 0);
    assert.equal(tokenizer.vocab.get('a'), 64);
    assert.equal(tokenizer.vocab.get('a</w>'), 320);
    assert.equal(tokenizer.vocab.get('aa'), 512);
    assert.equal(tokenizer.vocab.get('<|endoftext|>'), tokenizer.vocabSize - 1);
    assert.deepEqual(tokenizer.tokenize('aaab ab'), ['aaab</w>', 'ab</w>']);
  });

  it('stops at vocabSize and at minFrequency, and rejects a vocabulary below the byte alphabet', () => {
    const texts = Array.from({ length: 50 }, (_, i) => `caption number ${i} of a small set`);
    assert.equal(trainClipTokenizer(texts, { vocabSize: 530 }).vocabSize, 530);
    const rare = trainClipTokenizer(['abc', 'def'], { vocabSize: 2000, minFrequency: 2 });
    assert.equal(rare.merges.length, 0);
    assert.equal(rare.vocabSize, 514);
    assert.throws(() => trainClipTokenizer(texts, { vocabSize: 100 }), UsageError);
  });
});
