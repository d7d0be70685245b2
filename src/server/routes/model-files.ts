/**
 * The served model as a pipeline folder a browser can load: `GET /v1/models/files` lists the files
 * (path and size), and `GET /v1/models/files/<path>` answers one of them — model_index.json,
 * unet/config.json, unet/diffusion_pytorch_model.safetensors, scheduler/scheduler_config.json (and the
 * vae's two files for a latent model). The files are serialised from the loaded pipeline with the same
 * code that saves pipeline folders, once, on the first request, so they are exactly what `savePipeline`
 * would write for the model being served; nothing on disk is read, so no request can reach a file
 * outside the model. A path is looked up in that fixed set after decoding it once (as static.ts does);
 * anything else is a 404, and a file over `MAX_SERVED_BYTES` is refused with a 413.
 *
 * This module must not write files or run the model; it only hands out the loaded pipeline's bytes.
 */
import type { FastifyInstance } from 'fastify';
import { pipelineFiles } from '../../models/pipeline-folder.js';
import { NotFoundError } from '../../util/errors.js';
import type { ServerContext } from '../context.js';
import { HttpStatusError } from '../http-errors.js';
import { decodedPath } from '../static.js';

/** Largest file handed out, in bytes: a playground model is small; a bigger one would stall a tab. */
export const MAX_SERVED_BYTES = 512 * 1024 * 1024;
const PREFIX = '/v1/models/files/';

/** The pipeline's files by forward-slash path, serialised on first use. */
function folderFiles(context: ServerContext): () => Map<string, Uint8Array> {
  let files: Map<string, Uint8Array> | null = null;
  return () => {
    if (files) return files;
    const { network, params, schedulerConfig, vae, modelIndex } = context.pipeline;
    const entries = pipelineFiles({
      network,
      params,
      scheduler: schedulerConfig,
      pipelineClass: modelIndex._class_name,
      ...(vae ? { vae } : {}),
    });
    files = new Map(
      entries.map(([path, data]) => [
        path.replaceAll('\\', '/'),
        typeof data === 'string' ? new TextEncoder().encode(data) : data,
      ]),
    );
    return files;
  };
}

const mediaType = (path: string) =>
  path.endsWith('.json') ? 'application/json; charset=utf-8' : 'application/octet-stream';

export function registerModelFileRoutes(app: FastifyInstance, context: ServerContext): void {
  const files = folderFiles(context);
  app.get('/v1/models/files', () => ({
    files: [...files()].map(([path, data]) => ({ path, bytes: data.byteLength })),
  }));
  app.get('/v1/models/files/*', (request, reply) => {
    const path = decodedPath(request.raw.url ?? '').slice(PREFIX.length);
    const data = files().get(path);
    if (data === undefined) {
      throw new NotFoundError(`the model has no file '${path}'`, { hint: 'GET /v1/models/files lists them' });
    }
    if (data.byteLength > MAX_SERVED_BYTES) {
      throw new HttpStatusError(
        413,
        'file-too-large',
        `'${path}' holds ${data.byteLength} bytes; this server hands out model files up to ${MAX_SERVED_BYTES}`,
      );
    }
    return reply
      .type(mediaType(path))
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
}
