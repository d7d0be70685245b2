import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeDirAtomic, assertWritableDir } from '../../src/util/fs.js';
import { DiffusionError } from '../../src/util/errors.js';

test('writeFileAtomic writes, replaces, creates parents and leaves no temp files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-'));
  const path = join(dir, 'a', 'b.txt');
  writeFileAtomic(path, 'one');
  writeFileAtomic(path, new Uint8Array([116, 119, 111]));
  assert.equal(readFileSync(path, 'utf8'), 'two');
  assert.deepEqual(readdirSync(join(dir, 'a')), ['b.txt']);
});

test('writeDirAtomic replaces a folder whole, and keeps the old one if filling fails', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-'));
  const target = join(dir, 'ckpt');
  writeDirAtomic(target, (tmp) => writeFileSync(join(tmp, 'x'), '1'));
  assert.throws(() =>
    writeDirAtomic(target, (tmp) => {
      writeFileSync(join(tmp, 'x'), '2');
      throw new Error('interrupted');
    }),
  );
  assert.equal(readFileSync(join(target, 'x'), 'utf8'), '1');
  assert.deepEqual(readdirSync(dir), ['ckpt']);
  writeDirAtomic(target, (tmp) => writeFileSync(join(tmp, 'y'), '3'));
  assert.deepEqual(readdirSync(target), ['y']);
});

test('unwritable targets give a typed error naming the path', { skip: process.getuid?.() === 0 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-'));
  chmodSync(dir, 0o500);
  assert.throws(
    () => writeFileAtomic(join(dir, 'f'), 'x'),
    (e: unknown) => e instanceof DiffusionError && e.message.includes(dir),
  );
  assert.throws(() => assertWritableDir(join(dir, 'sub')), DiffusionError);
});

test('a path through a file is a typed error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-'));
  writeFileSync(join(dir, 'file'), '');
  assert.throws(() => writeFileAtomic(join(dir, 'file', 'x'), 'x'), DiffusionError);
  assert.throws(() => assertWritableDir(join(dir, 'file', 'sub')), DiffusionError);
  assert.equal(existsSync(join(dir, 'file', 'x')), false);
});
