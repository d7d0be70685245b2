/**
 * Runs the benchmarks one after another (never two at once: each wants every core) and ends with one
 * summary table: per benchmark case, the engine's speed-up over PyTorch on the same work (PyTorch time
 * ÷ engine time, > 1 means the engine is faster) as the benchmark itself printed it, with each
 * benchmark's wall time and status. Benchmarks without a PyTorch side get one row saying so; when
 * `/usr/bin/python3` cannot `import torch`, the ratio column says that instead and the run still
 * succeeds. The exit status is 1 only when a benchmark itself failed.
 *
 * Usage: `npm run bench [-- NAME ...]` (or `npx tsx bench/run.ts [NAME ...]`)
 *   NAME ...   run only these benchmarks, in the order given (default: all, in the order below)
 *   --list     print the benchmark names and what each measures, and exit
 * Each benchmark's own output is passed through as it runs. This script must not measure anything
 * itself; it only runs the scripts in this folder and reads the ratios from their output.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Benchmark {
  name: string;
  /** What it measures, for `--list`. */
  summary: string;
  /** Whether it times PyTorch on the same work (its lines then carry an `N.NN×` speed-up). */
  againstTorch: boolean;
}

const BENCHMARKS: readonly Benchmark[] = [
  { name: 'conv', summary: '3×3 convolution forward/backward and a conv-net train step', againstTorch: true },
  { name: 'unet', summary: 'benchmark U-Net forward (batch 32) and AdamW train step', againstTorch: true },
  {
    name: 'throughput',
    summary: 'images/s at 20 DDIM steps, train step and peak RSS of the MNIST and 32×32 U-Nets (batch 16)',
    againstTorch: true,
  },
  {
    name: 'scaling',
    summary: 'forward / train-step time as batch (1–16) and image side (16–64) double',
    againstTorch: false,
  },
  {
    name: 'unet-condition',
    summary: 'SD-1.5-sized UNet2DConditionModel, seconds per CFG denoising step at 64×64×4',
    againstTorch: true,
  },
  {
    name: 'sampler-overhead',
    summary: "each sampler's own arithmetic against the U-Net's",
    againstTorch: false,
  },
  {
    name: 'sampler-quality',
    summary: 'MMD² of every sampler at 5–50 steps on an exact oracle',
    againstTorch: false,
  },
  { name: 'data-loading', summary: 'dataset load time and batches per second', againstTorch: false },
  {
    name: 'quality-vs-steps',
    summary: 'FID / class accuracy of models/mnist-unet per sampler × steps',
    againstTorch: false,
  },
];

/** One row of the summary table. */
interface SummaryRow {
  bench: string;
  case: string;
  ratio: string;
  seconds: number;
  status: string;
}

/** Whether PyTorch can be imported by the interpreter the benchmarks call. */
function torchAvailable(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/**
 * The (case, ratio) pairs in a benchmark's output: every line ending in a speed-up `N.NN×`, either a
 * markdown row (`| case | … | 1.23× |`, the case is the first cell) or an aligned text row (the case
 * is the text before the first run of two spaces).
 */
export function speedups(output: string): { case: string; ratio: string }[] {
  const rows: { case: string; ratio: string }[] = [];
  for (const line of output.split('\n')) {
    const match = /(\d+(?:\.\d+)?)×\s*\|?\s*$/.exec(line);
    if (!match) continue;
    const name = line.trim().startsWith('|')
      ? line.trim().slice(1).split('|')[0].trim()
      : line.trim().split(/\s{2,}/)[0];
    rows.push({ case: name, ratio: `${match[1]}×` });
  }
  return rows;
}

/** Runs one benchmark script, echoing its output, and returns the output, status and seconds. */
function runBenchmark(name: string): Promise<{ output: string; status: number; seconds: number }> {
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      output += chunk.toString('utf8');
    });
    child.on('close', (code) =>
      resolve({ output, status: code ?? 1, seconds: (performance.now() - started) / 1000 }),
    );
  });
}

/** The summary rows of one finished benchmark. */
function summaryRows(
  bench: Benchmark,
  result: { output: string; status: number; seconds: number },
  torch: boolean,
): SummaryRow[] {
  const status = result.status === 0 ? 'ok' : `failed (exit ${result.status})`;
  const base = { bench: bench.name, seconds: result.seconds, status };
  if (!bench.againstTorch) return [{ ...base, case: bench.summary, ratio: 'no PyTorch side' }];
  if (!torch) return [{ ...base, case: bench.summary, ratio: 'PyTorch not installed' }];
  const found = speedups(result.output);
  if (found.length === 0) return [{ ...base, case: bench.summary, ratio: 'no ratio printed' }];
  return found.map((row) => ({ ...base, ...row }));
}

/** The summary as a markdown table. */
function summaryTable(rows: readonly SummaryRow[]): string {
  const lines = [
    '| bench | case | engine speed-up vs PyTorch | wall time | status |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.bench} | ${r.case} | ${r.ratio} | ${r.seconds.toFixed(0)} s | ${r.status} |`),
  ];
  return lines.join('\n');
}

/** The benchmarks the arguments name (all when none), or an error line naming the valid ones. */
function selected(args: readonly string[]): Benchmark[] | string {
  const names = args.filter((a) => !a.startsWith('--'));
  if (names.length === 0) return [...BENCHMARKS];
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    return `unknown benchmark '${unknown[0]}'; valid: ${BENCHMARKS.map((b) => b.name).join(', ')}`;
  }
  return names.map((n) => BENCHMARKS.find((b) => b.name === n)!);
}

async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--list')) {
    for (const b of BENCHMARKS) console.log(`${b.name.padEnd(18)} ${b.summary}`);
    return 0;
  }
  const benches = selected(args);
  if (typeof benches === 'string') {
    console.error(`error: ${benches}`);
    return 2;
  }
  const torch = torchAvailable();
  if (!torch)
    console.log('PyTorch not found (/usr/bin/python3 -c "import torch" failed): engine numbers only.');
  const rows: SummaryRow[] = [];
  for (const bench of benches) {
    console.log(`\n=== bench/${bench.name}.ts ===`);
    rows.push(...summaryRows(bench, await runBenchmark(bench.name), torch));
  }
  console.log(`\n=== summary ===\n${summaryTable(rows)}`);
  return rows.some((r) => r.status !== 'ok') ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
