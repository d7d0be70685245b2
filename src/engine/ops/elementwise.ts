/**
 * Elementwise primitives with numpy broadcasting: arithmetic, transcendental functions, comparisons,
 * `where`, `cast` and `stopGradient`. Each op is one `OpDef` built from a small spec (ONNX op type,
 * float64 kernel, VJP rule); binary VJPs sum the cotangent back to each operand's shape.
 * Every binary function accepts a number for either operand (a rank-0 constant of the other's dtype).
 *
 * This module must not hold composite ops (silu, gelu, ...: see composite.ts) or reductions.
 */
import type { DType, NDArray, OpDef, TensorType } from '../graph.js';
import { Tensor, apply1, shapeError } from '../graph.js';
import { broadcastIndex, broadcastShapes, roundToDType } from '../ndarray.js';
import { shapeSize } from '../graph.js';
import { constant, graphOf, promote, scalarLike } from './constant.js';
import { sumToShape } from './shape.js';

type Operand = Tensor | number;
type DTypeRule = 'float' | 'numeric' | 'any';

function checkDType(op: string, rule: DTypeRule, types: readonly TensorType[]): void {
  for (const t of types) {
    const ok = rule === 'any' || t.dtype === 'float32' || (rule === 'numeric' && t.dtype === 'int64');
    if (!ok) throw shapeError(op, `needs ${rule === 'float' ? 'float32' : 'numeric'} operands`, ...types);
  }
}

function broadcastTypes(op: string, types: readonly TensorType[], sameDType = true): number[] {
  if (sameDType && types.some((t) => t.dtype !== types[0].dtype)) {
    throw shapeError(op, 'operands have different dtypes; cast one first', ...types);
  }
  const shape = broadcastShapes(...types.map((t) => t.shape));
  if (!shape) throw shapeError(op, 'shapes do not broadcast', ...types);
  return shape;
}

/** Applies `kernel` to broadcast operands; the reference kernel of every elementwise op. */
function broadcastMap(
  inputs: readonly NDArray[],
  dtype: DType,
  kernel: (...values: number[]) => number,
): NDArray {
  const shape = broadcastShapes(...inputs.map((x) => x.shape))!;
  const size = shapeSize(shape);
  const maps = inputs.map((x) => broadcastIndex(x.shape, shape));
  const data = new Float64Array(size);
  const args = new Array<number>(inputs.length);
  for (let i = 0; i < size; i++) {
    for (let k = 0; k < inputs.length; k++) args[k] = inputs[k].data[maps[k][i]];
    data[i] = roundToDType(kernel(...args), dtype);
  }
  return { shape, dtype, data };
}

// ---------------------------------------------------------------------------------------------------
// Unary ops

interface UnarySpec {
  name: string;
  onnx: string;
  dtypes: DTypeRule;
  kernel: (x: number) => number;
  /** Cotangent of x from the input, the output and the output's cotangent. */
  vjp: ((x: Tensor, y: Tensor, g: Tensor) => Tensor) | null;
}

function unaryOp(spec: UnarySpec): OpDef<null> {
  return {
    name: spec.name,
    infer: ([x]) => {
      checkDType(spec.name, spec.dtypes, [x]);
      return [{ shape: x.shape, dtype: x.dtype }];
    },
    evaluate: ([x]) => [broadcastMap([x], x.dtype, spec.kernel)],
    lower: (onnx, [x]) => onnx.node(spec.onnx, [x]),
    vjp: ({ inputs: [x], outputs: [y], cotangents: [g] }) => [g && spec.vjp ? spec.vjp(x, y, g) : null],
  };
}

