/**
 * `diffusion export --onnx out.onnx --model DIR`: writes a saved pipeline's denoiser as a standalone
 * ONNX model that onnxruntime in any language can run. Inputs are `sample` [batch, ...sampleShape]
 * (float32), `timestep` [batch] (float32) and, for class-conditional networks, `class_labels` [batch]
 * (int64); the output is `out_sample`. Shapes are fixed at export time (`--batch`). Weights are
 * stored in the model as initializers while they fit under protobuf's 2 GB limit (1.9 GB), and
 * otherwise — or with `--weights-as-inputs` — stay graph inputs named by their diffusers names, to be
 * fed from the pipeline's safetensors file.
 *
 * This command must not train or sample; it only reads a pipeline folder and writes one file.
 */
import type { Command } from 'commander';
import type { EmitOptions, Tensor } from '../../engine/index.js';
import { emitOnnx, fitsFrozen, trace } from '../../engine/index.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import type { DenoiserNetwork, Params } from '../../models/types.js';
import { UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';

export interface DenoiserOnnxOptions {
  readonly batch?: number;
  readonly opset?: number;
  /** Keep weights as graph inputs even when they would fit as initializers. */
  readonly weightsAsInputs?: boolean;
}

export interface DenoiserOnnx {
  readonly bytes: Uint8Array;
  /** True when the weights are initializers (the model needs only sample, timestep, class_labels). */
  readonly weightsFrozen: boolean;
  readonly inputNames: readonly string[];
}

/** The denoiser as ONNX bytes with inputs `sample`, `timestep`[, `class_labels`] and output `out_sample`. */
export function denoiserOnnx(
  network: DenoiserNetwork,
  params: Params,
  options: DenoiserOnnxOptions = {},
): DenoiserOnnx {
  const batch = options.batch ?? 1;
  const conditional = network.numClassEmbeds !== null;
  const types = {
    sample: { shape: [batch, ...network.sampleShape], dtype: 'float32' as const },
    timestep: { shape: [batch], dtype: 'float32' as const },
    ...(conditional ? { class_labels: { shape: [batch], dtype: 'int64' as const } } : {}),
    ...network.paramTypes(),
  };
  const traced = trace((x: Record<string, Tensor>) => {
    const inputs = {
      sample: x.sample,
      timestep: x.timestep,
      ...(conditional ? { classLabels: x.class_labels } : {}),
    };
    return { out_sample: network.apply(x, inputs) };
  }, types);
  const weightsFrozen = !options.weightsAsInputs && fitsFrozen(params);
  const frozen: NonNullable<EmitOptions['frozen']> = new Map(
    weightsFrozen ? Object.entries(params).map(([name, p]) => [name, { data: p.data, dtype: p.dtype }]) : [],
  );
  const emitted = emitOnnx(traced.inputList, traced.outputList, {
    opset: options.opset,
    graphName: network.className,
    frozen,
  });
  return {
    bytes: emitted.bytes,
    weightsFrozen,
    inputNames: emitted.inputs.map((i) => i.name).filter((n) => !frozen.has(n)),
  };
}

/** A positive integer flag value, or a one-line UsageError naming the flag. */
function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`${flag} must be a positive integer, got '${text}'`);
  }
  return value;
}

interface ExportFlags {
  readonly onnx: string;
  readonly model: string;
  readonly batch: string;
  readonly opset: string;
  readonly weightsAsInputs?: boolean;
}

async function runExport(flags: ExportFlags): Promise<void> {
  if (!flags.onnx.endsWith('.onnx')) {
    throw new UsageError(`--onnx must name a .onnx file, got '${flags.onnx}'`);
  }
  const batch = positiveInteger('--batch', flags.batch);
  const opset = positiveInteger('--opset', flags.opset);
  const { network, params } = loadPipeline(flags.model);
  const model = denoiserOnnx(network, params, { batch, opset, weightsAsInputs: flags.weightsAsInputs });
  writeFileAtomic(flags.onnx, model.bytes);
  const weights = model.weightsFrozen ? 'weights inside' : 'weights as graph inputs';
  process.stdout.write(
    `wrote ${flags.onnx} (${network.className}, batch ${batch}, ${weights}; inputs: ${model.inputNames.slice(0, 3).join(', ')}${model.inputNames.length > 3 ? ', …' : ''})\n`,
  );
}

export function register(program: Command): void {
  program
    .command('export')
    .description("export a saved pipeline's denoiser as an ONNX model for onnxruntime")
    .requiredOption('--onnx <file>', 'output ONNX file')
    .requiredOption('--model <dir>', 'pipeline folder (model_index.json, unet/, scheduler/)')
    .option('--batch <n>', 'batch size the model is exported for (shapes are fixed)', '1')
    .option('--opset <n>', 'ONNX opset, 17 to 23', '17')
    .option('--weights-as-inputs', 'keep weights as graph inputs instead of initializers')
    .action(runExport);
}
