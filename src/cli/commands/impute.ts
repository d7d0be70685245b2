/**
 * `diffusion impute --model DIR --input series.csv --missing 120:180[,300:340] --out filled.csv`: fills
 * missing stretches of a series (CSV) or clip (WAV) with a saved 1-D model, window by window (see
 * pipelines/impute.ts). Ranges are 0-based rows (CSV data rows) or samples (WAV), end exclusive. A CSV
 * keeps all its columns; the model's channels are the columns named in its stored normalisation, or all
 * columns when it stores none (or the CSV has no header); cells inside a missing stretch may hold `nan`,
 * any other cell must be a number. A WAV must be at the model's sample rate (no resampling) and is written
 * back as 32-bit float at that rate, so known samples survive exactly. Every misuse is a one-line error,
 * exit 2, and no output file is written.
 *
 * This command must not train or resample; it reads one series, runs the pipeline and writes one file.
 */
import type { Command } from 'commander';
import { extname } from 'node:path';
import { existsSync } from 'node:fs';
import { randomNoiseSource } from '../../diffusion/samplers/common.js';
import { readWav, writeWav } from '../../io/audio.js';
import { readNumericCsv, tableColumn, type NumericTable } from '../../io/csv.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import type { EditSampler } from '../../pipelines/img2img.js';
import { impute, missingMask, parseMissingRanges, windowShape } from '../../pipelines/impute.js';
import { INPAINT_METHODS, type InpaintMethod } from '../../pipelines/inpaint.js';
import { csvCell, readSignalInfo, type SignalInfo } from '../../pipelines/signals.js';
import { UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { Random } from '../../util/random.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';
import {
  asUsageError,
  checkOutputExtension,
  conditionedModel,
  editScheduleConfig,
  seedFlag,
  stepsFlag,
} from './edit-common.js';

interface ImputeFlags {
  model: string;
  input: string;
  missing: string;
  out: string;
  method: string;
  jumpLength: string;
  resamplings: string;
  steps: string;
  eta: string;
  seed: string;
}

/** A series as the pipeline reads it, and how to write the filled one back in the input's format. */
interface SeriesInput {
  series: Float64Array[];
  write: (path: string, filled: Float64Array[]) => void;
}

/** The CSV's model channels: the stored normalisation's columns by name, or every column. */
function csvColumns(table: NumericTable, info: SignalInfo, channels: number, path: string): number[] {
  // Columns are matched by name when the CSV has a header; a header-less CSV must hold exactly C columns.
  const names = table.header ? info.normalization?.columns : undefined;
  const indices = names
    ? names.map((name) => table.header!.indexOf(name))
    : Array.from({ length: table.columns }, (_, c) => c);
  if (names && indices.some((i) => i < 0)) {
    throw new UsageError(`--input '${path}' lacks the model's column(s) ${names.join(', ')}`, {
      hint: `the CSV needs a header with ${names.join(', ')}`,
    });
  }
  if (indices.length !== channels) {
    throw new UsageError(
      `--input '${path}' has ${indices.length} column(s) but the model works on ${channels} channel(s)`,
    );
  }
  return indices;
}

function readCsvSeries(path: string, info: SignalInfo, channels: number): SeriesInput {
  let table: NumericTable;
  try {
    table = readNumericCsv(path);
  } catch (error) {
    throw asUsageError(error, 'input');
  }
  const columns = csvColumns(table, info, channels, path);
  const series = columns.map((c) => tableColumn(table, c));
  const write = (out: string, filled: Float64Array[]) => {
    const values = Float64Array.from(table.values);
    columns.forEach((column, k) => {
      for (let r = 0; r < table.rows; r++) values[r * table.columns + column] = filled[k][r];
    });
    const lines = table.header ? [table.header.map(csvCell).join(',')] : [];
    for (let r = 0; r < table.rows; r++)
      lines.push(Array.from(values.subarray(r * table.columns, (r + 1) * table.columns), String).join(','));
    writeFileAtomic(out, `${lines.join('\n')}\n`);
  };
  return { series, write };
}

function readWavSeries(path: string, info: SignalInfo, channels: number): SeriesInput {
  if (info.sampleRate === null) {
    throw new UsageError('--input: this model records no sample rate (it was not trained on audio)', {
      hint: 'pass the series as a .csv',
    });
  }
  const rate = info.sampleRate;
  let audio: ReturnType<typeof readWav>;
  try {
    audio = readWav(path, { expectedSampleRate: rate });
  } catch (error) {
    throw asUsageError(error, 'input');
  }
  if (audio.channels.length !== channels) {
    throw new UsageError(
      `--input '${path}' has ${audio.channels.length} channel(s) but the model works on ${channels}`,
    );
  }
  const series = audio.channels.map((c) => Float64Array.from(c));
  const write = (out: string, filled: Float64Array[]) =>
    writeWav(
      out,
      filled.map((c) => Float32Array.from(c)),
      rate,
      'float32',
    );
  return { series, write };
}

async function runImpute(flags: ImputeFlags): Promise<void> {
  const method = choiceFlag('--method', flags.method, INPAINT_METHODS) as InpaintMethod;
  const jumpLength = integerFlag('--jump-length', flags.jumpLength, 1, 1000);
  const resamplings = integerFlag('--resamplings', flags.resamplings, 1, 100);
  const eta = numberFlag('--eta', flags.eta, 0, 1);
  const seed = seedFlag(flags.seed);
  const kind = extname(flags.input).toLowerCase();
  if (kind !== '.csv' && kind !== '.wav')
    throw new UsageError(`--input '${flags.input}' must end in .csv or .wav`);
  checkOutputExtension(flags.out, 'out', [kind]);
  if (!existsSync(flags.input)) throw new UsageError(`--input: file '${flags.input}' does not exist`);
  const pipeline = loadPipeline(flags.model);
  const { network } = pipeline;
  const { channels } = windowShapeOf(network.sampleShape, flags.model);
  const config = editScheduleConfig(pipeline.schedulerConfig);
  const steps = stepsFlag(flags.steps, config);
  const info = readSignalInfo(flags.model);
  const input =
    kind === '.csv' ? readCsvSeries(flags.input, info, channels) : readWavSeries(flags.input, info, channels);
  const total = input.series[0].length;
  const ranges = parseMissingRanges(flags.missing, total);
  const missing = missingMask(ranges, total);
  const { model, dispose } = conditionedModel(pipeline, 1, {});
  let filled: Float64Array[];
  try {
    const sampler: EditSampler = {
      model,
      config,
      numInferenceSteps: steps,
      eta,
      noiseSource: randomNoiseSource(new Random(seed)),
    };
    filled = await impute(sampler, {
      series: input.series,
      missing,
      sampleShape: network.sampleShape,
      normalization: info.normalization,
      method,
      jumpLength,
      resamplings,
    });
  } finally {
    await dispose();
  }
  input.write(flags.out, filled);
  const count = missing.reduce((n, m) => n + m, 0);
  process.stdout.write(`wrote ${flags.out} (${method}, ${steps} steps, ${count} of ${total} steps filled)\n`);
}

/** The model's window shape, or a UsageError naming the folder when its model is not 1-D. */
function windowShapeOf(sampleShape: readonly number[], dir: string): { channels: number; length: number } {
  try {
    return windowShape(sampleShape);
  } catch (error) {
    throw new UsageError(`--model '${dir}': ${(error as Error).message}`);
  }
}

export function register(program: Command): void {
  program
    .command('impute')
    .description(
      'fill missing stretches of a series (CSV) or clip (WAV) with a 1-D model; known values are kept',
    )
    .requiredOption('--model <dir>', 'pipeline folder of a 1-D model (time series or audio)')
    .requiredOption(
      '--input <file>',
      ".csv series (one column per channel) or .wav at the model's sample rate",
    )
    .requiredOption(
      '--missing <ranges>',
      'stretches to fill, START:END[,START:END…] (0-based, end exclusive)',
    )
    .requiredOption('--out <file>', 'output file, same format as --input')
    .option('--method <m>', 'repaint (resampling jumps) or replace (one pass)', 'repaint')
    .option('--jump-length <n>', 'RePaint: levels gone back up per jump', '10')
    .option('--resamplings <n>', 'RePaint: times each jump interval is denoised', '10')
    .option('--steps <n>', 'denoising levels of the timetable', '50')
    .option('--eta <η>', "DDIM's η per step (1: DDPM's posterior)", '1')
    .option('--seed <n>', 'random seed', '0')
    .action(runImpute);
}
