// The train → sample → info path through bin/diffusion.js: a tiny 2-D run writes a pipeline folder with
// training_state/, metrics.jsonl and a samples PNG; `sample` writes a PNG of the expected size and JSON
// numbers; `info` prints the parameter count; bad flags give one-line errors with exit code 2; SIGINT
// checkpoints and exits 130 so that --resume can continue.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImage } from '../../src/io/images.js';
import { MLPDenoiser } from '../../src/models/mlp.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('diffusion train / sample / info', () => {
  let dir = '';
  let runDir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
    runDir = join(dir, 'run');
    const result = run('train', '--data', 'moons', '--out', runDir, '--steps', '40', '--model', 'mlp-small');
    assert.equal(result.status, 0, result.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('train writes a pipeline folder, a resumable state, metrics and a 512×512 samples plot', () => {
    for (const file of ['model_index.json', 'unet/config.json', 'scheduler/scheduler_config.json'])
      assert.ok(existsSync(join(runDir, file)), file);
    assert.ok(existsSync(join(runDir, 'training_state', 'state.json')));
    const metrics = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      metrics.map((m) => m.step),
      [10, 20, 30, 40],
    );
    assert.ok(metrics.every((m) => Number.isFinite(m.loss) && m.loss > 0));
    const image = readImage(join(runDir, 'samples.png'));
    assert.deepEqual([image.width, image.height], [512, 512]);
  });

  it('sample writes a PNG and JSON numbers of the requested count', () => {
    const png = join(dir, 'samples.png');
    const result = run('sample', '--model', runDir, '--steps', '5', '--num', '64', '--out', png);
    assert.equal(result.status, 0, result.stderr);
    const image = readImage(png);
    assert.deepEqual([image.width, image.height], [512, 512]);
    const json = join(dir, 'samples.json');
    assert.equal(run('sample', '--model', runDir, '--num', '7', '--format', 'json', '--out', json).status, 0);
    const parsed = JSON.parse(readFileSync(json, 'utf8'));
    assert.deepEqual(parsed.shape, [7, 2]);
    assert.ok(parsed.samples.flat().every((v: number) => Number.isFinite(v)));
  });

  it('info prints the parameter count and the training summary', () => {
    const result = run('info', runDir);
    assert.equal(result.status, 0, result.stderr);
    const network = new MLPDenoiser({ hidden_size: 64, num_layers: 2 });
    const count = Object.values(network.paramTypes()).reduce(
      (n, t) => n + t.shape.reduce((a, b) => a * b, 1),
      0,
    );
    assert.match(result.stdout, new RegExp(`${count.toLocaleString('en-US')} parameters`));
    assert.match(result.stdout, /training: moons, 40\/40 steps \(finished\)/);
  });

  it('bad flags: one-line errors naming the flag and the valid choices, exit 2', () => {
    const cases: [string[], RegExp][] = [
      [
        ['train', '--data', 'nope', '--out', join(dir, 'x')],
        /--data: unknown value 'nope'.*moons, 8gaussians/,
      ],
      [['train', '--data', 'moons', '--steps', '0', '--out', join(dir, 'x')], /--steps must be an integer/],
      [['train', '--data', 'moons', '--lr', 'fast', '--out', join(dir, 'x')], /--lr must be a number > 0/],
      [['train', '--data', 'moons', '--model', 'huge', '--out', join(dir, 'x')], /--model: .*mlp-small/],
      [['train', '--data', 'moons', '--out', runDir], /already holds a run.*--resume/],
      [['train', '--out', join(dir, 'x')], /needs --data NAME or --config FILE/],
      [
        ['sample', '--model', runDir, '--sampler', 'nope', '--out', join(dir, 'y.png')],
        /unknown sampler 'nope'.*dpmpp_2m/,
      ],
      [['sample', '--model', runDir, '--class', '1', '--out', join(dir, 'y.png')], /unconditional/],
      [['sample', '--model', runDir, '--num', '-3', '--out', join(dir, 'y.png')], /--num must be an integer/],
      [['sample', '--model', runDir, '--temperature', 'NaN', '--out', join(dir, 'y.png')], /--temperature/],
    ];
    for (const [args, message] of cases) {
      const result = run(...args);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
    assert.equal(run('info', join(dir, 'missing')).status, 1);
  });

  it('SIGINT checkpoints and exits 130; --resume finishes the run', async () => {
    const out = join(dir, 'interrupted');
    const child = spawn(process.execPath, [
      bin,
      'train',
      '--data',
      'moons',
      '--out',
      out,
      '--steps',
      '100000',
      '--model',
      'mlp-small',
    ]);
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/step 20\//.test(stderr)) child.kill('SIGINT');
      });
      child.on('close', resolve);
    });
    assert.equal(code, 130, stderr);
    const state = JSON.parse(readFileSync(join(out, 'training_state', 'state.json'), 'utf8'));
    assert.ok(state.step >= 20 && state.step < 100000);
    const resumed = run('train', '--out', out, '--resume', '--steps', String(state.step + 10));
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.ok(existsSync(join(out, 'samples.png')));
  });
});
