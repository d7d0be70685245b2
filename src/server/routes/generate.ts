/**
 * `POST /v1/generate`: a generation answered in the same response. The request still goes through
 * the job queue, so synchronous and job requests share one concurrency bound; if the client goes
 * away before the answer, its job is cancelled.
 *
 * This module must not validate fields or render samples itself (schemas.ts, generation.ts do).
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';

export function registerGenerateRoutes(app: FastifyInstance, context: ServerContext): void {
  app.post('/v1/generate', async (request, reply) => {
    const job = context.submit(request.body);
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) context.queue.cancel(job.id);
    });
    await job.settled;
    if (job.status !== 'succeeded') throw job.error;
    const result = job.result!;
    return reply.type(result.contentType).send(result.body);
  });
}
