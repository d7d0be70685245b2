/**
 * The engine's public API: the graph IR, ops, tracing, autodiff, optimizers, ONNX emission and runtimes.
 * Model code imports from here; only tests and op files reach into the modules directly.
 *
 * This module must not define anything itself.
 */
export type {
  DType,
  Shape,
  TensorType,
  NDArray,
  OpDef,
  OnnxBuilder,
  OnnxAttribute,
  Node,
  VjpArgs,
} from './graph.js';
export { Graph, Tensor, shapeSize, shapeError, apply1 } from './graph.js';
export {
  ndarray,
  broadcastShapes,
  broadcastIndex,
  stridesOf,
  normalizeAxis,
  normalizeAxes,
  sameShape,
} from './ndarray.js';

export { constant, scalarLike } from './ops/constant.js';
export {
  add,
  sub,
  mul,
  div,
  neg,
  exp,
  log,
  sqrt,
  pow,
  tanh,
  sigmoid,
  sin,
  cos,
  abs,
  sign,
  erf,
  relu,
  maximum,
  minimum,
  where,
  equal,
  less,
  greater,
  lessEqual,
  greaterEqual,
  cast,
  stopGradient,
} from './ops/elementwise.js';
export { sum, mean, max, min, argmax } from './ops/reduce.js';
export {
  reshape,
  transpose,
  broadcastTo,
  concat,
  slice,
  flip,
  pad,
  gather,
  squeeze,
  unsqueeze,
  sumToShape,
  full,
  zerosLike,
  onesLike,
} from './ops/shape.js';
export { matmul, matrixTranspose } from './ops/matmul.js';
export { silu, gelu, mse, linear } from './ops/composite.js';
export type { ConvOptions, ConvTransposeOptions } from './ops/conv.js';
export { conv1d, conv2d, convTranspose1d, convTranspose2d } from './ops/conv.js';
export type { AvgPoolOptions } from './ops/pool.js';
export { avgPool1d, avgPool2d } from './ops/pool.js';
export type { UpsampleMode } from './ops/resize.js';
export { upsample } from './ops/resize.js';
export type { NormOptions } from './ops/norm.js';
export { groupNorm, layerNorm } from './ops/norm.js';
export type { AttentionOptions } from './ops/attention.js';
export { attention } from './ops/attention.js';
export { softmax, logSoftmax } from './ops/softmax.js';

export type { Tree, TypeTree, TensorTree, TensorsOf, Traced, NamedTensor } from './trace.js';
export { trace, flattenTree, mapTree, isTensor, isTensorType } from './trace.js';
export { backward, vjp, grad, valueAndGrad, valueAndGradWithAux } from './autodiff.js';
export type {
  Optimizer,
  AdamWConfig,
  SgdConfig,
  TrainStepConfig,
  TrainStepInputs,
  TrainStepOutputs,
  ApplyGradientsConfig,
  ApplyGradientsInputs,
} from './optim.js';
export {
  adamw,
  sgd,
  globalNorm,
  clipByGlobalNorm,
  emaUpdate,
  trainStep,
  applyGradients,
  trainStepTypes,
  hostZeros,
  hostCopy,
} from './optim.js';

export type { EmitOptions, EmittedModel } from './onnx/emit.js';
export { emitOnnx, DEFAULT_OPSET, fitsFrozen, MAX_FROZEN_BYTES } from './onnx/emit.js';
export type { OnnxSummary, OnnxValue } from './onnx/inspect.js';
export { inspectOnnx } from './onnx/inspect.js';
export type {
  Runtime,
  CompiledFunction,
  CompileOptions,
  HostTensor,
  HostValue,
  HostData,
  HostsOf,
} from './runtime/types.js';
export { interpret } from './runtime/interpret.js';
export { ReferenceRuntime } from './runtime/reference.js';
export { OrtNodeRuntime, nodeProviders } from './runtime/ort-node.js';
export type { OrtNodeOptions, NodeProvider } from './runtime/ort-node.js';
export { OrtWebRuntime } from './runtime/ort-web.js';
export type { OrtWebOptions, WebProvider } from './runtime/ort-web.js';
export { hostData } from './runtime/host.js';
