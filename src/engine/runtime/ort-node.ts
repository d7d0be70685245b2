/**
 * The onnxruntime-node runtime: every compiled function becomes one ONNX model and one inference session
 * (graph optimisation level "all", intra-op threads = the machine's cores). Execution providers: 'cpu'
 * (default), 'cuda' and 'webgpu' where this machine's onnxruntime build has them; asking for one that is
 * absent raises UnavailableError naming it. onnxruntime-node is loaded on first use only.
 *
 * This module must not be imported by browser code (see ort-web.ts).
 */
import type { InferenceSession } from 'onnxruntime-common';
import type { Traced } from '../trace.js';
import { UnavailableError } from '../../util/errors.js';
import type { OrtModule } from './ort-common.js';
import { OrtRuntime, ortExecutor } from './ort-common.js';
import type { Executor, HostTensor } from './types.js';

export const NODE_PROVIDERS = ['cpu', 'cuda', 'webgpu'] as const;
export type NodeProvider = (typeof NODE_PROVIDERS)[number];

export interface OrtNodeOptions {
  /** Execution provider; 'cpu' by default. */
  readonly provider?: NodeProvider;
  /** Intra-op threads; the number of cores by default. */
  readonly threads?: number;
  /** ONNX opset for emitted models (17 by default). */
  readonly opset?: number;
  /** When set, onnxruntime writes a JSON profile per session with this file prefix. */
  readonly profilePrefix?: string;
}

type OrtNode = OrtModule & { listSupportedBackends(): { name: string; bundled: boolean }[] };
let loaded: Promise<OrtNode> | null = null;

function loadOrtNode(): Promise<OrtNode> {
  loaded ??= import('onnxruntime-node').then((m) => (m.default ?? m) as unknown as OrtNode);
  return loaded;
}

/** Execution providers this machine's onnxruntime-node build lists. */
export async function nodeProviders(): Promise<string[]> {
  return (await loadOrtNode()).listSupportedBackends().map((b) => b.name);
}

export class OrtNodeRuntime extends OrtRuntime<NodeProvider> {
  constructor(private readonly options: OrtNodeOptions = {}) {
    super('ort-node', NODE_PROVIDERS, options.provider ?? 'cpu');
  }

  private async sessionOptions(): Promise<InferenceSession.SessionOptions> {
    const profile = this.options.profilePrefix;
    const { availableParallelism } = await import('node:os');
    return {
      executionProviders: [this.provider],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: this.options.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      ...(profile ? { enableProfiling: true, profileFilePrefix: profile } : {}),
    };
  }

  protected async executor(traced: Traced, frozen: ReadonlyMap<string, HostTensor>): Promise<Executor> {
    const ort = await loadOrtNode();
    const listed = ort.listSupportedBackends().map((b) => b.name);
    if (!listed.includes(this.provider)) {
      throw new UnavailableError(
        `execution provider '${this.provider}' is not in this onnxruntime-node build`,
        {
          hint: `available: ${listed.join(', ')}`,
        },
      );
    }
    try {
      return await ortExecutor(ort, traced, await this.sessionOptions(), {
        emit: { opset: this.options.opset },
        frozen,
      });
    } catch (error) {
      if (this.provider === 'cpu') throw error;
      throw new UnavailableError(`execution provider '${this.provider}' could not start on this machine`, {
        hint: "install its libraries/drivers or use provider 'cpu'",
        cause: error,
      });
    }
  }
}
