/**
 * Features for FID/KID/precision-recall from any ONNX network the user passes (e.g. an Inception they
 * downloaded): the named intermediate value `layer` is exposed as an extra graph output and read out per
 * image, flattened to one vector. The output is added without re-encoding the model: protobuf merges a
 * message field that occurs twice, so appending the bytes of `ModelProto { graph { output: [layer] } }`
 * to the file adds one output and leaves every other byte (and every field our partial schema does not
 * know) as it was. Images [n, C, H, W] in the model's [−1, 1] are adapted to the network's declared
 * NCHW float32 input: grey ↔ RGB by repeating the channel (or averaging RGB), bilinear resizing to the
 * declared H×W (half-pixel centres, as torch's `interpolate(..., align_corners=False)`), then mapped to
 * the value range the network expects (`FEATURE_RANGES`, default [0, 1]), and run in batches. This
 * module must not compute metrics; it only turns images into feature vectors.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ModelProto } from '../engine/onnx/proto.js';
import { FormatError, NotFoundError, ShapeError, unknownChoice } from '../util/errors.js';

/**
 * Value ranges a feature network may expect, from images in [−1, 1]: `minus-one-one` as is,
 * `zero-one` (x + 1)/2 (pytorch-fid's Inception, which normalises inside), `imagenet` (x01 − mean)/std
 * per RGB channel (torchvision models), `byte` 127.5·(x + 1) (TF-style 0..255 inputs).
 */
export const FEATURE_RANGES = ['zero-one', 'minus-one-one', 'imagenet', 'byte'] as const;
export type FeatureRange = (typeof FEATURE_RANGES)[number];

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
/** Images per run of the network when its batch dimension is free. */
const DEFAULT_BATCH = 32;

/** A feature network ready to run. */
export interface FeatureNetwork {
  /** `file.onnx:layer`, for reports. */
  readonly name: string;
  /** The declared input: channels, height, width (height/width null when free). */
  readonly input: { name: string; channels: number; height: number | null; width: number | null };
  readonly range: FeatureRange;
  /** Feature vectors [n, dim] of images [n, ...imageShape] in [−1, 1]; `dim` is known after the first call. */
  features(images: Float32Array, imageShape: readonly number[]): Promise<{ data: Float32Array; dim: number }>;
  dispose(): Promise<void>;
}

/** Options of `loadFeatureNetwork`. */
export interface FeatureNetworkOptions {
  range?: FeatureRange;
  /** Images per network run when the model's batch dimension is free (default 32). */
  batchSize?: number;
}

interface DecodedGraph {
  node?: { output?: string[]; opType?: string }[];
  input?: DecodedValueInfo[];
  output?: DecodedValueInfo[];
  initializer?: { name?: string }[];
}

interface DecodedValueInfo {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: number }[] } } };
}

/** The decoded model's graph (read only; the bytes are never re-encoded). */
function decodeGraph(bytes: Uint8Array, path: string): DecodedGraph {
  let model: { graph?: DecodedGraph; irVersion?: number };
  try {
    model = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false }) as typeof model;
  } catch (error) {
    throw new FormatError(`'${path}' is not an ONNX model: its protobuf does not decode`, { cause: error });
  }
  if (!model.graph || model.irVersion === undefined || !model.graph.node?.length) {
    throw new FormatError(`'${path}' is not an ONNX model: it has no graph, nodes or IR version`);
  }
  return model.graph;
}

/** The one non-initializer graph input, checked to be a rank-4 NCHW float tensor. */
function imageInput(graph: DecodedGraph, path: string): FeatureNetwork['input'] {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) {
    throw new ShapeError(
      `feature network '${path}' has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); it needs exactly one image input`,
    );
  }
  const [input] = inputs;
  const tensor = input.type?.tensorType;
  const dims = (tensor?.shape?.dim ?? []).map((d) => (d.dimValue === undefined ? null : Number(d.dimValue)));
  if (dims.length !== 4) {
    throw new ShapeError(
      `feature network input '${input.name}' has rank ${dims.length}; it must be a rank-4 image batch [N, C, H, W]`,
    );
  }
  if (tensor?.elemType !== 1) {
    throw new ShapeError(
      `feature network input '${input.name}' is not float32 (ONNX type ${tensor?.elemType})`,
    );
  }
  if (dims[1] === null) {
    throw new ShapeError(`feature network input '${input.name}' has no fixed channel count [N, C, H, W]`);
  }
  return { name: input.name, channels: dims[1], height: dims[2], width: dims[3] };
}

