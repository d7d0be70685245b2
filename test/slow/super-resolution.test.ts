// (SLOW=1) The shipped 14→28 MNIST super-resolution model (models/mnist-sr-14-28) against interpolation
// on 200 held-out digits (bench/super-resolution.ts: 10 DPM-Solver++ steps, augmentation level 0.1):
// one diffusion sample beats bicubic in mean PSNR by 2 dB, the mean of 3 samples by PSNR_MARGIN dB, and
// the classifier's accuracy on the diffusion outputs is within ACCURACY_SLACK of bicubic's (both are
// close to the originals' at ×2). The measured numbers are in docs/super-resolution.md. About a minute.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { superResolutionScores } from '../../bench/super-resolution.js';

const MODEL = new URL('../../models/mnist-sr-14-28', import.meta.url).pathname;
/** dB the mean of 3 samples must gain over bicubic (measured: docs/super-resolution.md). */
const PSNR_MARGIN = 3;
/** Accuracy the diffusion outputs may trail bicubic by (one or two of 200 digits). */
const ACCURACY_SLACK = 0.01;

describe('MNIST super-resolution 14→28 (slow)', () => {
  it('beats bicubic in PSNR and keeps its classifier accuracy', async () => {
    const { rows } = await superResolutionScores(MODEL, { count: 200, steps: 10, average: 3 });
    const row = (prefix: string) => rows.find((r) => r.method.startsWith(prefix))!;
    const bicubic = row('bicubic');
    const single = row('diffusion, 1 sample');
    const mean = row('diffusion, mean of 3');
    assert.ok(single.psnr > bicubic.psnr + 2, `single sample ${single.psnr} dB ≤ bicubic ${bicubic.psnr} dB`);
    assert.ok(
      mean.psnr > bicubic.psnr + PSNR_MARGIN,
      `mean of 3 ${mean.psnr} dB vs bicubic ${bicubic.psnr} dB`,
    );
    for (const r of [single, mean])
      assert.ok(
        r.accuracy >= bicubic.accuracy - ACCURACY_SLACK,
        `${r.method}: ${r.accuracy} vs ${bicubic.accuracy}`,
      );
  });
});
