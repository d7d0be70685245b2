/**
 * `diffusion forecast --model DIR --input series.csv --horizon H --samples 100 --out forecast.csv`:
 * probabilistic forecast of the steps after a series' last row with a saved forecasting model
 * (ForecastUNet1DModel, `diffusion train --data weather-forecast`). The model's channels are the CSV
 * columns named in its stored normalisation (other columns, text ones such as a date included, are
 * ignored; without a stored normalisation every column is a channel); its last context_length rows are
 * the observed past. The output has one row per forecast step: `step`, then per channel the sample mean
 * and the quantiles (`temp_max_q0.1`, …, linear between order statistics). Every misuse is a one-line
 * error, exit 2, and no output file is written.
 *
 * This command must not train; it reads one series, runs the pipeline and writes one file.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { readCsvColumns } from '../../data/forecast-windows.js';
import { readNumericCsv, tableColumn, type NumericTable } from '../../io/csv.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import { forecast, forecastNetwork, forecastQuantiles } from '../../pipelines/forecast.js';
import { csvCell, readSignalInfo } from '../../pipelines/signals.js';
import { UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { integerFlag, numberFlag } from '../flags.js';
import { asUsageError, checkOutputExtension, seedFlag } from './edit-common.js';
import { resolveSampler } from '../../diffusion/samplers/registry.js';

interface ForecastFlags {
  model: string;
  input: string;
  out: string;
  horizon?: string;
  samples: string;
  steps: string;
  sampler: string;
  quantiles: string;
  seed: string;
}

/** The `--quantiles` levels: comma-separated numbers in (0, 1), ascending. */
export function quantileLevels(text: string): number[] {
  const levels = text.split(',').map((part) => numberFlag('--quantiles', part.trim(), 0, 1));
  if (levels.some((q) => q <= 0 || q >= 1) || levels.some((q, i) => i > 0 && q <= levels[i - 1])) {
    throw new UsageError(`--quantiles '${text}' must be ascending levels strictly between 0 and 1`, {
      hint: 'e.g. 0.1,0.5,0.9',
    });
  }
  return levels;
}

/** The input's model channels as a table: named columns, or all columns of a plain numeric CSV. */
function inputTable(path: string, columns: readonly string[] | null, channels: number): NumericTable {
  let table: NumericTable;
  try {
    table = columns ? readCsvColumns(path, columns) : readNumericCsv(path);
  } catch (error) {
    throw asUsageError(error, 'input');
  }
  if (table.columns !== channels) {
    throw new UsageError(
      `--input '${path}' has ${table.columns} column(s) but the model works on ${channels} channel(s)`,
    );
  }
  return table;
}

/** The past [1, C, P]: the table's last P rows, channel-first. */
function lastRows(table: NumericTable, P: number, path: string): Float64Array {
  if (table.rows < P) {
    throw new UsageError(
      `--input '${path}' has ${table.rows} rows; the model needs the last ${P} as its past`,
    );
  }
  const past = new Float64Array(table.columns * P);
  for (let c = 0; c < table.columns; c++) past.set(tableColumn(table, c).subarray(table.rows - P), c * P);
  return past;
}

function forecastCsv(
  samples: Float64Array,
  names: readonly string[],
  S: number,
  H: number,
  levels: readonly number[],
): string {
  const C = names.length;
  const quantiles = forecastQuantiles(samples, { windows: 1, samples: S, channels: C, horizon: H }, levels);
  const header = ['step', ...names.flatMap((n) => [`${n}_mean`, ...levels.map((q) => `${n}_q${q}`)])];
  const lines = [header.map(csvCell).join(',')];
  for (let h = 0; h < H; h++) {
    const cells = [String(h + 1)];
    for (let c = 0; c < C; c++) {
      let mean = 0;
      for (let s = 0; s < S; s++) mean += samples[(s * C + c) * H + h] / S;
      cells.push(String(mean), ...levels.map((_, i) => String(quantiles[(c * H + h) * levels.length + i])));
    }
    lines.push(cells.join(','));
  }
  return `${lines.join('\n')}\n`;
}

async function runForecast(flags: ForecastFlags): Promise<void> {
  checkOutputExtension(flags.out, 'out', ['.csv']);
  const samples = integerFlag('--samples', flags.samples, 2, 100_000);
  const levels = quantileLevels(flags.quantiles);
  const seed = seedFlag(flags.seed);
  try {
    resolveSampler(flags.sampler);
  } catch (error) {
    throw asUsageError(error, 'sampler');
  }
  if (!existsSync(flags.input)) throw new UsageError(`--input: file '${flags.input}' does not exist`);
  const pipeline = loadPipeline(flags.model);
  let network;
  try {
    network = forecastNetwork(pipeline.network);
  } catch (error) {
    throw new UsageError(`--model '${flags.model}': ${(error as Error).message}`);
  }
  const steps = integerFlag('--steps', flags.steps, 1, 1000);
  const horizon = flags.horizon
    ? integerFlag('--horizon', flags.horizon, 1, network.horizon)
    : network.horizon;
  const { normalization } = readSignalInfo(flags.model);
  const [channels] = network.sampleShape;
  const table = inputTable(flags.input, normalization?.columns ?? null, channels);
  const past = lastRows(table, network.config.context_length, flags.input);
  const names =
    normalization?.columns ?? table.header ?? Array.from({ length: channels }, (_, c) => `channel_${c}`);
  const out = await forecast({
    network,
    params: pipeline.params,
    schedulerConfig: pipeline.schedulerConfig,
    sampler: flags.sampler,
    numSteps: steps,
    numSamples: samples,
    seed,
    past,
    horizon,
    normalization,
  });
  writeFileAtomic(flags.out, forecastCsv(out, names, samples, horizon, levels));
  process.stdout.write(
    `wrote ${flags.out} (${horizon} step(s) after row ${table.rows}, ${samples} samples, ${steps} ${flags.sampler} steps)\n`,
  );
}

export function register(program: Command): void {
  program
    .command('forecast')
    .description('probabilistic forecast of the steps after a series (CSV) with a forecasting model')
    .requiredOption(
      '--model <dir>',
      'pipeline folder of a ForecastUNet1DModel (train --data weather-forecast)',
    )
    .requiredOption(
      '--input <file>',
      ".csv series with a header naming the model's columns; its last rows are the past",
    )
    .requiredOption('--out <file>', 'output .csv: one row per step, mean and quantiles per channel')
    .option('--horizon <n>', "steps to forecast (default and maximum: the model's horizon)")
    .option('--samples <n>', 'forecast samples drawn', '100')
    .option('--steps <n>', 'sampler steps', '20')
    .option('--sampler <name>', 'sampler (k-diffusion or diffusers name)', 'dpmpp_2m')
    .option('--quantiles <levels>', 'comma-separated quantile levels', '0.1,0.25,0.5,0.75,0.9')
    .option('--seed <n>', 'random seed', '0')
    .action(runForecast);
}
