/**
 * The one runtime interface: `compile(fn, inputTypes)` traces a function of parameter trees once per set
 * of input shapes and returns a `CompiledFunction` whose `run` takes host arrays and returns host
 * tensors (trees mirroring the function's inputs and outputs). Every backend (onnxruntime-node,
 * onnxruntime-web, the float64 reference interpreter) implements only an `Executor` for one traced graph.
 *
 * This module must not import any backend.
 */
import type { DType, Shape, Tensor, TensorType } from '../graph.js';
import type { Traced, Tree } from '../trace.js';

export type HostData = Float32Array | BigInt64Array | Uint8Array;

/** A concrete array on the host: float32 → Float32Array, int64 → BigInt64Array, bool → Uint8Array. */
export interface HostTensor {
  readonly data: HostData;
  readonly shape: Shape;
  readonly dtype: DType;
}

/** An input leaf: a bare typed array (takes the declared shape), a host tensor, or a number (a scalar). */
export type HostValue = HostData | HostTensor | number;

/** The tree of host tensors that mirrors a tree of tensors (a general tree maps to a general tree). */
export type HostsOf<T> =
  Tree<Tensor> extends T
    ? Tree<HostTensor>
    : T extends Tensor
      ? HostTensor
      : T extends readonly unknown[]
        ? { [K in keyof T]: HostsOf<T[K]> }
        : { [K in keyof T]: HostsOf<T[K]> };

/** Runs one traced graph on one backend; feeds and results are keyed by flat input / output name. */
export interface Executor {
  run(feeds: ReadonlyMap<string, HostTensor>): Promise<Map<string, HostTensor>>;
  dispose(): Promise<void>;
}

export interface CompileOptions {
  /** Throw NumericError naming the output when a float output holds NaN or ±Inf. */
  readonly checkFinite?: boolean;
  /**
   * Inputs baked into the compiled model as constants (a tree like part of the inputs, e.g.
   * `{ params }` for a denoiser a sampler calls hundreds of times). onnxruntime then pre-packs and
   * re-lays out those weights once (measured on a 3×3 conv, batch 32, 64→64, 28×28: 6.6–7.1 ms per
   * run instead of 10–12 ms); `run` no longer takes them. Not for weights that change between runs
   * (training), nor past ~1.9 GB.
   */
  readonly frozen?: Tree<HostValue>;
}

export interface CompiledFunction<O = Tree<HostTensor>> {
  /** Declared input types, keyed by flat (dotted) input name. */
  readonly inputTypes: Readonly<Record<string, TensorType>>;
  /** Output types for the declared input shapes, keyed by flat output name. */
  readonly outputTypes: Readonly<Record<string, TensorType>>;
  /** Runs on a tree of host values (flat dotted keys work too); other shapes retrace once and are cached. */
  run(inputs: Tree<HostValue>): Promise<O>;
  /** Frees every cached session. */
  dispose(): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  /** Compiles a function of a tree of tensors (traced lazily per input shapes) or an already traced graph. */
  compile<I, O extends Tree<Tensor>>(
    fn: ((inputs: import('../trace.js').TensorsOf<I>) => O) | Traced<O>,
    inputTypes?: I,
    options?: CompileOptions,
  ): CompiledFunction<HostsOf<O>>;
}