/** erf to float64 accuracy: the all-positive series 2/√π·e^{−x²}·Σ 2ⁿx^{2n+1}/(2n+1)!! (no cancellation). */
export function erfKernel(x: number): number {
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  let term = ax;
  let sum = ax;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= (2 * ax * ax) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * Math.min(1, (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum);
}

export const negOp = unaryOp({
  name: 'neg',
  onnx: 'Neg',
  dtypes: 'numeric',
  kernel: (x) => -x,
  vjp: (_x, _y, g) => neg(g),
});
export const expOp = unaryOp({
  name: 'exp',
  onnx: 'Exp',
  dtypes: 'float',
  kernel: Math.exp,
  vjp: (_x, y, g) => mul(g, y),
});
export const logOp = unaryOp({
  name: 'log',
  onnx: 'Log',
  dtypes: 'float',
  kernel: Math.log,
  vjp: (x, _y, g) => div(g, x),
});
export const sqrtOp = unaryOp({
  name: 'sqrt',
  onnx: 'Sqrt',
  dtypes: 'float',
  kernel: Math.sqrt,
  vjp: (_x, y, g) => div(mul(g, 0.5), y), // d√x = 1/(2√x)
});
export const tanhOp = unaryOp({
  name: 'tanh',
  onnx: 'Tanh',
  dtypes: 'float',
  kernel: Math.tanh,
  vjp: (_x, y, g) => mul(g, sub(1, mul(y, y))), // 1 − tanh²
});
export const sigmoidOp = unaryOp({
  name: 'sigmoid',
  onnx: 'Sigmoid',
  dtypes: 'float',
  kernel: (x) => 1 / (1 + Math.exp(-x)),
  vjp: (_x, y, g) => mul(g, mul(y, sub(1, y))), // σ(1 − σ)
});
export const sinOp = unaryOp({
  name: 'sin',
  onnx: 'Sin',
  dtypes: 'float',
  kernel: Math.sin,
  vjp: (x, _y, g) => mul(g, cos(x)),
});
export const cosOp = unaryOp({
  name: 'cos',
  onnx: 'Cos',
  dtypes: 'float',
  kernel: Math.cos,
  vjp: (x, _y, g) => neg(mul(g, sin(x))),
});
export const absOp = unaryOp({
  name: 'abs',
  onnx: 'Abs',
  dtypes: 'numeric',
  kernel: Math.abs,
  vjp: (x, _y, g) => mul(g, sign(x)),
});
export const signOp = unaryOp({
  name: 'sign',
  onnx: 'Sign',
  dtypes: 'numeric',
  kernel: Math.sign,
  vjp: null,
});
/**
 * ReLU is a primitive, not maximum(x, 0): one ONNX Relu (which onnxruntime fuses into a preceding Conv)
 * and a one-op VJP, g where y > 0 — PyTorch's threshold_backward, 0 at x = 0. Measured in a conv-net
 * train step, maximum's tie-splitting VJP cost nine elementwise passes per activation.
 */
export const reluOp = unaryOp({
  name: 'relu',
  onnx: 'Relu',
  dtypes: 'float',
  kernel: (x) => (x > 0 ? x : 0),
  vjp: (_x, y, g) => where(greater(y, 0), g, 0),
});
export const erfOp = unaryOp({
  name: 'erf',
  onnx: 'Erf',
  dtypes: 'float',
  kernel: erfKernel,
  vjp: (x, _y, g) => mul(g, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI))), // (2/√π)·e^{−x²}
});

export const neg = (x: Tensor): Tensor => apply1(negOp, [x], null);
export const exp = (x: Tensor): Tensor => apply1(expOp, [x], null);
export const log = (x: Tensor): Tensor => apply1(logOp, [x], null);
export const sqrt = (x: Tensor): Tensor => apply1(sqrtOp, [x], null);
export const tanh = (x: Tensor): Tensor => apply1(tanhOp, [x], null);
export const sigmoid = (x: Tensor): Tensor => apply1(sigmoidOp, [x], null);
export const sin = (x: Tensor): Tensor => apply1(sinOp, [x], null);
export const cos = (x: Tensor): Tensor => apply1(cosOp, [x], null);
export const abs = (x: Tensor): Tensor => apply1(absOp, [x], null);
export const sign = (x: Tensor): Tensor => apply1(signOp, [x], null);
export const erf = (x: Tensor): Tensor => apply1(erfOp, [x], null);
/** max(x, 0). */
export const relu = (x: Tensor): Tensor => apply1(reluOp, [x], null);

// ---------------------------------------------------------------------------------------------------
// Binary ops

