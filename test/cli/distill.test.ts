// `diffusion distill` through bin/diffusion.js on a tiny 2-D teacher folder: bad flags exit 2 with one
// line, a refused or failed run leaves no output folder, and the progressive and consistency students are
// pipeline folders that `diffusion sample` runs at their own step count by default (and at --steps 1).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSchedulerConfig } from '../../src/diffusion/scheduler-config-file.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { savePipeline } from '../../src/models/pipeline-folder.js';
import { Random } from '../../src/util/random.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('diffusion distill', () => {
  let dir = '';
  let teacher = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-distill-'));
    teacher = join(dir, 'teacher');
    const network = new MLPDenoiser({ in_features: 2, hidden_size: 16, num_layers: 1 });
    savePipeline(teacher, {
      network,
      params: network.init(new Random(1)),
      scheduler: schedulerConfig('DDPMScheduler', { clipSample: false }),
    });
    writeFileSync(
      join(teacher, 'training_summary.json'),
      JSON.stringify({ data: 'moons', classNames: null }),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const common = ['--iterations-per-round', '4', '--batch-size', '16', '--quiet'];

  it('refuses bad flags with exit 2 and one line, writing nothing', () => {
    const out = join(dir, 'bad');
    const cases: [string[], RegExp][] = [
      [['--method', 'magic'], /--method: unknown value 'magic'/],
      [['--from-steps', '48', '--steps', '4'], /power of two/],
      [['--from-steps', '6', '--steps', '3'], /must divide the 1000 training timesteps/],
      [['--method', 'consistency', '--steps', '20', '--levels', '10'], /at most --levels 10/],
    ];
    for (const [flags, message] of cases) {
      const result = run('distill', '--teacher', teacher, '--out', out, ...flags);
      assert.equal(result.status, 2, `${flags.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.ok(!existsSync(out));
    }
    const same = run('distill', '--teacher', teacher, '--out', teacher);
    assert.equal(same.status, 2, same.stderr);
  });

  it('a run that fails leaves no output folder', () => {
    const out = join(dir, 'failed');
    const wrongData = run('distill', '--teacher', teacher, '--out', out, '--data', 'no-such-data', ...common);
    assert.equal(wrongData.status, 1, wrongData.stderr);
    assert.match(wrongData.stderr, /no-such-data/);
    assert.equal(wrongData.stderr.trim().split('\n').length, 1, wrongData.stderr);
    assert.ok(!existsSync(out));
  });

  it('progressive: a DDIM v-prediction student that `sample` runs at its step count by default', () => {
    const out = join(dir, 'progressive');
    const result = run(
      'distill',
      '--teacher',
      teacher,
      '--out',
      out,
      '--steps',
      '2',
      '--from-steps',
      '8',
      ...common,
    );
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /progressive student, 2 steps/);
    const config = readSchedulerConfig(join(out, 'scheduler', 'scheduler_config.json'));
    assert.equal(config.className, 'DDIMScheduler');
    assert.equal((config as { predictionType: string }).predictionType, 'v_prediction');
    assert.equal((config as { timestepSpacing: string }).timestepSpacing, 'trailing');
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'distillation.json'), 'utf8')), {
      guidance: 1,
      method: 'progressive',
      steps: 2,
    });
    const json = join(dir, 'progressive.json');
    const sampled = run('sample', '--model', out, '--num', '8', '--format', 'json', '--out', json);
    assert.equal(sampled.status, 0, sampled.stderr);
    assert.match(sampled.stdout, /DDIMScheduler, 2 steps/);
    const one = run(
      'sample',
      '--model',
      out,
      '--steps',
      '1',
      '--num',
      '8',
      '--format',
      'json',
      '--out',
      json,
    );
    assert.equal(one.status, 0, one.stderr);
    const parsed = JSON.parse(readFileSync(json, 'utf8'));
    assert.deepEqual(parsed.shape, [8, 2]);
    assert.ok(parsed.samples.flat().every(Number.isFinite));
    // The out folder now holds a run: a second distill into it is refused.
    const again = run('distill', '--teacher', teacher, '--out', out, '--steps', '2', '--from-steps', '4');
    assert.equal(again.status, 2, again.stderr);
    assert.match(again.stderr, /already holds a run/);
  });

  it('consistency: a CMStochasticIterativeScheduler student sampled in 1 and 2 steps', () => {
    const out = join(dir, 'consistency');
    const result = run(
      'distill',
      '--teacher',
      teacher,
      '--out',
      out,
      '--method',
      'consistency',
      '--steps',
      '1',
      '--levels',
      '10',
      ...common,
    );
    assert.equal(result.status, 0, result.stderr);
    const config = readSchedulerConfig(join(out, 'scheduler', 'scheduler_config.json'));
    assert.equal(config.className, 'CMStochasticIterativeScheduler');
    assert.equal((config as { numTrainTimesteps: number }).numTrainTimesteps, 10);
    assert.equal((config as { clipDenoised: boolean }).clipDenoised, false);
    const json = join(dir, 'consistency.json');
    const sampled = run('sample', '--model', out, '--num', '8', '--format', 'json', '--out', json);
    assert.equal(sampled.status, 0, sampled.stderr);
    assert.match(sampled.stdout, /CMStochasticIterativeScheduler, 1 steps/);
    const two = run(
      'sample',
      '--model',
      out,
      '--steps',
      '2',
      '--num',
      '8',
      '--format',
      'json',
      '--out',
      json,
    );
    assert.equal(two.status, 0, two.stderr);
    assert.ok(JSON.parse(readFileSync(json, 'utf8')).samples.flat().every(Number.isFinite));
  });
});
