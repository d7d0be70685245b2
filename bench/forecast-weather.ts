/**
 * Held-out forecasting scores of a trained weather-forecast model (`diffusion train --data
 * weather-forecast`) against the baselines: for forecast origins in the last 20% of Seattle's daily
 * weather (every `--stride` days while a whole horizon fits), S diffusion samples per window give CRPS,
 * the median's MAE and the 80% interval's coverage per variable; seasonal-naive (7 days: last week
 * repeated; 365 days: the same days a year before) and a least-squares line through the past window are
 * scored as point forecasts (CRPS = MAE). Prints a Markdown table: per variable, and the mean over
 * variables of each score divided by that variable's training std (so °C, mm and m/s can be averaged).
 *
 * Persistence (the last value repeated) is listed too. With `--png PATH` it also draws fan charts
 * (10–90% and 25–75% bands, median, truth) of every variable for three held-out windows.
 *
 * Usage: npx tsx bench/forecast-weather.ts MODEL_DIR [--samples 100] [--steps 20] [--stride 7] [--png PATH]
 * This script must not train; it only loads a model folder and scores it.
 */
import { performance } from 'node:perf_hooks';
import { firstTestRow, forecastTable, heldOutWindows, tableSeries } from '../src/data/forecast-windows.js';
import {
  forecastScores,
  linearTrendForecasts,
  seasonalNaiveForecasts,
  type ForecastScores,
} from '../src/metrics/forecast.js';
import { fanChart } from '../src/io/fan-chart.js';
import { imageGrid } from '../src/io/image-grid.js';
import { writePng } from '../src/io/png.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { forecast, forecastNetwork, forecastQuantiles } from '../src/pipelines/forecast.js';
import { readSignalInfo } from '../src/pipelines/signals.js';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

const dir = process.argv[2];
if (!dir || dir.startsWith('--')) {
  process.stderr.write(
    'usage: npx tsx bench/forecast-weather.ts MODEL_DIR [--samples S] [--steps N] [--stride K]\n',
  );
  process.exit(2);
}
const samples = flag('--samples', 100);
const steps = flag('--steps', 20);
const stride = flag('--stride', 7);

const model = loadPipeline(dir);
const network = forecastNetwork(model.network);
const { normalization } = readSignalInfo(dir);
const table = forecastTable(normalization ? { columns: normalization.columns } : {});
const series = tableSeries(table);
const channels = series.length;
const P = network.config.context_length;
const H = network.horizon;
const test = heldOutWindows(series, firstTestRow(table.rows, 0.2), P, H, stride);
const W = test.origins.length;

const started = performance.now();
const diffusion = await forecast({
  network,
  params: model.params,
  schedulerConfig: model.schedulerConfig,
  numSamples: samples,
  numSteps: steps,
  past: test.past,
  normalization,
  seed: 0,
});
const seconds = (performance.now() - started) / 1000;

const point = (forecasts: Float64Array) =>
  forecastScores(forecasts, test.future, { windows: W, samples: 1, channels, horizon: H });
const rows: [string, ForecastScores][] = [
  [
    `diffusion (${samples} samples, ${steps} steps)`,
    forecastScores(diffusion, test.future, { windows: W, samples, channels, horizon: H }),
  ],
  ['persistence (last value)', point(seasonalNaiveForecasts(series, test.origins, H, 1))],
  ['seasonal-naive, 7 days', point(seasonalNaiveForecasts(series, test.origins, H, 7))],
  ['seasonal-naive, 365 days', point(seasonalNaiveForecasts(series, test.origins, H, 365))],
  [
    'linear trend on the past window',
    point(linearTrendForecasts(test.past, { windows: W, channels, contextLength: P }, H)),
  ],
];

const names = normalization?.columns ?? series.map((_, c) => `channel ${c}`);
const std = normalization?.std ?? series.map(() => 1);
const scaledMean = (values: number[]) => values.reduce((sum, v, c) => sum + v / std[c], 0) / values.length;
const fmt = (v: number) => (Number.isNaN(v) ? '—' : v.toFixed(3));
const header = [
  'forecast',
  ...names.map((n) => `CRPS ${n}`),
  'CRPS/std',
  ...names.map((n) => `MAE ${n}`),
  'MAE/std',
  '80% cover',
];
const lines = [
  `| ${header.join(' | ')} |`,
  `|${header.map(() => '---').join('|')}|`,
  ...rows.map(([name, s]) => {
    const coverage = s.coverage80.reduce((a, b) => a + b, 0) / channels;
    return `| ${[name, ...s.crps.map(fmt), fmt(scaledMean(s.crps)), ...s.mae.map(fmt), fmt(scaledMean(s.mae)), fmt(coverage)].join(' | ')} |`;
  }),
];
process.stdout.write(
  `${W} held-out windows (origins rows ${test.origins[0]}–${test.origins[W - 1]}, every ${stride} days), ` +
    `context ${P} days, horizon ${H} days; diffusion sampling took ${seconds.toFixed(1)} s\n\n${lines.join('\n')}\n`,
);

const pngAt = process.argv.indexOf('--png');
if (pngAt > 0) {
  const levels = [0.1, 0.25, 0.5, 0.75, 0.9];
  const q = forecastQuantiles(diffusion, { windows: W, samples, channels, horizon: H }, levels);
  const band = (w: number, c: number, level: number) =>
    Array.from({ length: H }, (_, h) => q[((w * channels + c) * H + h) * levels.length + level]);
  const picked = [0, Math.floor(W / 2), W - 1];
  const panels = picked.flatMap((w) =>
    Array.from({ length: channels }, (_, c) =>
      fanChart(
        {
          past: test.past.subarray((w * channels + c) * P, (w * channels + c + 1) * P),
          outer: [band(w, c, 0), band(w, c, 4)],
          inner: [band(w, c, 1), band(w, c, 3)],
          median: band(w, c, 2),
          truth: test.future.subarray((w * channels + c) * H, (w * channels + c + 1) * H),
        },
        { width: 320, height: 160 },
      ),
    ),
  );
  writePng(
    process.argv[pngAt + 1],
    imageGrid(panels, { nrow: channels, padding: 4, background: [210, 210, 210, 255] }),
  );
  process.stdout.write(
    `\nfan charts: rows = windows from rows ${picked.map((w) => test.origins[w]).join(', ')}; columns = ${names.join(', ')}\n`,
  );
}
