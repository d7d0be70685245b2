// The weather-forecast path through bin/diffusion.js: `train --data weather-forecast` (a few steps) writes a
// forecasting pipeline folder with the weather statistics; `forecast` on the shipped Seattle CSV (which
// carries date and text columns beside the model's) writes one row per step with ordered quantiles; misuse
// gives one-line errors with exit code 2 and writes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vegaDatasetPath } from '../../src/data/forecast-windows.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('diffusion train --data weather-forecast / forecast', () => {
  let dir = '';
  let runDir = '';
  const weather = vegaDatasetPath('seattle-weather.csv');
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-forecast-'));
    runDir = join(dir, 'run');
    const result = run(
      'train',
      '--data',
      'weather-forecast',
      '--out',
      runDir,
      '--steps',
      '3',
      '--batch-size',
      '8',
    );
    assert.equal(result.status, 0, result.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('train saves a ForecastUNet1DModel predicting x₀, unclipped, with the weather statistics', () => {
    const config = JSON.parse(readFileSync(join(runDir, 'unet', 'config.json'), 'utf8'));
    assert.equal(config._class_name, 'ForecastUNet1DModel');
    assert.deepEqual([config.sample_size, config.in_channels, config.context_length], [32, 4, 25]);
    const scheduler = JSON.parse(readFileSync(join(runDir, 'scheduler', 'scheduler_config.json'), 'utf8'));
    assert.equal(scheduler.prediction_type, 'sample');
    assert.equal(scheduler.clip_sample, false);
    const signal = JSON.parse(readFileSync(join(runDir, 'signal.json'), 'utf8'));
    assert.deepEqual(signal.normalization.columns, ['temp_max', 'temp_min', 'precipitation', 'wind']);
    // Statistics of the first 80% of the 1,461 days only: temp_max averages 15.84 °C there.
    assert.ok(Math.abs(signal.normalization.mean[0] - 15.8446) < 1e-3);
  });

  it('forecast writes a step per row with the mean and ascending quantiles per variable', () => {
    const out = join(dir, 'forecast.csv');
    const result = run(
      'forecast',
      '--model',
      runDir,
      '--input',
      weather,
      '--horizon',
      '5',
      '--samples',
      '8',
      '--steps',
      '3',
      '--quantiles',
      '0.1,0.5,0.9',
      '--out',
      out,
    );
    assert.equal(result.status, 0, result.stderr);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, 6);
    const header = lines[0].split(',');
    assert.equal(header.length, 1 + 4 * 4);
    assert.deepEqual(header.slice(0, 5), [
      'step',
      'temp_max_mean',
      'temp_max_q0.1',
      'temp_max_q0.5',
      'temp_max_q0.9',
    ]);
    lines.slice(1).forEach((line, h) => {
      const cells = line.split(',').map(Number);
      assert.equal(cells[0], h + 1);
      assert.ok(cells.every(Number.isFinite));
      for (let c = 0; c < 4; c++) {
        const [q1, q5, q9] = cells.slice(2 + 4 * c, 5 + 4 * c);
        assert.ok(q1 <= q5 && q5 <= q9, line);
      }
    });
  });

  it('misuse is a one-line error, exit 2, and nothing is written', () => {
    const out = join(dir, 'bad.csv');
    const cases: [string[], RegExp][] = [
      [['--horizon', '8'], /--horizon/],
      [['--quantiles', '0.9,0.1'], /ascending/],
      [['--samples', '1'], /--samples/],
      [['--sampler', 'nope'], /sampler/],
    ];
    for (const [flags, message] of cases) {
      const result = run('forecast', '--model', runDir, '--input', weather, '--out', out, ...flags);
      assert.equal(result.status, 2, `${flags.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
    const wrong = join(dir, 'wrong.csv');
    writeFileSync(wrong, 'a,b\n1,2\n');
    const missing = run('forecast', '--model', runDir, '--input', wrong, '--out', out);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /no column 'temp_max'/);
    const short = join(dir, 'short.csv');
    writeFileSync(short, 'temp_max,temp_min,precipitation,wind\n1,2,3,4\n');
    const few = run('forecast', '--model', runDir, '--input', short, '--out', out);
    assert.equal(few.status, 2);
    assert.match(few.stderr, /needs the last 25/);
    assert.ok(!existsSync(out));
  });
});
