/**
 * The HTTP service as a fastify app built from a loaded pipeline, so tests and the `serve` command
 * build it the same way. JSON in and out; bodies over `limits.bodyLimit` get 413, unknown routes a
 * 404 JSON error, and every error the `{ error: { code, message } }` body of http-errors.ts. Closing
 * the app is a graceful shutdown: fastify answers new requests with 503 while the queue cancels (or,
 * with `shutdown: 'finish'`, lets finish) the jobs it holds, so open event streams end with their
 * job's last event before the server stops. The editing routes take base64 image uploads checked
 * against `uploads` before decoding, the model's files are served read-only for the playground, `timeouts` bound how long a slow client is waited for, and
 * `staticDir` (the built playground) is served at `/`.
 *
 * This module must not load models or listen on a port; the caller does both.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Runtime } from '../engine/index.js';
import type { LoadedPipeline } from '../models/pipeline-folder.js';
import { serverContext } from './context.js';
import { errorAnswer } from './http-errors.js';
import { registerGenerateRoutes } from './routes/generate.js';
import { registerEditRoutes } from './routes/edit.js';
import { registerInfoRoutes } from './routes/info.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerModelFileRoutes } from './routes/model-files.js';
import { DEFAULT_LIMITS, type ServerLimits } from './schemas.js';
import { registerStaticFiles } from './static.js';
import { DEFAULT_TIMEOUTS, fastifyTimeoutOptions, type ServerTimeouts } from './timeouts.js';
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from './uploads.js';

export interface AppOptions {
  readonly pipeline: LoadedPipeline;
  readonly limits?: Partial<ServerLimits>;
  /** Runtime the generations compile on; default onnxruntime-node. */
  readonly runtime?: Runtime;
  /** On close: cancel running jobs (default) or let them finish. */
  readonly shutdown?: 'cancel' | 'finish';
  /** Log requests with fastify's logger (pino); default off. */
  readonly logger?: boolean;
  /** `redis://HOST:PORT` of a job queue shared with other instances; in-process by default. */
  readonly queue?: string;
  /** Limits of the image uploads of the editing routes. */
  readonly uploads?: Partial<UploadLimits>;
  /** How long a slow or silent client is waited for. */
  readonly timeouts?: Partial<ServerTimeouts>;
  /** A folder of built files (the playground) to serve at `/`; none by default. */
  readonly staticDir?: string;
}

export function buildApp(options: AppOptions): FastifyInstance {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const uploads: UploadLimits = { ...DEFAULT_UPLOAD_LIMITS, ...options.uploads };
  const context = serverContext(options.pipeline, limits, options.runtime, options.queue, uploads);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: limits.bodyLimit,
    ...fastifyTimeoutOptions({ ...DEFAULT_TIMEOUTS, ...options.timeouts }),
  });
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
  registerModelFileRoutes(app, context);
  registerGenerateRoutes(app, context);
  registerJobRoutes(app, context);
  registerEditRoutes(app, context, uploads);
  if (options.staticDir !== undefined) registerStaticFiles(app, options.staticDir);
  app.addHook('onReady', () => context.jobs.ready());
  app.addHook('preClose', () => context.close(options.shutdown ?? 'cancel'));
  app.addHook('onClose', () => context.denoiser.dispose());
  return app;
}
