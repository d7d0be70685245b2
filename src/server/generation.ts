/**
 * One generation request turned into a response body: `generate` from the pipelines layer runs the
 * loaded model with the request's sampler, steps, guidance, class, seed and temperature; a step
 * callback reports progress and throws JobCancelledError once the job's signal is aborted, so a
 * cancel stops the sampler loop between steps. The samples become a PNG (an image grid, or a scatter
 * plot for 2-D points) or JSON with the numbers (and one base64 PNG per sample for image models).
 *
 * This module must not know about HTTP routes or the queue: it maps (model, request) to bytes.
 */
import { encodePng, imageGrid, tensorToImages } from '../io/images.js';
import { scatterPlot } from '../io/scatter.js';
import type { LoadedPipeline } from '../models/pipeline-folder.js';
import { generate, type CompiledDenoiser } from '../pipelines/generate.js';
import { JobCancelledError, type JobProgress } from './jobs.js';
import { pictureKind, type GenerateBody } from './schemas.js';

/** A finished response body with its media type. */
export interface GenerationResult {
  readonly contentType: 'image/png' | 'application/json';
  readonly body: Buffer;
}

/** Samples per grid row: a near-square grid. */
const gridRow = (num: number): number => Math.ceil(Math.sqrt(num));

/** The samples as one PNG: a grid of images, or a scatter plot of 2-D points. */
function picture(samples: Float32Array, body: GenerateBody, pipeline: LoadedPipeline): Buffer {
  const { network } = pipeline;
  if (pictureKind(network, pipeline.vae !== undefined) === 'image') {
    const images = tensorToImages(samples, [body.num, ...network.sampleShape]);
    return Buffer.from(encodePng(imageGrid(images, { nrow: gridRow(body.num) })));
  }
  const labels = body.class === undefined ? undefined : new Array<number>(body.num).fill(body.class);
  return Buffer.from(encodePng(scatterPlot(samples, { size: 256, ...(labels ? { labels } : {}) })));
}

/** The samples as JSON: shape, flat numbers, and per-sample base64 PNGs for image models. */
function numbers(samples: Float32Array, body: GenerateBody, pipeline: LoadedPipeline): Buffer {
  const { network } = pipeline;
  const images =
    pictureKind(network, pipeline.vae !== undefined) === 'image'
      ? tensorToImages(samples, [body.num, ...network.sampleShape]).map((image) =>
          Buffer.from(encodePng(image)).toString('base64'),
        )
      : undefined;
  const json = {
    shape: [body.num, ...network.sampleShape],
    sampler: body.sampler ?? pipeline.schedulerConfig.className,
    steps: body.steps,
    seed: body.seed,
    samples: Array.from(samples),
    ...(images ? { images } : {}),
  };
  return Buffer.from(JSON.stringify(json));
}

/** Runs one request on the loaded model; stops with JobCancelledError between steps once `signal` aborts. */
export async function runGeneration(
  pipeline: LoadedPipeline,
  body: GenerateBody,
  options: { signal: AbortSignal; report: (progress: JobProgress) => void; denoiser: CompiledDenoiser },
): Promise<GenerationResult> {
  const { signal, report } = options;
  if (signal.aborted) throw new JobCancelledError();
  const samples = await generate({
    network: pipeline.network,
    params: pipeline.params,
    schedulerConfig: pipeline.schedulerConfig,
    numSamples: body.num,
    numSteps: body.steps,
    seed: body.seed,
    temperature: body.temperature,
    guidance: body.guidance,
    ...(body.sampler !== undefined ? { sampler: body.sampler } : {}),
    ...(body.class !== undefined ? { classLabels: body.class } : {}),
    denoiser: options.denoiser,
    callback: (info) => {
      if (signal.aborted) throw new JobCancelledError();
      report({ step: info.step + 1, numSteps: info.numSteps });
    },
  });
  return body.format === 'png'
    ? { contentType: 'image/png', body: picture(samples, body, pipeline) }
    : { contentType: 'application/json', body: numbers(samples, body, pipeline) };
}