interface BinarySpec {
  name: string;
  onnx: string;
  dtypes: DTypeRule;
  kernel: (a: number, b: number) => number;
  /** Comparisons return bool. */
  bool?: boolean;
  /** Cotangents of a and b before summing back to their shapes; null: not differentiable. */
  vjp: ((a: Tensor, b: Tensor, y: Tensor, g: Tensor) => [Tensor | null, Tensor | null]) | null;
}

function binaryOp(spec: BinarySpec): OpDef<null> {
  return {
    name: spec.name,
    infer: (types) => {
      const shape = broadcastTypes(spec.name, types);
      checkDType(spec.name, spec.dtypes, types);
      return [{ shape, dtype: spec.bool ? 'bool' : types[0].dtype }];
    },
    evaluate: ([a, b]) => [broadcastMap([a, b], spec.bool ? 'bool' : a.dtype, spec.kernel)],
    lower: (onnx, [a, b]) => onnx.node(spec.onnx, [a, b]),
    vjp: ({ inputs: [a, b], outputs: [y], cotangents: [g] }) => {
      if (!g || !spec.vjp) return [null, null];
      const [ga, gb] = spec.vjp(a, b, y, g);
      return [ga && sumToShape(ga, a.shape), gb && sumToShape(gb, b.shape)];
    },
  };
}

/** Weight of `a` in d max(a, b): 1 where a wins, ½ on ties (as PyTorch), 0 where b wins. */
function winnerWeight(a: Tensor, b: Tensor, wins: (a: Tensor, b: Tensor) => Tensor): Tensor {
  return add(cast(wins(a, b), a.dtype), mul(cast(equal(a, b), a.dtype), 0.5));
}

export const addOp = binaryOp({
  name: 'add',
  onnx: 'Add',
  dtypes: 'numeric',
  kernel: (a, b) => a + b,
  vjp: (_a, _b, _y, g) => [g, g],
});
export const subOp = binaryOp({
  name: 'sub',
  onnx: 'Sub',
  dtypes: 'numeric',
  kernel: (a, b) => a - b,
  vjp: (_a, _b, _y, g) => [g, neg(g)],
});
export const mulOp = binaryOp({
  name: 'mul',
  onnx: 'Mul',
  dtypes: 'numeric',
  kernel: (a, b) => a * b,
  vjp: (a, b, _y, g) => [mul(g, b), mul(g, a)],
});
export const divOp = binaryOp({
  name: 'div',
  onnx: 'Div',
  dtypes: 'numeric',
  kernel: (a, b) => a / b,
  vjp: (_a, b, y, g) => [div(g, b), neg(mul(g, div(y, b)))], // d(a/b)/db = −(a/b)/b
});
export const powOp = binaryOp({
  name: 'pow',
  onnx: 'Pow',
  dtypes: 'float',
  kernel: Math.pow,
  // d aᵇ/da = b·a^{b−1}; d aᵇ/db = aᵇ·ln a (only built into the graph where b needs a gradient).
  vjp: (a, b, y, g) => [mul(g, mul(b, pow(a, sub(b, 1)))), mul(g, mul(y, log(a)))],
});
export const maximumOp = binaryOp({
  name: 'maximum',
  onnx: 'Max',
  dtypes: 'numeric',
  kernel: (a, b) => (a >= b ? a : b),
  vjp: (a, b, _y, g) => {
    const wa = winnerWeight(a, b, greater);
    return [mul(g, wa), mul(g, sub(1, wa))];
  },
});
export const minimumOp = binaryOp({
  name: 'minimum',
  onnx: 'Min',
  dtypes: 'numeric',
  kernel: (a, b) => (a <= b ? a : b),
  vjp: (a, b, _y, g) => {
    const wa = winnerWeight(a, b, less);
    return [mul(g, wa), mul(g, sub(1, wa))];
  },
});

function comparison(name: string, onnx: string, kernel: (a: number, b: number) => boolean): OpDef<null> {
  return binaryOp({
    name,
    onnx,
    dtypes: 'any',
    bool: true,
    kernel: (a, b) => (kernel(a, b) ? 1 : 0),
    vjp: null,
  });
}
export const equalOp = comparison('equal', 'Equal', (a, b) => a === b);
export const lessOp = comparison('less', 'Less', (a, b) => a < b);
export const greaterOp = comparison('greater', 'Greater', (a, b) => a > b);
export const lessEqualOp = comparison('lessEqual', 'LessOrEqual', (a, b) => a <= b);
export const greaterEqualOp = comparison('greaterEqual', 'GreaterOrEqual', (a, b) => a >= b);

