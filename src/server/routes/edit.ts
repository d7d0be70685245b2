/**
 * The image-editing routes: `POST /v1/edit` (image-to-image, SDEdit: noise to `strength` ∈ [0, 1] and
 * denoise with DDIM), `POST /v1/inpaint` (fill the white part of `mask`; RePaint or replacement) and
 * `POST /v1/denoise` (remove Gaussian noise of a given or estimated σ). They run the library pipelines
 * (`img2img`, `inpaint`, `restore`) on the service's compiled network exactly as the CLI commands do,
 * through the same job queue as generation (so they share its concurrency bound and its 503s, and a
 * client that leaves cancels its work between steps). The same tasks run as jobs (`POST /v1/jobs` with
 * `kind`), through `editTask` and `runEditTask`. Images come as base64 PNG/JPEG fields, size-checked
 * before decoding (uploads.ts); the answer is the result as a PNG, or with `format: 'json'` the numbers
 * and one base64 PNG, as `/v1/generate` answers. Every invalid request is a 400 naming the field.
 *
 * This module must not load models or decode images itself; it validates, queues and renders.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { randomNoiseSource } from '../../diffusion/samplers/common.js';
import type { StepCallback } from '../../diffusion/samplers/types.js';
import { trainingAlphasCumprod } from '../../diffusion/timesteps.js';
import { encodePng, imageToTensor, tensorToImages, type ImageChannels } from '../../io/images.js';
import { editScheduleOf, keepMask } from '../../pipelines/edit-inputs.js';
import { guidedModel } from '../../pipelines/generate.js';
import { img2img, strengthStart, type EditInput, type EditSampler } from '../../pipelines/img2img.js';
import { inpaint, INPAINT_METHODS, repaintLevels } from '../../pipelines/inpaint.js';
import { restorationSigma, restore, timestepForSigma } from '../../pipelines/restore.js';
import { UsageError } from '../../util/errors.js';
import { Random } from '../../util/random.js';
import type { ServerContext } from '../context.js';
import type { GenerationResult } from '../generation.js';
import { EDIT_KINDS, type EditKind } from '../job-requests.js';
import { JobCancelledError, type Job, type JobProgress } from '../jobs.js';
import type { ServerLimits } from '../schemas.js';
import { decodeUpload, type UploadLimits } from '../uploads.js';

/** A validated editing request, ready to queue. */
export interface EditTask {
  /** The uploaded image as a [1, C, H, W] tensor in [−1, 1]. */
  readonly input: EditInput;
  readonly format: 'png' | 'json';
  /** Fields the JSON answer carries besides the numbers and the image. */
  readonly details: Record<string, unknown>;
  /** Runs the pipeline, calling `callback` after every model step. */
  run(callback: StepCallback): Promise<Float32Array>;
}

/** The service's model as the editing pipelines need it, or a UsageError for one they cannot edit. */
function editableModel(context: ServerContext) {
  const { network, schedulerConfig, vae } = context.pipeline;
  const shape = network.sampleShape;
  if (vae !== undefined || shape.length !== 3 || (shape[0] !== 1 && shape[0] !== 3)) {
    throw new UsageError(
      `editing needs a pixel-space model of 1- or 3-channel images; this ${network.className} makes ${vae ? 'latents' : 'samples'} of shape [${shape.join(', ')}]`,
    );
  }
  const [channels, height, width] = shape;
  return { network, config: editScheduleOf(schedulerConfig), channels, size: { width, height } };
}

type EditableModel = ReturnType<typeof editableModel>;

/** Fields every editing route shares. */
const commonFields = (limits: ServerLimits) => ({
  /** The input image: base64 PNG or JPEG of the model's size. */
  image: z.string(),
  /** Length of the DDIM timetable (the run may use only its tail). */
  steps: z.number().int().min(1).max(limits.maxSteps).default(50),
  /** `png`: the result as a picture; `json`: its numbers and a base64 PNG. */
  format: z.enum(['png', 'json']).default('png'),
});

/** Fields of the routes that draw noise and may steer towards a class. */
const samplingFields = {
  /** Seed of the noise the pipeline draws: the same seed gives the same result. */
  seed: z.number().int().min(0).max(0xffffffff).default(0),
  /** Class label for a class-conditional model. */
  class: z.number().int().min(0).optional(),
  /** Classifier-free guidance scale (needs `class`). */
  guidance: z.number().min(0).max(100).optional(),
};

const editSchema = (limits: ServerLimits) =>
  z.strictObject({
    ...commonFields(limits),
    ...samplingFields,
    /** In [0, 1]: 0 returns the input, 1 ignores it. */
    strength: z.number().min(0).max(1),
    /** DDIM's η: 0 deterministic, 1 DDPM-like. */
    eta: z.number().min(0).max(1).default(0),
  });

