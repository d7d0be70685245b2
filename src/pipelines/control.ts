/**
 * How closely a ControlNet makes samples follow the edges it is given: for each conditioning edge map,
 * one sample drawn with the ControlNet and one drawn from the same noise without it; the Canny edges
 * of both are compared with the given map (symmetric Chamfer distance in pixels and IoU at one pixel
 * of tolerance, `metrics/edge-distance.ts`). The uncontrolled samples are the baseline the ControlNet
 * must beat. `conditionFromImage` turns a picture into the conditioning image a ControlNet takes.
 *
 * This module must not train or write files; it only samples and measures.
 */
import { cannyEdges, edgeMaps } from '../data/edges.js';
import { imageToTensor, resizeImage, type RgbaImage } from '../io/images.js';
import { ConfigError } from '../util/errors.js';
import { chamferDistance, edgeIoU } from '../metrics/edge-distance.js';
import { generate, type ControlOptions, type GenerateOptions } from './generate.js';

export interface EdgeAgreementOptions extends Pick<
  GenerateOptions,
  'network' | 'params' | 'schedulerConfig' | 'sampler' | 'numSteps' | 'seed' | 'runtime'
> {
  control: Omit<ControlOptions, 'condition'>;
  /** Conditioning edge maps [count, 1, H, W] in {0, 1}, one sample each. */
  edges: Float32Array;
  /** Class labels per sample (a class-conditional network without them samples the null class). */
  classLabels?: readonly number[];
}

export interface EdgeScores {
  /** Mean symmetric Chamfer distance (pixels) between each sample's edges and its given edges. */
  chamfer: number;
  /** Mean IoU (one pixel of tolerance) between each sample's edges and its given edges. */
  iou: number;
}

export interface EdgeAgreement {
  controlled: EdgeScores;
  uncontrolled: EdgeScores;
  /** Samples [count, ...sampleShape] in [−1, 1], with and without the ControlNet. */
  samples: { controlled: Float32Array; uncontrolled: Float32Array };
}

/**
 * The conditioning image [1, ...conditionShape] for a picture: resized to the condition's size, grey
 * in [0, 1], then its Canny edges — or, when the picture already is an edge map (`isEdges`), thresholded
 * at ½. A condition of several channels gets the map in each.
 */
export function conditionFromImage(
  image: RgbaImage,
  conditionShape: readonly number[],
  options: { kind: string; isEdges?: boolean },
): Float32Array {
  if (options.kind !== 'edges') {
    throw new ConfigError(`conditioning kind '${options.kind}' is not supported`, {
      hint: 'supported: edges',
    });
  }
  const [channels, height, width] = conditionShape;
  const sized = resizeImage(image, width, height);
  const grey = imageToTensor(sized, { channels: 1, range: [0, 1] }).data;
  const map = options.isEdges ? grey.map((v) => (v >= 0.5 ? 1 : 0)) : cannyEdges(grey, height, width);
  const out = new Float32Array(channels * height * width);
  for (let c = 0; c < channels; c++) out.set(map, c * height * width);
  return out;
}

/** Mean scores of the samples' edges against the given edges. */
export function edgeScores(
  samples: Float32Array,
  given: Float32Array,
  sampleShape: readonly number[],
): EdgeScores {
  const [channels, height, width] = sampleShape;
  const plane = height * width;
  const count = given.length / plane;
  const found = edgeMaps(samples, [count, channels, height, width], { range: 'minus-one-one' });
  let chamfer = 0;
  let iou = 0;
  for (let i = 0; i < count; i++) {
    const a = found.subarray(i * plane, (i + 1) * plane);
    const b = given.subarray(i * plane, (i + 1) * plane);
    chamfer += chamferDistance(a, b, height, width) / count;
    iou += edgeIoU(a, b, height, width) / count;
  }
  return { chamfer, iou };
}

/** Controlled and uncontrolled samples from the same noise, scored against the given edges. */
export async function edgeAgreement(options: EdgeAgreementOptions): Promise<EdgeAgreement> {
  const { network, edges } = options;
  const [, height, width] = network.sampleShape;
  const count = edges.length / (height * width);
  const common: GenerateOptions = {
    network,
    params: options.params,
    schedulerConfig: options.schedulerConfig,
    numSteps: options.numSteps,
    numSamples: count,
    seed: options.seed ?? 0,
    ...(options.sampler !== undefined ? { sampler: options.sampler } : {}),
    ...(options.runtime !== undefined ? { runtime: options.runtime } : {}),
    ...(options.classLabels !== undefined ? { classLabels: options.classLabels } : {}),
  };
  const controlled = await generate({ ...common, control: { ...options.control, condition: edges } });
  const uncontrolled = await generate(common);
  return {
    controlled: edgeScores(controlled, edges, network.sampleShape),
    uncontrolled: edgeScores(uncontrolled, edges, network.sampleShape),
    samples: { controlled, uncontrolled },
  };
}
