// `diffusion train --eval-every N` appends evaluation lines ({ step, eval }) to metrics.jsonl every N
// steps and after the last one, with finite MMD² / sliced Wasserstein for 2-D data, and the trained
// model scores better than at its first evaluation; an image dataset the judge cannot score is refused
// before training with a one-line error.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('diffusion train --eval-every', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-eval-every-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes an eval line every N steps and at the end, and the metrics improve', () => {
    const out = join(dir, 'moons');
    const result = run('train', '--data', 'moons', '--steps', '600', '--eval-every', '200', '--out', out);
    assert.equal(result.status, 0, result.stderr);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const evals = lines.filter((line) => line.eval);
    assert.deepEqual(
      evals.map((line) => line.step),
      [200, 400, 600],
    );
    const values = evals.map((line) => Object.values(line.eval) as number[]);
    assert.ok(
      values.flat().every((v) => Number.isFinite(v)),
      JSON.stringify(evals),
    );
    const keys = Object.keys(evals[0].eval).join(',');
    assert.match(keys, /mmd/i);
    const swKey = Object.keys(evals[0].eval).find((k) => /wasserstein|sw/i.test(k))!;
    assert.ok(swKey, keys);
    assert.ok(evals[2].eval[swKey] <= evals[0].eval[swKey] * 1.05, JSON.stringify(evals));
  });

  it('an image dataset the judge cannot score is refused before training', () => {
    const out = join(dir, 'emoji');
    const result = run('train', '--data', 'emoji', '--steps', '1', '--eval-every', '1', '--out', out);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /eval-every/);
    assert.ok(!existsSync(join(out, 'model_index.json')));
  });
});
