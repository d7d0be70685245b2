/**
 * Request validation for the HTTP service: the generation body (`POST /v1/generate`, `POST /v1/jobs`)
 * is parsed with zod against the server's limits, and then checked against the loaded model (class
 * labels, whether its samples have a picture). Every failure is a UsageError whose message names the
 * offending field, which the app turns into a 400.
 *
 * This module must not run anything: it only turns untrusted JSON into a typed, bounded request.
 */
import { z } from 'zod';
import { resolveSampler } from '../diffusion/samplers/registry.js';
import type { DenoiserNetwork } from '../models/types.js';
import { UsageError, isDiffusionError } from '../util/errors.js';

/** The bounds a server enforces; each keeps one request from taking the machine. */
export interface ServerLimits {
  /** Most samples one request may ask for. */
  readonly maxNum: number;
  /** Most sampler steps one request may ask for. */
  readonly maxSteps: number;
  /** Largest request body in bytes (larger bodies get 413). */
  readonly bodyLimit: number;
  /** Jobs that run at the same time. */
  readonly concurrency: number;
  /** Jobs that may wait for a free slot; beyond concurrency + maxQueued requests get 503. */
  readonly maxQueued: number;
  /** Finished jobs kept for status and result look-ups (oldest forgotten first). */
  readonly maxFinishedJobs: number;
  /** Seconds a client is told to wait (`Retry-After`) when the queue is full. */
  readonly retryAfterSeconds: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxNum: 64,
  maxSteps: 1000,
  bodyLimit: 16 * 1024,
  concurrency: 1,
  maxQueued: 8,
  maxFinishedJobs: 64,
  retryAfterSeconds: 2,
};

const samplerName = z.string().refine(
  (name) => {
    try {
      resolveSampler(name);
      return true;
    } catch (error) {
      if (isDiffusionError(error)) return false;
      throw error;
    }
  },
  { error: (issue) => `unknown sampler '${String(issue.input)}'; GET /v1/models lists the samplers` },
);

/** The zod schema of a generation body under `limits`. Unknown fields are refused. */
export function generateBodySchema(limits: ServerLimits) {
  return z.strictObject({
    /** Number of samples. */
    num: z.number().int().min(1).max(limits.maxNum).default(4),
    /** Sampler name; default: the model's own scheduler. */
    sampler: samplerName.optional(),
    /** Sampler steps (model calls for first-order samplers). */
    steps: z.number().int().min(1).max(limits.maxSteps).default(20),
    /** Classifier-free guidance scale (0 unconditional, 1 conditional, > 1 guided). */
    guidance: z.number().min(0).max(100).default(1),
    /** One class label for every sample (class-conditional models only). */
    class: z.number().int().min(0).optional(),
    /** Seed of the initial and injected noise: the same seed gives the same samples. */
    seed: z.number().int().min(0).max(0xffffffff).default(0),
    /** Scales the initial and injected noise (1 = the model's distribution). */
    temperature: z.number().min(0).max(10).default(1),
    /** `png`: one picture (grid or scatter plot); `json`: the numbers (and per-sample PNGs for images). */
    format: z.enum(['png', 'json']).default('png'),
  });
}

export type GenerateBody = z.output<ReturnType<typeof generateBodySchema>>;

/** The validated body; a UsageError naming the first bad field otherwise. */
export function parseGenerateBody(body: unknown, limits: ServerLimits): GenerateBody {
  if (body === undefined || body === null) return generateBodySchema(limits).parse({});
  const parsed = generateBodySchema(limits).safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    throw new UsageError(`unknown field '${issue.keys[0]}' in the request body`, {
      hint: 'fields: num, sampler, steps, guidance, class, seed, temperature, format',
    });
  }
  const field = issue.path.length > 0 ? issue.path.join('.') : 'body';
  throw new UsageError(`invalid '${field}': ${issue.message}`);
}

/** What a model's samples can be drawn as: an image grid, a 2-D scatter plot, or numbers only. */
export type PictureKind = 'image' | 'scatter' | 'none';

export function pictureKind(network: DenoiserNetwork, latent: boolean): PictureKind {
  const shape = network.sampleShape;
  if (latent) return 'none';
  if (shape.length === 3 && [1, 3, 4].includes(shape[0])) return 'image';
  if (shape.length === 1 && shape[0] === 2) return 'scatter';
  return 'none';
}

/** The body checked against the model: class labels it knows, and a picture it can draw. */
export function checkAgainstModel(body: GenerateBody, network: DenoiserNetwork, latent: boolean): void {
  if (body.class !== undefined) {
    if (network.numClassEmbeds === null) {
      throw new UsageError(`invalid 'class': this ${network.className} is unconditional; leave it out`);
    }
    const real = network.numClassEmbeds - 1;
    if (body.class >= real)
      throw new UsageError(`invalid 'class': ${body.class} is out of range; use 0..${real - 1}`);
  }
  if (body.format === 'png' && pictureKind(network, latent) === 'none') {
    throw new UsageError(
      `invalid 'format': samples of shape [${network.sampleShape.join(', ')}]${latent ? ' (latents)' : ''} have no picture; ask for 'json'`,
    );
  }
}
