/**
 * Picks the engine's `OrtWebRuntime` for a backend choice: WebAssembly, WebGPU, or 'auto' (WebGPU when
 * the browser hands out an adapter, WebAssembly otherwise). onnxruntime-web itself is loaded lazily by the
 * runtime on first use; its WebAssembly binary is bundled with the page by the build (Vite emits the file
 * the package references next to its code), so nothing is fetched from elsewhere.
 *
 * This module must not compile or run models; it only picks a runtime.
 */
import { OrtWebRuntime, type WebProvider } from '../../src/engine/index.js';
import { UnavailableError, unknownChoice } from '../../src/util/errors.js';

export const BACKENDS = ['auto', 'wasm', 'webgpu'] as const;
export type Backend = (typeof BACKENDS)[number];

type GpuNavigator = Navigator & { gpu?: { requestAdapter(): Promise<unknown> } };

/** True when the browser exposes WebGPU and hands out an adapter. */
export async function hasWebGpu(): Promise<boolean> {
  const gpu = (navigator as GpuNavigator).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/** The execution provider a backend choice means in this browser. */
export async function providerFor(backend: string): Promise<WebProvider> {
  if (!(BACKENDS as readonly string[]).includes(backend)) throw unknownChoice('backend', backend, BACKENDS);
  if (backend === 'wasm') return 'wasm';
  const gpu = await hasWebGpu();
  if (backend === 'webgpu' && !gpu) {
    throw new UnavailableError('this browser offers no WebGPU adapter', {
      hint: "choose the 'wasm' backend",
    });
  }
  return gpu ? 'webgpu' : 'wasm';
}

/** A configured onnxruntime-web runtime for `provider` (single-threaded WebAssembly needs no isolation). */
export function webRuntime(provider: WebProvider): OrtWebRuntime {
  return new OrtWebRuntime({ provider, threads: 1 });
}
