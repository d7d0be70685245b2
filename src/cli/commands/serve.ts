/**
 * `diffusion serve --model DIR [--host 127.0.0.1] [--port 8080]`: loads a saved pipeline once and
 * serves the HTTP API of src/server/ (health, model info, synchronous generation, queued jobs with
 * server-sent progress events). It listens on loopback unless told otherwise, and SIGINT / SIGTERM
 * shut it down gracefully (no new requests; running jobs cancelled, or finished with
 * `--finish-jobs`). With `--queue redis://HOST:PORT`, queued jobs live in Redis, so several instances
 * serving the same model share them. It also serves a folder of built playground files at `/` (`--static DIR`; by
 * default the package's web/dist when it has been built).
 *
 * This command must not implement routes; it only parses flags, loads, listens and stops.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadPipeline } from '../../models/pipeline-folder.js';
import { buildApp } from '../../server/app.js';
import { parseRedisUrl } from '../../server/queue/index.js';
import { DEFAULT_LIMITS } from '../../server/schemas.js';
import { DEFAULT_TIMEOUTS } from '../../server/timeouts.js';
import { UsageError } from '../../util/errors.js';

interface ServeFlags {
  readonly model: string;
  readonly host: string;
  readonly port: string;
  readonly concurrency: string;
  readonly maxQueued: string;
  readonly maxNum: string;
  readonly maxSteps: string;
  readonly finishJobs?: boolean;
  readonly log?: boolean;
  readonly queue?: string;
  readonly static?: string;
  readonly requestTimeout: string;
  readonly idleTimeout: string;
}

/** The built playground of this package, served when `--static` is not given and it exists. */
const BUILT_PLAYGROUND = fileURLToPath(new URL('../../../web/dist', import.meta.url));

/** The folder to serve at `/`: the flag's, or the built playground when present, or none. */
function staticDir(flag: string | undefined): string | undefined {
  if (flag !== undefined) return flag;
  return existsSync(BUILT_PLAYGROUND) ? BUILT_PLAYGROUND : undefined;
}

/** A whole-number flag value within [min, max], or a one-line UsageError naming the flag. */
function integerFlag(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

async function runServe(flags: ServeFlags): Promise<void> {
  const port = integerFlag('--port', flags.port, 0, 65535);
  const limits = {
    concurrency: integerFlag('--concurrency', flags.concurrency, 1, 64),
    maxQueued: integerFlag('--max-queued', flags.maxQueued, 0, 10_000),
    maxNum: integerFlag('--max-num', flags.maxNum, 1, 10_000),
    maxSteps: integerFlag('--max-steps', flags.maxSteps, 1, 100_000),
  };
  const timeouts = {
    requestMs: 1000 * integerFlag('--request-timeout', flags.requestTimeout, 1, 3600),
    idleMs: 1000 * integerFlag('--idle-timeout', flags.idleTimeout, 1, 86_400),
  };
  // A bad queue URL is a usage error before the (possibly slow) model load.
  if (flags.queue !== undefined) parseRedisUrl(flags.queue);
  const pipeline = loadPipeline(flags.model);
  const served = staticDir(flags.static);
  const app = buildApp({
    pipeline,
    limits,
    timeouts,
    ...(served !== undefined ? { staticDir: served } : {}),
    ...(flags.queue !== undefined ? { queue: flags.queue } : {}),
    shutdown: flags.finishJobs ? 'finish' : 'cancel',
    logger: flags.log ?? false,
  });
  const closed = new Promise<void>((resolve) =>
    app.addHook('onClose', (_instance, done) => (resolve(), done())),
  );
  const stop = () => void app.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const address = await app.listen({ host: flags.host, port });
  process.stdout.write(
    `serving ${pipeline.network.className} from ${flags.model} on ${address} (Ctrl-C stops)\n`,
  );
  await closed;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve a saved pipeline over HTTP (generation, jobs with progress events)')
    .requiredOption('--model <dir>', 'pipeline folder (model_index.json, unet/, scheduler/)')
    .option('--host <address>', 'address to listen on (loopback by default)', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', '8080')
    .option('--concurrency <n>', 'generations run at the same time', String(DEFAULT_LIMITS.concurrency))
    .option('--max-queued <n>', 'requests that may wait; more get 503', String(DEFAULT_LIMITS.maxQueued))
    .option('--max-num <n>', 'most samples per request', String(DEFAULT_LIMITS.maxNum))
    .option('--max-steps <n>', 'most sampler steps per request', String(DEFAULT_LIMITS.maxSteps))
    .option('--finish-jobs', 'on shutdown let running jobs finish instead of cancelling them')
    .option('--log', 'log every request (JSON lines on stdout)')
    .option('--queue <url>', 'share the job queue with other instances through Redis (redis://HOST:PORT)')
    .option('--static <dir>', 'folder of built files to serve at / (default: the built playground, if any)')
    .option(
      '--request-timeout <s>',
      'seconds to receive a whole request; slower clients get 408',
      String(DEFAULT_TIMEOUTS.requestMs / 1000),
    )
    .option(
      '--idle-timeout <s>',
      'seconds a connection may stay silent before it is closed',
      String(DEFAULT_TIMEOUTS.idleMs / 1000),
    )
    .action(runServe);
}