/** Bytes that, appended to a ModelProto, add graph output `name` (float32; field 7 graph, 12 output). */
function extraOutputBytes(name: string): Uint8Array {
  return ModelProto.encode(
    ModelProto.fromObject({ graph: { output: [{ name, type: { tensorType: { elemType: 1 } } }] } }),
  ).finish();
}

/** The model's bytes with `layer` as a graph output (unchanged when it already is one). */
export function withLayerOutput(bytes: Uint8Array, layer: string, path = 'model'): Uint8Array {
  const graph = decodeGraph(bytes, path);
  const outputs = (graph.output ?? []).map((o) => o.name);
  if (outputs.includes(layer)) return bytes;
  const values = (graph.node ?? []).flatMap((n) => n.output ?? []).filter((v) => v !== '');
  if (!values.includes(layer)) {
    const examples = [...values.slice(-6), ...outputs].filter((v, i, a) => a.indexOf(v) === i);
    throw new NotFoundError(`feature network '${path}' has no value named '${layer}'`, {
      hint: `values near its end: ${examples.join(', ')} (${values.length} node outputs in all)`,
    });
  }
  const extra = extraOutputBytes(layer);
  const out = new Uint8Array(bytes.length + extra.length);
  out.set(bytes);
  out.set(extra, bytes.length);
  return out;
}

