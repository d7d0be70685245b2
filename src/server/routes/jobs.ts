/**
 * Long generations as jobs: `POST /v1/jobs` queues one (202 with its id and links), `GET /v1/jobs/:id`
 * gives status and progress, `GET /v1/jobs/:id/events` streams server-sent events (queued, started,
 * one progress event per sampler step, then done / failed / cancelled, each with a sequential id),
 * `GET /v1/jobs/:id/result` returns the finished body, and `DELETE /v1/jobs/:id` cancels.
 *
 * This module must not run generations itself; it only exposes the queue.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { NotFoundError } from '../../util/errors.js';
import type { ServerContext } from '../context.js';
import type { GenerationResult } from '../generation.js';
import { HttpStatusError } from '../http-errors.js';
import type { Job, JobEvent } from '../jobs.js';

type IdParams = { Params: { id: string } };

const links = (id: string) => ({
  self: `/v1/jobs/${id}`,
  events: `/v1/jobs/${id}/events`,
  result: `/v1/jobs/${id}/result`,
});

/** The status document of a job. */
function jobStatus(job: Job<GenerationResult>) {
  return {
    id: job.id,
    status: job.status,
    progress: job.progress,
    ...(job.status === 'succeeded' ? { result: links(job.id).result } : {}),
    ...(job.status === 'failed'
      ? { error: job.error instanceof Error ? job.error.message : String(job.error) }
      : {}),
    links: links(job.id),
  };
}

function findJob(context: ServerContext, id: string): Job<GenerationResult> {
  const job = context.queue.get(id);
  if (!job) throw new NotFoundError(`no job '${id}'`, { hint: 'finished jobs are kept only for a while' });
  return job;
}

const TERMINAL_EVENTS = new Set<JobEvent['type']>(['done', 'failed', 'cancelled']);

/** Streams the job's events as `text/event-stream` until its terminal event or the client leaves. */
function streamEvents(job: Job<GenerationResult>, reply: FastifyReply): void {
  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  let unsubscribe: (() => void) | null = null;
  let ended = false;
  const end = () => {
    ended = true;
    unsubscribe?.();
    out.end();
  };
  out.on('close', () => {
    ended = true;
    unsubscribe?.();
  });
  unsubscribe = job.follow((event, index) => {
    if (ended) return;
    const { type, ...data } = event;
    out.write(`id: ${index}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    if (TERMINAL_EVENTS.has(type)) end();
  });
  if (ended) unsubscribe();
}

export function registerJobRoutes(app: FastifyInstance, context: ServerContext): void {
  app.post('/v1/jobs', (request, reply) => {
    const job = context.submit(request.body);
    return reply.code(202).header('location', links(job.id).self).send(jobStatus(job));
  });
  app.get<IdParams>('/v1/jobs/:id', (request) => jobStatus(findJob(context, request.params.id)));
  app.get<IdParams>('/v1/jobs/:id/events', (request, reply) => {
    streamEvents(findJob(context, request.params.id), reply);
  });
  app.get<IdParams>('/v1/jobs/:id/result', (request, reply) => {
    const job = findJob(context, request.params.id);
    if (job.status !== 'succeeded') {
      const why = job.finished ? `ended as ${job.status}` : `is ${job.status}`;
      throw new HttpStatusError(409, 'no-result', `job '${job.id}' has no result: it ${why}`);
    }
    return reply.type(job.result!.contentType).send(job.result!.body);
  });
  app.delete<IdParams>('/v1/jobs/:id', (request) => {
    const job = findJob(context, request.params.id);
    const cancelled = context.queue.cancel(job.id);
    return { ...jobStatus(job), cancelled };
  });
}
