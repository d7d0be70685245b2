// Feedback pieces: the learning-rate schedule's shape, the JSONL metrics log and plain progress lines
// of a non-TTY stream, and the scatter plot of 2-D points (decodable PNG, points where they belong).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { decodePng, encodePng } from '../../src/io/images.js';
import { scatterPlot } from '../../src/io/scatter.js';
import { learningRate } from '../../src/training/lr.js';
import { progressReporter } from '../../src/training/progress.js';

describe('learning-rate schedule', () => {
  it('warms up linearly, then decays by a half cosine to the floor', () => {
    const schedule = { peak: 1, warmupSteps: 10, totalSteps: 110, name: 'cosine' as const, minRatio: 0.1 };
    assert.equal(learningRate(schedule, 5), 0.5);
    assert.equal(learningRate(schedule, 10), 1);
    assert.ok(Math.abs(learningRate(schedule, 60) - 0.55) < 1e-12);
    assert.ok(Math.abs(learningRate(schedule, 110) - 0.1) < 1e-12);
    assert.equal(learningRate({ ...schedule, name: 'constant' }, 100), 1);
  });
});

describe('progress reporter', () => {
  it('writes one JSONL line and one plain line per logEvery steps on a non-TTY stream', () => {
    const dir = mkdtempSync(join(tmpdir(), 'progress-'));
    try {
      const stream = new PassThrough() as unknown as NodeJS.WriteStream;
      let text = '';
      (stream as unknown as PassThrough).on('data', (chunk: Buffer) => (text += chunk.toString()));
      const metricsPath = join(dir, 'metrics.jsonl');
      const reporter = progressReporter({ stream, logEvery: 2, metricsPath, startStep: 0, totalSteps: 5 });
      for (let step = 1; step <= 5; step++) {
        reporter.onStep({ step, totalSteps: 5, loss: 1 / step, gradNorm: 1, lr: 0.01, stepsPerSecond: 100 });
      }
      reporter.finish();
      const lines = readFileSync(metricsPath, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { step: number; loss: number });
      assert.deepEqual(
        lines.map((l) => l.step),
        [2, 4, 5],
      );
      assert.equal(lines[1].loss, 0.25);
      assert.equal(text.trim().split('\n').length, 3);
      assert.match(text, /step 4\/5 {2}loss 0\.2500/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('scatter plot', () => {
  it('draws each point as a coloured disc at its place and round-trips through PNG', () => {
    const image = decodePng(encodePng(scatterPlot([1, 1, -1, -1], { size: 101, extent: 2, labels: [0, 1] })));
    const pixel = (x: number, y: number) =>
      Array.from(image.data.slice((y * 101 + x) * 4, (y * 101 + x) * 4 + 3));
    assert.deepEqual(pixel(75, 25), [31, 119, 180]); // (1, 1): right, up
    assert.deepEqual(pixel(25, 75), [255, 127, 14]); // (−1, −1), class 1
    assert.deepEqual(pixel(10, 10), [255, 255, 255]);
    assert.deepEqual(pixel(50, 10), [220, 220, 220]); // the vertical axis
  });
});