/** Bilinear resize of one plane [h, w] to [outH, outW] with half-pixel centres (align_corners false). */
export function resizeBilinear(
  plane: Float32Array,
  h: number,
  w: number,
  outH: number,
  outW: number,
): Float32Array {
  if (h === outH && w === outW) return plane;
  const out = new Float32Array(outH * outW);
  const source = (o: number, inSize: number, outSize: number) =>
    Math.min(Math.max(((o + 0.5) * inSize) / outSize - 0.5, 0), inSize - 1);
  for (let y = 0; y < outH; y++) {
    const sy = source(y, h, outH);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, h - 1);
    const fy = sy - y0;
    for (let x = 0; x < outW; x++) {
      const sx = source(x, w, outW);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, w - 1);
      const fx = sx - x0;
      const top = plane[y0 * w + x0] * (1 - fx) + plane[y0 * w + x1] * fx;
      const bottom = plane[y1 * w + x0] * (1 - fx) + plane[y1 * w + x1] * fx;
      out[y * outW + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

/** x ∈ [−1, 1] in the range the network expects, for RGB channel `channel` (ImageNet statistics). */
function rangeMap(range: FeatureRange, channel: number): (x: number) => number {
  switch (range) {
    case 'minus-one-one':
      return (x) => x;
    case 'zero-one':
      return (x) => (x + 1) / 2;
    case 'byte':
      return (x) => 127.5 * (x + 1);
    case 'imagenet':
      return (x) => ((x + 1) / 2 - IMAGENET_MEAN[channel % 3]) / IMAGENET_STD[channel % 3];
    default:
      throw unknownChoice('feature range', String(range), FEATURE_RANGES);
  }
}

/**
 * Images [n, c, h, w] in [−1, 1] as the network's input [n, C, H, W]: channels repeated (1 → C) or
 * averaged (C' → 1), each plane resized bilinearly, values mapped to `range`.
 */
export function preprocessImages(
  images: Float32Array,
  imageShape: readonly number[],
  target: { channels: number; height: number; width: number },
  range: FeatureRange,
): Float32Array {
  if (imageShape.length !== 3) {
    throw new ShapeError(
      `feature networks take images [C, H, W], got samples of shape [${imageShape.join(', ')}]`,
    );
  }
  const [c, h, w] = imageShape;
  const { channels, height, width } = target;
  if (c !== channels && c !== 1 && channels !== 1) {
    throw new ShapeError(
      `cannot feed ${c}-channel images to a feature network that takes ${channels} channels`,
    );
  }
  const n = images.length / (c * h * w);
  const outPlane = height * width;
  const out = new Float32Array(n * channels * outPlane);
  for (let i = 0; i < n; i++) {
    const image = images.subarray(i * c * h * w, (i + 1) * c * h * w);
    const planes: Float32Array[] = [];
    if (channels === 1 && c > 1) {
      const grey = new Float32Array(h * w);
      for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) grey[p] += image[k * h * w + p] / c;
      planes.push(grey);
    } else {
      for (let k = 0; k < c; k++) planes.push(image.subarray(k * h * w, (k + 1) * h * w));
    }
    const resized = planes.map((plane) => resizeBilinear(plane, h, w, height, width));
    for (let k = 0; k < channels; k++) {
      const map = rangeMap(range, k);
      const plane = resized[resized.length === 1 ? 0 : k];
      const base = (i * channels + k) * outPlane;
      for (let p = 0; p < outPlane; p++) out[base + p] = map(plane[p]);
    }
  }
  return out;
}

interface OrtTensor {
  data: Float32Array;
  dims: readonly number[];
}
interface OrtSession {
  run(feeds: Record<string, unknown>, fetches: string[]): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  InferenceSession: { create(bytes: Uint8Array, options?: object): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

/**
 * Loads `path` (an ONNX file) with `layer` exposed as its output. Errors: NotFoundError for a missing
 * file or an unknown layer (naming some valid ones), FormatError for a file that is not ONNX,
 * ShapeError for an input that is not one rank-4 float image batch.
 */
export async function loadFeatureNetwork(
  path: string,
  layer: string,
  options: FeatureNetworkOptions = {},
): Promise<FeatureNetwork> {
  if (!existsSync(path)) throw new NotFoundError(`feature network '${path}' does not exist`);
  const range = options.range ?? 'zero-one';
  if (!FEATURE_RANGES.includes(range)) throw unknownChoice('feature range', range, FEATURE_RANGES);
  const bytes = new Uint8Array(readFileSync(path));
  const input = imageInput(decodeGraph(bytes, path), path);
  const model = withLayerOutput(bytes, layer, path);
  const ort = (await import('onnxruntime-node').then((m) => m.default ?? m)) as unknown as OrtModule;
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all' });
  } catch (error) {
    throw new FormatError(`onnxruntime cannot load feature network '${path}': ${(error as Error).message}`, {
      cause: error,
    });
  }
  // A fixed batch dimension in the declared input is honoured by padding the last batch.
  const declaredBatch = (() => {
    const dims = decodeGraph(bytes, path).input!.find((i) => i.name === input.name)!.type!.tensorType!.shape!
      .dim!;
    return dims[0].dimValue === undefined ? null : Number(dims[0].dimValue);
  })();
  const batch = declaredBatch ?? options.batchSize ?? DEFAULT_BATCH;
  return {
    name: `${path}:${layer}`,
    input,
    range,
    async features(images, imageShape) {
      const height = input.height ?? imageShape[1];
      const width = input.width ?? imageShape[2];
      const target = { channels: input.channels, height, width };
      const x = preprocessImages(images, imageShape, target, range);
      const per = input.channels * height * width;
      const n = x.length / per;
      const rows: Float32Array[] = [];
      let dim = 0;
      for (let start = 0; start < n; start += batch) {
        const count = Math.min(batch, n - start);
        const chunk = new Float32Array(batch === count || declaredBatch === null ? count * per : batch * per);
        chunk.set(x.subarray(start * per, (start + count) * per));
        const rowsIn = chunk.length / per;
        const feeds = {
          [input.name]: new ort.Tensor('float32', chunk, [rowsIn, input.channels, height, width]),
        };
        const result = (await session.run(feeds, [layer]))[layer];
        dim = result.data.length / rowsIn;
        rows.push(Float32Array.from(result.data.subarray(0, count * dim)));
      }
      const data = new Float32Array(n * dim);
      let offset = 0;
      for (const r of rows) {
        data.set(r, offset);
        offset += r.length;
      }
      return { data, dim };
    },
    dispose: () => session.release(),
  };
}
