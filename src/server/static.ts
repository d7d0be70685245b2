/**
 * Serves a folder of built files (the browser playground) at `/`: `GET /a/b.js` answers the file
 * `ROOT/a/b.js`, a folder answers its `index.html`. No request can reach a file outside the folder: the
 * path is percent-decoded exactly once, then refused when it holds a NUL, a backslash, a `..` or a
 * dot-file segment, or resolves outside the root; the file's real path (symlinks followed) must lie
 * inside the root's real path too. Every refusal is the same 404, so the answer tells nothing about the
 * files outside. API routes win over this catch-all because fastify prefers static routes to wildcards.
 *
 * This module must not write files or list folders; it only reads regular files under one root.
 */
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ConfigError, NotFoundError, UsageError } from '../util/errors.js';

const MEDIA_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
};

/** The folder's real path, or a ConfigError when it is not a folder. */
export function staticRoot(dir: string): string {
  let real: string;
  try {
    real = realpathSync(resolve(dir));
  } catch {
    throw new ConfigError(`static folder '${dir}' does not exist`, { hint: 'build the playground first' });
  }
  if (!statSync(real).isDirectory()) throw new ConfigError(`static path '${dir}' is not a folder`);
  return real;
}

/** True when `path` is `root` or lies below it. */
const inside = (root: string, path: string) => path === root || path.startsWith(root + sep);

/** The URL path (before any query) percent-decoded once; a UsageError for malformed escapes. */
export function decodedPath(url: string): string {
  const path = url.split('?')[0].split('#')[0];
  try {
    return decodeURIComponent(path);
  } catch {
    throw new UsageError(`malformed percent-encoding in the path '${path}'`);
  }
}

/** A segment no file under the root may be reached through: parent, current, or hidden. */
const forbiddenSegment = (segment: string) => segment.startsWith('.');

/**
 * The real path of the regular file a decoded URL path names under `root` (a folder's index.html), or
 * null when there is none or the path is refused.
 */
export function fileUnder(root: string, path: string): string | null {
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\\')) return null;
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.some(forbiddenSegment)) return null;
  let candidate = resolve(root, ...segments);
  if (!inside(root, candidate)) return null;
  try {
    if (statSync(candidate).isDirectory()) candidate = join(candidate, 'index.html');
    const real = realpathSync(candidate);
    return inside(root, real) && statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}

/** Registers `GET /*` (and HEAD) answering the files under `dir`. */
export function registerStaticFiles(app: FastifyInstance, dir: string): void {
  const root = staticRoot(dir);
  app.get('/*', (request, reply) => {
    const path = decodedPath(request.raw.url ?? '/');
    const file = fileUnder(root, path);
    if (file === null) throw new NotFoundError(`no file at '${path}'`);
    const type = MEDIA_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    return reply
      .type(type)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(createReadStream(file));
  });
}
