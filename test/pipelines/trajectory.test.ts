/**
 * Trajectories: the collector keeps the chosen steps, the last kept frame is the returned sample, and the
 * renderings have the sizes the grid layout implies with the final panel showing the final sample.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomNoiseSource } from '../../src/diffusion/samplers/common.js';
import { expectSchedulerClass, schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { tensorToImages } from '../../src/io/images.js';
import { img2img, type EditSampler } from '../../src/pipelines/img2img.js';
import {
  keepsStep,
  trajectoryCollector,
  trajectoryGif,
  trajectoryGifFrames,
  trajectoryScatter,
  trajectoryStrip,
} from '../../src/pipelines/trajectory.js';
import { Random } from '../../src/util/random.js';
import { oracleSetup } from '../diffusion/oracle-harness.js';

const EXAMPLE = [1, 8, 8];

/** A stand-in ε-network (ε̂ = 0.8·x) on two 1×8×8 images: enough to move x along a real DDIM path. */
function imageSampler(callback: EditSampler['callback']): EditSampler {
  return {
    model: async (x) => x.map((v) => 0.8 * v),
    config: schedulerConfig('DDIMScheduler'),
    numInferenceSteps: 10,
    noiseSource: randomNoiseSource(new Random(4)),
    callback,
  };
}

test('keepsStep spreads `count` frames from first to last and reads negative indices from the end', () => {
  const kept = (options: object) => [...Array(10).keys()].filter((s) => keepsStep(options, s, 10));
  assert.deepEqual(kept({ count: 4 }), [0, 3, 6, 9]);
  assert.deepEqual(kept({ steps: [0, -1] }), [0, 9]);
  assert.deepEqual(kept({ count: 1 }), [9]);
  assert.equal(kept({}).length, 10);
});

test('image trajectory: frame count, strip and GIF sizes, final frame = final sample', async () => {
  const { callback, frames } = trajectoryCollector({ count: 4 });
  const input = { data: new Float32Array(2 * 64).fill(0.2), shape: [2, ...EXAMPLE] };
  const result = await img2img(imageSampler(callback), input, 1);
  assert.equal(frames.length, 4);
  assert.deepEqual(
    frames.map((f) => f.step),
    [0, 3, 6, 9],
  );
  assert.deepEqual(frames[3].sample, result);

  const strip = trajectoryStrip(frames, EXAMPLE, { index: 1 });
  assert.equal(strip.width, 4 * (8 + 2) + 2);
  assert.equal(strip.height, 2 * (8 + 2) + 2);
  // The top-right panel is example 1 of the final sample, pixel for pixel.
  const final = tensorToImages(result.subarray(64, 128), EXAMPLE)[0];
  const x0 = 3 * 10 + 2;
  for (let y = 0; y < 8; y++) {
    const row = strip.data.subarray(((2 + y) * strip.width + x0) * 4, ((2 + y) * strip.width + x0 + 8) * 4);
    assert.deepEqual(row, final.data.subarray(y * 8 * 4, (y + 1) * 8 * 4));
  }

  const gifFrames = trajectoryGifFrames(frames, EXAMPLE);
  assert.equal(gifFrames.length, 4);
  assert.deepEqual([gifFrames[0].width, gifFrames[0].height], [2 * 10 + 2, 12]);
  const gif = trajectoryGif(frames, EXAMPLE);
  assert.equal(new TextDecoder().decode(gif.subarray(0, 6)), 'GIF89a');
  assert.ok(gif.length > 100);
});

test('2-D trajectory: a two-row scatter strip, one column per kept step', async () => {
  const { config: anyConfig, model } = oracleSetup('ddim');
  const config = expectSchedulerClass(anyConfig, 'DDIMScheduler');
  const { callback, frames } = trajectoryCollector({ steps: [0, 10, -1] });
  const input = { data: new Float32Array(200), shape: [100, 2] };
  const result = await img2img(
    { model, config, numInferenceSteps: 20, noiseSource: randomNoiseSource(new Random(9)), callback },
    input,
    1,
  );
  assert.deepEqual(
    frames.map((f) => f.step),
    [0, 10, 19],
  );
  assert.deepEqual(frames[2].sample, result);
  const strip = trajectoryScatter(frames, { size: 64 });
  assert.deepEqual([strip.width, strip.height], [3 * 66 + 2, 2 * 66 + 2]);
});
