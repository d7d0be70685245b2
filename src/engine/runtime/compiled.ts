/**
 * The backend-independent half of every runtime: a `CompiledFunction` that flattens input trees, checks
 * them against the declared types (missing or unknown inputs, wrong dtype or shape → typed errors naming
 * the tensor), traces the function again for new input shapes (cached by shape signature), runs the
 * backend's executor and rebuilds the output tree.
 *
 * This module must not know any backend; a runtime passes in how to build an executor.
 */
import type { Tensor, TensorType } from '../graph.js';
import { UsageError, ShapeError } from '../../util/errors.js';
import { formatShape, sameShape } from '../ndarray.js';
import type { Traced, Tree, TypeTree } from '../trace.js';
import { ROOT_OUTPUT, flattenTree, isTensor, isTensorType, mapTree, trace } from '../trace.js';
import { checkFinite, isHostValue, toHostTensor } from './host.js';
import type { CompileOptions, CompiledFunction, Executor, HostTensor, HostValue, HostsOf } from './types.js';

/** Builds an executor for a traced graph; `frozen` inputs are constants of the model and never fed. */
export type ExecutorFactory = (traced: Traced, frozen: ReadonlyMap<string, HostTensor>) => Promise<Executor>;

interface Entry {
  readonly traced: Traced;
  readonly executor: Promise<Executor>;
}

const typeOf = (t: Tensor): TensorType => ({ shape: t.shape, dtype: t.dtype });
const signature = (shapes: Iterable<readonly number[]>) => [...shapes].map((s) => s.join('x')).join(';');

class Compiled<O> implements CompiledFunction<O> {
  readonly inputTypes: Readonly<Record<string, TensorType>>;
  readonly outputTypes: Readonly<Record<string, TensorType>>;
  private readonly entries = new Map<string, Entry>();
  private readonly frozen: ReadonlyMap<string, HostTensor>;

  constructor(
    private readonly factory: ExecutorFactory,
    private readonly fn: ((inputs: never) => Tree<Tensor>) | null,
    private readonly typeTree: TypeTree | null,
    base: Traced,
    private readonly options: CompileOptions,
  ) {
    const declared = Object.fromEntries(base.inputList.map((i) => [i.name, typeOf(i.tensor)]));
    this.frozen = frozenInputs(options.frozen, declared);
    this.inputTypes = Object.fromEntries(Object.entries(declared).filter(([name]) => !this.frozen.has(name)));
    this.outputTypes = Object.fromEntries(base.outputList.map((o) => [o.name, typeOf(o.tensor)]));
    this.addEntry(signature(Object.values(this.inputTypes).map((t) => t.shape)), base);
  }

  async run(inputs: Tree<HostValue>): Promise<O> {
    const feeds = this.checkedFeeds(inputs);
    const entry = this.entryFor(feeds);
    const executor = await entry.executor;
    const results = await executor.run(feeds);
    if (this.options.checkFinite) checkFinite(results);
    return mapTree(entry.traced.outputs, isTensor, (_t, path) => results.get(path)!, ROOT_OUTPUT) as O;
  }

  async dispose(): Promise<void> {
    const executors = [...this.entries.values()].map((e) => e.executor);
    this.entries.clear();
    await Promise.all(executors.map(async (e) => (await e.catch(() => null))?.dispose()));
  }

  private addEntry(key: string, traced: Traced): Entry {
    const entry = { traced, executor: this.factory(traced, this.frozen) };
    // An executor that fails to build must fail the run that awaits it, not crash as an unhandled rejection.
    entry.executor.catch(() => undefined);
    this.entries.set(key, entry);
    return entry;
  }

  private checkedFeeds(inputs: Tree<HostValue>): Map<string, HostTensor> {
    const given = new Map(flattenTree(inputs, isHostValue));
    const names = Object.keys(this.inputTypes);
    for (const name of given.keys()) {
      if (this.frozen.has(name)) {
        throw new UsageError(`input '${name}' is frozen into the compiled model`, {
          hint: 'leave it out of run(), or compile without freezing it',
        });
      }
      if (!(name in this.inputTypes)) {
        throw new UsageError(`unknown input '${name}'`, {
          hint: `inputs are: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', …' : ''}`,
        });
      }
    }
    const feeds = new Map<string, HostTensor>();
    for (const name of names) {
      const value = given.get(name);
      if (value === undefined) {
        throw new UsageError(`missing input '${name}'`, { hint: `expected ${this.describe(name)}` });
      }
      feeds.set(name, toHostTensor(name, value, this.inputTypes[name]));
    }
    return feeds;
  }

  private describe(name: string): string {
    const t = this.inputTypes[name];
    return `${t.dtype}${formatShape(t.shape)}`;
  }

  private entryFor(feeds: ReadonlyMap<string, HostTensor>): Entry {
    const key = signature([...feeds.values()].map((f) => f.shape));
    const hit = this.entries.get(key);
    if (hit) return hit;
    if (!this.fn || !this.typeTree) {
      const [name, f] = [...feeds].find(([n, f]) => !sameShape(f.shape, this.inputTypes[n].shape))!;
      throw new ShapeError(
        `input '${name}' has shape ${formatShape(f.shape)}, the compiled graph expects ${this.describe(name)}`,
        { hint: 'compile the function (not a traced graph) to accept other shapes' },
      );
    }
    const types = mapTree(this.typeTree, isTensorType, (t, path) => ({
      shape: (feeds.get(path) ?? this.frozen.get(path))!.shape,
      dtype: t.dtype,
    }));
    return this.addEntry(
      key,
      trace<unknown, Tree<Tensor>>(this.fn as (inputs: unknown) => Tree<Tensor>, types),
    );
  }
}

/** Frozen input values by flat name, checked against the declared types (their shapes cannot change). */
function frozenInputs(
  frozen: Tree<HostValue> | undefined,
  declared: Readonly<Record<string, TensorType>>,
): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, value] of frozen ? flattenTree(frozen, isHostValue) : []) {
    if (!(name in declared)) throw new UsageError(`frozen input '${name}' is not an input of the function`);
    const host = toHostTensor(name, value, declared[name]);
    if (!sameShape(host.shape, declared[name].shape)) {
      throw new ShapeError(
        `frozen input '${name}' has shape ${formatShape(host.shape)}, declared ${formatShape(declared[name].shape)}`,
      );
    }
    out.set(name, host);
  }
  return out;
}

/** A CompiledFunction over `factory`'s executors for a function (with its input types) or a traced graph. */
export function compileWith<O>(
  factory: ExecutorFactory,
  source: ((inputs: never) => Tree<Tensor>) | Traced,
  inputTypes: unknown,
  options: CompileOptions = {},
): CompiledFunction<HostsOf<O>> {
  if (typeof source !== 'function') return new Compiled(factory, null, null, source, options);
  if (inputTypes === undefined) throw new UsageError('compile(fn, inputTypes): the input types are missing');
  const typeTree = inputTypes as TypeTree;
  const base = trace<unknown, Tree<Tensor>>(source as (inputs: unknown) => Tree<Tensor>, typeTree);
  return new Compiled(factory, source, typeTree, base, options);
}
