import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

test('--help lists the usage and exits 0', () => {
  const result = run('--help');
  assert.equal(result.status, 0);
  assert.match(result.stdout, /Usage: diffusion/);
});

test('--version prints the package version', () => {
  const result = run('--version');
  const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  assert.equal(result.status, 0);
  assert.equal(result.stdout.trim(), version);
});

test('unknown command and unknown flag: one-line error, usage, exit 2, no stack trace', () => {
  for (const args of [['frobnicate'], ['--frobnicate']]) {
    const result = run(...args);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /^error: /);
    assert.match(result.stderr, /usage: diffusion/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  }
});