const inpaintSchema = (limits: ServerLimits) =>
  z.strictObject({
    ...commonFields(limits),
    ...samplingFields,
    /** Base64 PNG/JPEG of the image's size: white = fill, black = keep. */
    mask: z.string(),
    method: z.enum(INPAINT_METHODS).default('repaint'),
    /** RePaint: levels gone back up per jump. */
    jumpLength: z.number().int().min(1).max(1000).default(10),
    /** RePaint: times each jump interval is denoised. */
    resamplings: z.number().int().min(1).max(100).default(10),
    eta: z.number().min(0).max(1).default(1),
  });

const denoiseSchema = (limits: ServerLimits) =>
  z.strictObject({
    ...commonFields(limits),
    /** Noise standard deviation in the model's [−1, 1] units; estimated from the image when absent. */
    sigma: z.number().min(0).max(1000).optional(),
  });

/** The body parsed with `schema`, or a UsageError naming the first bad field. */
function parseBody<T extends z.ZodType>(schema: T, raw: unknown): z.output<T> {
  const parsed = schema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    throw new UsageError(`unknown field '${issue.keys[0]}' in the request body`);
  }
  const field = issue.path.length > 0 ? issue.path.join('.') : 'body';
  throw new UsageError(`invalid '${field}': ${issue.message}`);
}

/** `steps` checked against the model's training timesteps (a timetable cannot be longer). */
function checkSteps(steps: number, model: EditableModel): void {
  const most = model.config.numTrainTimesteps;
  if (steps > most) {
    throw new UsageError(`invalid 'steps': ${steps} exceeds the model's ${most} training timesteps`);
  }
}

/** The model function for `class` and `guidance`, checked against the network's classes. */
function conditionedModel(
  context: ServerContext,
  model: EditableModel,
  body: { class?: number; guidance?: number },
) {
  const { network } = model;
  if (body.guidance !== undefined && body.class === undefined) {
    throw new UsageError(`invalid 'guidance': guidance steers towards a class; give 'class' too`);
  }
  if (body.class !== undefined) {
    if (network.numClassEmbeds === null) {
      throw new UsageError(`invalid 'class': this ${network.className} is unconditional; leave it out`);
    }
    const real = network.numClassEmbeds - 1;
    if (body.class >= real)
      throw new UsageError(`invalid 'class': ${body.class} is out of range; use 0..${real - 1}`);
  }
  const labels = body.class === undefined ? null : new BigInt64Array(1).fill(BigInt(body.class));
  const nullClass = (network.numClassEmbeds ?? 1) - 1;
  return guidedModel(context.denoiser.denoise, labels, body.guidance ?? 1, nullClass);
}

/** The `image` field decoded (size-checked first) as the model's [1, C, H, W] input. */
function uploadedImage(value: unknown, model: EditableModel, uploads: UploadLimits) {
  const image = decodeUpload(value, 'image', uploads, { size: model.size, sizeOf: "the model's size" });
  const tensor = imageToTensor(image, { channels: model.channels as ImageChannels });
  return { image, input: { data: tensor.data, shape: tensor.shape } as EditInput };
}

function editTask(context: ServerContext, raw: unknown, uploads: UploadLimits): EditTask {
  const model = editableModel(context);
  const body = parseBody(editSchema(context.limits), raw);
  checkSteps(body.steps, model);
  const modelFn = conditionedModel(context, model, body);
  const { input } = uploadedImage(body.image, model, uploads);
  const stepsRun = body.steps - strengthStart(body.steps, body.strength);
  return {
    input,
    format: body.format,
    details: { strength: body.strength, steps: body.steps, stepsRun, seed: body.seed },
    run: (callback) =>
      img2img(
        {
          model: modelFn,
          config: model.config,
          numInferenceSteps: body.steps,
          eta: body.eta,
          noiseSource: randomNoiseSource(new Random(body.seed)),
          callback,
        },
        input,
        body.strength,
      ),
  };
}

/** Model calls an inpainting run makes: one per downward move of its level sequence. */
function inpaintModelCalls(body: { method: string; steps: number; jumpLength: number; resamplings: number }) {
  if (body.method === 'replace') return body.steps;
  const levels = repaintLevels(body.steps, Math.min(body.jumpLength, body.steps), body.resamplings);
  return levels.reduce((calls, level, i) => calls + (i > 0 && level > levels[i - 1] ? 1 : 0), 0);
}

