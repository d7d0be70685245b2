/**
 * `GET /health` (liveness plus queue load) and `GET /v1/models` (what the loaded model is and what a
 * generation request may ask of it: class, config, sample shape, class count, parameter count,
 * sampler names, limits).
 *
 * This module must not run the model; it only describes it.
 */
import type { FastifyInstance } from 'fastify';
import { samplerNames } from '../../diffusion/samplers/registry.js';
import type { Params } from '../../models/types.js';
import type { ServerContext } from '../context.js';

/** Total number of scalar parameters. */
const parameterCount = (params: Params): number =>
  Object.values(params).reduce((total, p) => total + p.data.length, 0);

/** The `/v1/models` entry of the loaded pipeline. */
function modelDescription(context: ServerContext) {
  const { network, params, schedulerConfig, vae } = context.pipeline;
  const { maxNum, maxSteps } = context.limits;
  return {
    id: 'default',
    class: network.className,
    config: network.config,
    sampleShape: network.sampleShape,
    // The last class embedding is the null class used for unconditional guidance.
    numClasses: network.numClassEmbeds === null ? 0 : network.numClassEmbeds - 1,
    parameters: parameterCount(params),
    scheduler: schedulerConfig.className,
    latent: vae !== undefined,
    samplers: samplerNames(),
    limits: { maxNum, maxSteps },
  };
}

export function registerInfoRoutes(app: FastifyInstance, context: ServerContext): void {
  app.get('/health', () => ({
    status: 'ok',
    jobs: { active: context.queue.active, capacity: context.queue.capacity },
  }));
  app.get('/v1/models', () => ({ models: [modelDescription(context)] }));
}
