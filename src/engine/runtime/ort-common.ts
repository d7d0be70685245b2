/**
 * What the onnxruntime-node and onnxruntime-web runtimes share: the `OrtRuntime` base (provider check, name,
 * compile) and the executor: emitting the traced graph, turning host
 * tensors into onnxruntime tensors (only the inputs the model uses) and results back into host tensors.
 * Both packages expose the same onnxruntime-common API, so one executor serves both.
 *
 * This module must not import either package; the runtime passes its `ort` module in.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import type { DType, Tensor } from '../graph.js';
import type { EmitOptions } from '../onnx/emit.js';
import { emitOnnx } from '../onnx/emit.js';
import type { Traced, TensorsOf, Tree } from '../trace.js';
import { unknownChoice } from '../../util/errors.js';
import { compileWith } from './compiled.js';
import type {
  CompileOptions,
  CompiledFunction,
  Executor,
  HostData,
  HostTensor,
  HostsOf,
  Runtime,
} from './types.js';

/** The part of an onnxruntime package the executor needs. */
export interface OrtModule {
  readonly InferenceSession: {
    create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession>;
  };
  readonly Tensor: new (type: DType, data: HostData, dims: readonly number[]) => OrtTensor;
}

export interface OrtExecutorOptions {
  readonly emit?: EmitOptions;
  readonly frozen?: ReadonlyMap<string, HostTensor>;
}

/**
 * What both onnxruntime runtimes share: checking the chosen execution provider against the package's
 * list, the runtime's name (`<prefix>/<provider>`), and compiling through `compileWith`. Subclasses
 * supply only `executor`, which loads their package and opens the session.
 */
export abstract class OrtRuntime<P extends string> implements Runtime {
  readonly name: string;
  protected readonly provider: P;

  constructor(prefix: string, providers: readonly P[], provider: P) {
    this.provider = provider;
    if (!providers.includes(this.provider))
      throw unknownChoice('execution provider', this.provider, providers);
    this.name = `${prefix}/${this.provider}`;
  }

  compile<I, O extends Tree<Tensor>>(
    fn: ((inputs: TensorsOf<I>) => O) | Traced<O>,
    inputTypes?: I,
    options?: CompileOptions,
  ): CompiledFunction<HostsOf<O>> {
    return compileWith<O>(
      (traced, frozen) => this.executor(traced, frozen),
      fn as (inputs: never) => Tree<Tensor>,
      inputTypes,
      options,
    );
  }

  protected abstract executor(traced: Traced, frozen: ReadonlyMap<string, HostTensor>): Promise<Executor>;
}

/** An executor running `traced` in an onnxruntime session created with `session` options. */
export async function ortExecutor(
  ort: OrtModule,
  traced: Traced,
  session: InferenceSession.SessionOptions,
  options: OrtExecutorOptions = {},
): Promise<Executor> {
  const model = emitOnnx(traced.inputList, traced.outputList, { ...options.emit, frozen: options.frozen });
  const handle = await ort.InferenceSession.create(model.bytes, session);
  return {
    run: async (feeds: ReadonlyMap<string, HostTensor>) => {
      const ortFeeds: Record<string, OrtTensor> = {};
      for (const { name } of model.inputs) {
        const host = feeds.get(name)!;
        ortFeeds[name] = new ort.Tensor(host.dtype, host.data, host.shape);
      }
      // Handing onnxruntime fresh output arrays to write into saves a copy on a trivial graph but was
      // measured slower on convolutions (page faults inside the multithreaded kernels), so results are copied.
      const results = await handle.run(ortFeeds);
      return new Map(
        traced.outputList.map(({ name, tensor }) => {
          const t = results[model.outputNames[name]];
          return [name, { data: t.data as HostData, shape: tensor.shape, dtype: tensor.dtype }];
        }),
      );
    },
    dispose: async () => {
      // A profile is only written out when profiling ends.
      if (session.enableProfiling) handle.endProfiling();
      await handle.release();
    },
  };
}
