/**
 * The reference runtime: the float64 interpreter behind the common `Runtime` interface. Float32 outputs
 * are rounded to float32 only at the boundary. It is the oracle in tests and a dependency-free fallback
 * for tiny graphs; it is orders of magnitude slower than onnxruntime on real models.
 *
 * This module must not call onnxruntime.
 */
import type { Tensor } from '../graph.js';
import type { Traced, TensorsOf, Tree } from '../trace.js';
import { compileWith } from './compiled.js';
import { hostToNDArray, ndarrayToHost } from './host.js';
import { interpret } from './interpret.js';
import type { CompileOptions, CompiledFunction, Executor, HostTensor, HostsOf, Runtime } from './types.js';

export { interpret } from './interpret.js';

export function referenceExecutor(
  traced: Traced,
  frozen: ReadonlyMap<string, HostTensor>,
): Promise<Executor> {
  const outputs = traced.outputList.map((o) => o.tensor);
  const constants = [...frozen].map(([name, host]) => [name, hostToNDArray(host)] as const);
  return Promise.resolve({
    run: async (feeds: ReadonlyMap<string, HostTensor>) => {
      const arrays = Object.fromEntries([
        ...constants,
        ...[...feeds].map(([name, host]) => [name, hostToNDArray(host)]),
      ]);
      const values = interpret(outputs, arrays);
      return new Map(traced.outputList.map((o, i) => [o.name, ndarrayToHost(values[i])]));
    },
    dispose: async () => undefined,
  });
}

export class ReferenceRuntime implements Runtime {
  readonly name = 'reference';

  compile<I, O extends Tree<Tensor>>(
    fn: ((inputs: TensorsOf<I>) => O) | Traced<O>,
    inputTypes?: I,
    options?: CompileOptions,
  ): CompiledFunction<HostsOf<O>> {
    return compileWith<O>(referenceExecutor, fn as (inputs: never) => Tree<Tensor>, inputTypes, options);
  }
}
