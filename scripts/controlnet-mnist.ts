/**
 * Edge agreement of an MNIST ControlNet folder (written by `diffusion train-control`): takes `--num`
 * test digits spread over the classes, turns them into Canny edge maps, draws one sample per map with
 * the ControlNet and one from the same noise without it (null class: no label help), and prints the
 * mean Chamfer distance and IoU of the samples' edges to the given edges as JSON (see
 * src/pipelines/control.ts). `--grid FILE` writes a PNG: given edges, controlled samples, uncontrolled
 * samples, one row each.
 */
import { parseArgs } from 'node:util';
import { edgeMaps } from '../src/data/edges.js';
import { mnistDataset } from '../src/data/mnist.js';
import { imageGrid, tensorToImages, writePng } from '../src/io/images.js';
import { loadControlNet } from '../src/models/controlnet-folder.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { edgeAgreement } from '../src/pipelines/control.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    num: { type: 'string', default: '16' },
    steps: { type: 'string', default: '20' },
    scale: { type: 'string', default: '1' },
    seed: { type: 'string', default: '0' },
    grid: { type: 'string' },
  },
});
if (!values.model) throw new Error('pass --model DIR (a folder written by diffusion train-control)');
const pipeline = loadPipeline(values.model);
const control = loadControlNet(values.model);
if (!control) throw new Error(`'${values.model}' holds no ControlNet`);
const num = Number(values.num);
const test = mnistDataset({ split: 'test' });
// Every (size / num)-th test digit: the test split is sorted by class, so this spreads over all ten.
const indices = Array.from({ length: num }, (_, i) => Math.floor((i * test.size) / num));
const images = test.batch(indices).x;
const edges = edgeMaps(images, [num, 1, 28, 28], { range: 'minus-one-one' });
const result = await edgeAgreement({
  network: pipeline.network,
  params: pipeline.params,
  schedulerConfig: pipeline.schedulerConfig,
  numSteps: Number(values.steps),
  seed: Number(values.seed),
  control: { network: control.model, params: control.params, scale: Number(values.scale) },
  edges,
});
process.stdout.write(
  `${JSON.stringify({ num, steps: Number(values.steps), scale: Number(values.scale), controlled: result.controlled, uncontrolled: result.uncontrolled })}\n`,
);
if (values.grid) {
  const rows = [edges.map((v) => 2 * v - 1), result.samples.controlled, result.samples.uncontrolled];
  const tiles = rows.flatMap((data) => tensorToImages(data, [num, 1, 28, 28]));
  writePng(values.grid, imageGrid(tiles, { nrow: num }));
}
