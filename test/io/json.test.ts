import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJson, pythonNumber, readJsonFile, stringifyJson, writeJsonFile } from '../../src/io/json.js';
import { FormatError, NotFoundError } from '../../src/util/errors.js';

test('parseJson accepts the non-finite literals Python writes, outside strings only', () => {
  const value = parseJson(
    '{"sigma_max": Infinity, "low": -Infinity, "x": NaN, "s": "NaN Infinity", "n": [1, -2.5e-3]}',
    'config',
  ) as Record<string, unknown>;
  assert.equal(value.sigma_max, Infinity);
  assert.equal(value.low, -Infinity);
  assert.ok(Number.isNaN(value.x));
  assert.equal(value.s, 'NaN Infinity');
  assert.deepEqual(value.n, [1, -0.0025]);
});

test('the extended parser gives the same values as JSON.parse on plain JSON', () => {
  const text =
    '{"a": [1, 2.5, -0, 1e300, "\\u00e9\\n", true, false, null], "b": {"c": {}}, "d": [], "a2": "x"}';
  // Adding a NaN forces the extended parser; the rest must match JSON.parse exactly.
  const extended = parseJson(text.replace('"d": []', '"d": [], "z": NaN'), 'x') as Record<string, unknown>;
  delete extended.z;
  assert.deepEqual(extended, JSON.parse(text));
});

test('a "__proto__" key stays an own property and does not change the prototype', () => {
  const value = parseJson('{"__proto__": {"polluted": 1}, "v": NaN}', 'x') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.deepEqual(Object.keys(value), ['__proto__', 'v']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('syntax errors are FormatErrors naming the source, line and column', () => {
  const cases: Array<[string, RegExp]> = [
    ['{\n  "a": 1,\n  "b": nan\n}', /cfg is not valid JSON: unexpected character "n" at line 3, column 8/],
    ['{"a": 1,}', /expected a string key at line 1, column 9/],
    ['[1 2]', /expected ',' or '\]' at line 1, column 4/],
    ['{"a": "unterminated', /malformed string .* at line 1, column 7/],
    ['', /unexpected end of input at line 1, column 1/],
    ['{} x', /unexpected text after the JSON value at line 1, column 4/],
    ['['.repeat(600), /nesting deeper than 512 levels/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseJson(text, 'cfg'),
      (e: unknown) => e instanceof FormatError && pattern.test(e.message),
      text.slice(0, 20),
    );
  }
});

test('pythonNumber matches Python repr(float) and str(int)', () => {
  const expected: Array<[number, string]> = [
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [1.5e-7, '1.5e-07'],
    [0.00085, '0.00085'],
    [0.012, '0.012'],
    [1000, '1000'],
    [-0, '-0.0'],
    [1e22, '1e+22'],
    [1.2345678901234568e17, '1.2345678901234568e+17'],
    [9007199254740994, '9007199254740994.0'],
    [3.14, '3.14'],
    [NaN, 'NaN'],
    [-Infinity, '-Infinity'],
  ];
  for (const [n, text] of expected) assert.equal(pythonNumber(n), text);
});

test('stringifyJson lays out like json.dumps(indent=2, sort_keys=True)', () => {
  // Expected text produced by Python: json.dumps(obj, indent=2, sort_keys=True)
  const obj = { b: [1, 0.5, 1e-5, {}], a: 'é😀', c: -0, e: [], sigma: Infinity, z: null, t: true };
  const python = [
    '{',
    '  "a": "\\u00e9\\ud83d\\ude00",',
    '  "b": [',
    '    1,',
    '    0.5,',
    '    1e-05,',
    '    {}',
    '  ],',
    '  "c": -0.0,',
    '  "e": [],',
    '  "sigma": Infinity,',
    '  "t": true,',
    '  "z": null',
    '}',
  ].join('\n');
  assert.equal(stringifyJson(obj), python);
  assert.equal(stringifyJson({ b: 1, a: [1, 2] }, { indent: 0 }), '{"a": [1, 2], "b": 1}');
  assert.equal(stringifyJson({ b: 1, a: 2 }, { sortKeys: false, indent: 0 }), '{"b": 1, "a": 2}');
});

test('stringifyJson refuses values JSON cannot hold, naming where they are', () => {
  assert.throws(
    () => stringifyJson({ w: [1, new Float32Array(2)] }),
    (e: unknown) => e instanceof FormatError && /a Float32Array at \$\.w\[1\]/.test(e.message),
  );
  assert.throws(() => stringifyJson({ n: 1n }), FormatError);
});

test('writeJsonFile and readJsonFile round-trip non-finite values with a trailing newline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-json-'));
  const path = join(dir, 'scheduler_config.json');
  const config = { _class_name: 'EulerDiscreteScheduler', sigma_max: Infinity, beta_start: 0.00085 };
  writeJsonFile(path, config);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.endsWith('}\n'));
  assert.match(text, /"sigma_max": Infinity/);
  assert.deepEqual(readJsonFile(path, 'scheduler config'), config);
});

test('readJsonFile: missing file is NotFoundError, bad content FormatError, both naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-json-'));
  const missing = join(dir, 'nope.json');
  assert.throws(
    () => readJsonFile(missing, 'model config'),
    (e: unknown) => e instanceof NotFoundError && e.message.includes(`model config '${missing}'`),
  );
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '\ufeff{"a": }');
  assert.throws(
    () => readJsonFile(bad, 'model config'),
    (e: unknown) => e instanceof FormatError && e.message.includes(`model config '${bad}' is not valid JSON`),
  );
  writeFileSync(bad, '\ufeff{"a": 1}');
  assert.deepEqual(readJsonFile(bad, 'model config'), { a: 1 });
});

test("diffusers' own config files read and write back byte for byte, but for '1.0' → '1'", () => {
  const root = new URL('../../../shared/reference/scheduler_configs/', import.meta.url);
  const names = readdirSync(root);
  assert.ok(names.length >= 13);
  for (const name of [...names, '../unet_small']) {
    const file = new URL(`${name}/${name === '../unet_small' ? 'config' : 'scheduler_config'}.json`, root);
    const text = readFileSync(file, 'utf8');
    const value = readJsonFile(fileURLToPath(file), 'config');
    // JavaScript numbers do not remember that 1.0 was a float; everything else must be identical.
    assert.equal(`${stringifyJson(value)}\n`, text.replace(/(\d)\.0(,?\n)/g, '$1$2'), name);
  }
  const dpm = readJsonFile(
    fileURLToPath(new URL('DPMSolverMultistepScheduler/scheduler_config.json', root)),
    'config',
  ) as Record<string, unknown>;
  assert.equal(dpm.lambda_min_clipped, -Infinity);
});
