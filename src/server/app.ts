/**
 * The HTTP service as a fastify app built from a loaded pipeline, so tests and the `serve` command
 * build it the same way. JSON in and out; bodies over `limits.bodyLimit` get 413, unknown routes a
 * 404 JSON error, and every error the `{ error: { code, message } }` body of http-errors.ts. Closing
 * the app is a graceful shutdown: fastify answers new requests with 503 while the queue cancels (or,
 * with `shutdown: 'finish'`, lets finish) the jobs it holds, so open event streams end with their
 * job's last event before the server stops.
 *
 * This module must not load models or listen on a port; the caller does both.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Runtime } from '../engine/index.js';
import type { LoadedPipeline } from '../models/pipeline-folder.js';
import { serverContext } from './context.js';
import { errorAnswer } from './http-errors.js';
import { registerGenerateRoutes } from './routes/generate.js';
import { registerInfoRoutes } from './routes/info.js';
import { registerJobRoutes } from './routes/jobs.js';
import { DEFAULT_LIMITS, type ServerLimits } from './schemas.js';

export interface AppOptions {
  readonly pipeline: LoadedPipeline;
  readonly limits?: Partial<ServerLimits>;
  /** Runtime the generations compile on; default onnxruntime-node. */
  readonly runtime?: Runtime;
  /** On close: cancel running jobs (default) or let them finish. */
  readonly shutdown?: 'cancel' | 'finish';
  /** Log requests with fastify's logger (pino); default off. */
  readonly logger?: boolean;
}

export function buildApp(options: AppOptions): FastifyInstance {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const context = serverContext(options.pipeline, limits, options.runtime);
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: limits.bodyLimit });
  app.setErrorHandler((error, request, reply) => {
    const answer = errorAnswer(error, limits.retryAfterSeconds);
    if (answer.status >= 500 && answer.code === 'internal') request.log.error(error);
    if (answer.retryAfter !== undefined) void reply.header('retry-after', String(answer.retryAfter));
    return reply.code(answer.status).send({ error: { code: answer.code, message: answer.message } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: { code: 'not-found', message: `no route ${request.method} ${request.url.split('?')[0]}` },
    }),
  );
  registerInfoRoutes(app, context);
  registerGenerateRoutes(app, context);
  registerJobRoutes(app, context);
  app.addHook('preClose', () => context.queue.close(options.shutdown ?? 'cancel'));
  app.addHook('onClose', () => context.denoiser.dispose());
  return app;
}