function binary(op: OpDef<null>, a: Operand, b: Operand): Tensor {
  graphOf(op.name, [a, b]);
  const ta = a instanceof Tensor ? a : promote(b as Tensor, a);
  const tb = promote(ta, b);
  return apply1(op, [ta, tb], null);
}

export const add = (a: Operand, b: Operand): Tensor => binary(addOp, a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary(subOp, a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary(mulOp, a, b);
export const div = (a: Operand, b: Operand): Tensor => binary(divOp, a, b);
export const pow = (a: Operand, b: Operand): Tensor => binary(powOp, a, b);
export const maximum = (a: Operand, b: Operand): Tensor => binary(maximumOp, a, b);
export const minimum = (a: Operand, b: Operand): Tensor => binary(minimumOp, a, b);
export const equal = (a: Operand, b: Operand): Tensor => binary(equalOp, a, b);
export const less = (a: Operand, b: Operand): Tensor => binary(lessOp, a, b);
export const greater = (a: Operand, b: Operand): Tensor => binary(greaterOp, a, b);
export const lessEqual = (a: Operand, b: Operand): Tensor => binary(lessEqualOp, a, b);
export const greaterEqual = (a: Operand, b: Operand): Tensor => binary(greaterEqualOp, a, b);

// ---------------------------------------------------------------------------------------------------
// where, cast, stopGradient

export const whereOp: OpDef<null> = {
  name: 'where',
  infer: ([cond, a, b]) => {
    if (cond.dtype !== 'bool') throw shapeError('where', 'condition must be bool', cond);
    const shape = broadcastTypes('where', [cond, a, b], false);
    if (a.dtype !== b.dtype) throw shapeError('where', 'branches have different dtypes', a, b);
    return [{ shape, dtype: a.dtype }];
  },
  evaluate: ([cond, a, b]) => [broadcastMap([cond, a, b], a.dtype, (c, x, y) => (c ? x : y))],
  lower: (onnx, inputs) => onnx.node('Where', inputs),
  vjp: ({ inputs: [cond, a, b], cotangents: [g] }) => {
    if (!g) return [null, null, null];
    return [null, sumToShape(where(cond, g, 0), a.shape), sumToShape(where(cond, 0, g), b.shape)];
  },
};

/** Elementwise choice: `a` where `cond` is true, else `b` (all three broadcast). */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const ta = a instanceof Tensor ? a : b instanceof Tensor ? scalarLike(b, a) : constant(cond.graph, a);
  return apply1(whereOp, [cond, ta, promote(ta, b)], null);
}

const onnxDType: Record<DType, number> = { float32: 1, int64: 7, bool: 9 };

export const castOp: OpDef<{ dtype: DType }> = {
  name: 'cast',
  infer: ([x], { dtype }) => [{ shape: x.shape, dtype }],
  evaluate: ([x], { dtype }) => [broadcastMap([x], dtype, (v) => v)],
  lower: (onnx, [x], { dtype }) => onnx.node('Cast', [x], { to: { kind: 'int', value: onnxDType[dtype] } }),
  vjp: ({ inputs: [x], outputs: [y], cotangents: [g] }) => [
    g && x.dtype === 'float32' && y.dtype === 'float32' ? g : null,
  ],
};

/** Converts to `dtype` (float → int truncates toward zero; nonzero → true). No-op when already there. */
export function cast(x: Tensor, dtype: DType): Tensor {
  return x.dtype === dtype ? x : apply1(castOp, [x], { dtype });
}

export const stopGradientOp: OpDef<null> = {
  name: 'stopGradient',
  infer: ([x]) => [{ shape: x.shape, dtype: x.dtype }],
  evaluate: ([x]) => [x],
  lower: (onnx, [x]) => onnx.node('Identity', [x]),
  vjp: () => [null],
};

/** The identity whose gradient is zero: targets and EMA weights must not be differentiated through. */
export const stopGradient = (x: Tensor): Tensor => apply1(stopGradientOp, [x], null);
