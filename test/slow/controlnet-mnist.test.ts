// (SLOW=1) A ControlNet trained on MNIST Canny edges for 300 steps against the frozen models/mnist-unet
// makes digits whose edges follow the given edges: over 16 test digits (null class, 20 DPM-Solver++
// steps, the same noise with and without the ControlNet) the mean symmetric Chamfer distance between
// the samples' edges and the given edges drops by at least MARGIN pixels and the IoU rises. The measured
// numbers are in docs/controlnet.md. About 5 minutes of CPU.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { edgeConditionedDataset, edgeMaps } from '../../src/data/edges.js';
import { mnistDataset } from '../../src/data/mnist.js';
import { ControlNetModel } from '../../src/models/controlnet.js';
import { loadPipeline } from '../../src/models/pipeline-folder.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { edgeAgreement } from '../../src/pipelines/control.js';
import { trainControlNet } from '../../src/training/control.js';
import { Random } from '../../src/util/random.js';

const MODEL = new URL('../../models/mnist-unet', import.meta.url).pathname;
const STEPS = 300;
const COUNT = 16;
/** Chamfer pixels the ControlNet must gain over the uncontrolled samples (measured gain: docs/controlnet.md). */
const MARGIN = 1;

describe('ControlNet on MNIST edges (slow)', () => {
  it(`after ${STEPS} steps the samples follow the given edges`, async () => {
    const base = loadPipeline(MODEL);
    const { model, params } = ControlNetModel.fromUNet(
      base.network as UNet2DModel,
      base.params,
      new Random(0),
    );
    const trained = await trainControlNet({
      base,
      controlnet: model,
      initialParams: params,
      dataset: edgeConditionedDataset(mnistDataset({ split: 'train' })),
      steps: STEPS,
      batchSize: 16,
      lr: 1e-3,
      seed: 0,
    });
    const test = mnistDataset({ split: 'test' });
    const indices = Array.from({ length: COUNT }, (_, i) => Math.floor((i * test.size) / COUNT));
    const edges = edgeMaps(test.batch(indices).x, [COUNT, 1, 28, 28], { range: 'minus-one-one' });
    const result = await edgeAgreement({
      network: base.network,
      params: base.params,
      schedulerConfig: base.schedulerConfig,
      numSteps: 20,
      seed: 0,
      control: { network: model, params: trained.params },
      edges,
    });
    const { controlled, uncontrolled } = result;
    const report = JSON.stringify({ controlled, uncontrolled });
    assert.ok(controlled.chamfer < uncontrolled.chamfer - MARGIN, report);
    assert.ok(controlled.iou > uncontrolled.iou, report);
  });
});