function inpaintTask(context: ServerContext, raw: unknown, uploads: UploadLimits): EditTask {
  const model = editableModel(context);
  const body = parseBody(inpaintSchema(context.limits), raw);
  checkSteps(body.steps, model);
  const calls = inpaintModelCalls(body);
  if (calls > context.limits.maxSteps) {
    throw new UsageError(
      `invalid 'resamplings': RePaint with these steps, jumpLength and resamplings makes ${calls} model calls; this server allows ${context.limits.maxSteps}`,
    );
  }
  const modelFn = conditionedModel(context, model, body);
  const { image, input } = uploadedImage(body.image, model, uploads);
  const maskImage = decodeUpload(body.mask, 'mask', uploads, { size: image, sizeOf: "the size of 'image'" });
  const mask = keepMask(maskImage, model.channels);
  const filled = mask.data.reduce((n, m) => n + (m === 0 ? 1 : 0), 0) / model.channels;
  return {
    input,
    format: body.format,
    details: { method: body.method, steps: body.steps, modelCalls: calls, filled, seed: body.seed },
    run: (callback) =>
      inpaint(
        {
          model: modelFn,
          config: model.config,
          numInferenceSteps: body.steps,
          eta: body.eta,
          noiseSource: randomNoiseSource(new Random(body.seed)),
          callback,
        },
        {
          image: input,
          mask,
          method: body.method,
          jumpLength: body.jumpLength,
          resamplings: body.resamplings,
        },
      ),
  };
}

function denoiseTask(context: ServerContext, raw: unknown, uploads: UploadLimits): EditTask {
  const model = editableModel(context);
  const body = parseBody(denoiseSchema(context.limits), raw);
  checkSteps(body.steps, model);
  const { input } = uploadedImage(body.image, model, uploads);
  const sigma = restorationSigma({ image: input, sigma: body.sigma ?? 'estimate' });
  const alphas = trainingAlphasCumprod(model.config);
  const last = alphas[alphas.length - 1];
  const largest = Math.sqrt((1 - last) / last);
  if (sigma > largest) {
    const how = body.sigma === undefined ? 'the estimated σ' : 'σ';
    throw new UsageError(
      `invalid 'sigma': ${how} ${sigma.toFixed(4)} exceeds the schedule's largest σ ${largest.toFixed(3)}`,
    );
  }
  const sampler: EditSampler = {
    model: conditionedModel(context, model, {}),
    config: model.config,
    numInferenceSteps: body.steps,
  };
  return {
    input,
    format: body.format,
    details: {
      sigma,
      sigmaEstimated: body.sigma === undefined,
      startTimestep: timestepForSigma(alphas, sigma),
      steps: body.steps,
    },
    run: (callback) => restore({ ...sampler, callback }, { image: input, sigma }),
  };
}

/** The result as the response body: one PNG, or JSON with the numbers and the PNG in base64. */
function rendered(result: Float32Array, task: EditTask): GenerationResult {
  const png = Buffer.from(encodePng(tensorToImages(result, task.input.shape)[0]));
  if (task.format === 'png') return { contentType: 'image/png', body: png };
  const json = {
    shape: task.input.shape,
    ...task.details,
    samples: Array.from(result),
    images: [png.toString('base64')],
  };
  return { contentType: 'application/json', body: Buffer.from(JSON.stringify(json)) };
}

const TASKS: Record<EditKind, typeof editTask> = {
  edit: editTask,
  inpaint: inpaintTask,
  denoise: denoiseTask,
};

/** The validated task of an editing body of `kind`; a UsageError (400) naming the first bad field. */
export function editTaskOf(
  kind: EditKind,
  context: ServerContext,
  raw: unknown,
  uploads: UploadLimits,
): EditTask {
  return TASKS[kind](context, raw, uploads);
}

/** Runs the task, reporting progress after every model step and stopping once `signal` aborts. */
export async function runEditTask(
  task: EditTask,
  signal: AbortSignal,
  report: (progress: JobProgress) => void,
): Promise<GenerationResult> {
  if (signal.aborted) throw new JobCancelledError();
  const result = await task.run((info) => {
    if (signal.aborted) throw new JobCancelledError();
    report({ step: info.step + 1, numSteps: info.numSteps });
  });
  return rendered(result, task);
}

/** The task queued; its step callback reports progress and stops it once the job is cancelled. */
function submitted(context: ServerContext, task: EditTask): Job<GenerationResult> {
  return context.queue.submit((signal, report) => runEditTask(task, signal, report));
}

/** Waits for the job (cancelling it if the client leaves) and sends its body. */
async function answer(context: ServerContext, job: Job<GenerationResult>, reply: FastifyReply) {
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) context.queue.cancel(job.id);
  });
  await job.settled;
  if (job.status !== 'succeeded') throw job.error;
  return reply.type(job.result!.contentType).send(job.result!.body);
}

export function registerEditRoutes(
  app: FastifyInstance,
  context: ServerContext,
  uploads: UploadLimits,
): void {
  const options = { bodyLimit: uploads.bodyLimit };
  for (const kind of EDIT_KINDS) {
    app.post(`/v1/${kind}`, options, async (request, reply) =>
      answer(context, submitted(context, editTaskOf(kind, context, request.body, uploads)), reply),
    );
  }
}
