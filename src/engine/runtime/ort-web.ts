/**
 * The onnxruntime-web runtime: the WebAssembly backend (and WebGPU where the browser has it). It runs
 * in browsers and, through the package's Node entry point, in Node, which is how it is tested. Stock
 * onnxruntime-web builds only; models must fit 32-bit WebAssembly memory.
 *
 * This module must not import node: modules, so that it bundles for the browser.
 */
import type { InferenceSession } from 'onnxruntime-common';
import type { Traced } from '../trace.js';
import { UnavailableError } from '../../util/errors.js';
import type { OrtModule } from './ort-common.js';
import { OrtRuntime, ortExecutor } from './ort-common.js';
import type { Executor, HostTensor } from './types.js';

export const WEB_PROVIDERS = ['wasm', 'webgpu'] as const;
export type WebProvider = (typeof WEB_PROVIDERS)[number];

export interface OrtWebOptions {
  /** 'wasm' by default. */
  readonly provider?: WebProvider;
  /** WebAssembly threads (needs cross-origin isolation in browsers); 1 by default. */
  readonly threads?: number;
  readonly opset?: number;
}

type OrtWeb = OrtModule & { env: { wasm: { numThreads?: number } } };
let loaded: Promise<OrtWeb> | null = null;

function loadOrtWeb(): Promise<OrtWeb> {
  loaded ??= import('onnxruntime-web').then((m) => (m.default ?? m) as unknown as OrtWeb);
  return loaded;
}

export class OrtWebRuntime extends OrtRuntime<WebProvider> {
  constructor(private readonly options: OrtWebOptions = {}) {
    super('ort-web', WEB_PROVIDERS, options.provider ?? 'wasm');
  }

  protected async executor(traced: Traced, frozen: ReadonlyMap<string, HostTensor>): Promise<Executor> {
    const ort = await loadOrtWeb();
    ort.env.wasm.numThreads = this.options.threads ?? 1;
    const options: InferenceSession.SessionOptions = {
      executionProviders: [this.provider],
      graphOptimizationLevel: 'all',
    };
    try {
      return await ortExecutor(ort, traced, options, { emit: { opset: this.options.opset }, frozen });
    } catch (error) {
      if (this.provider === 'wasm') throw error;
      throw new UnavailableError(`execution provider '${this.provider}' is not available here`, {
        hint: "use provider 'wasm'",
        cause: error,
      });
    }
  }
}
