/**
 * Few-step MNIST measurement: distils the shipped class-conditional teacher (models/mnist-unet) by
 * progressive distillation down to `--steps` and by consistency distillation, then scores the teacher
 * (dpmpp_2m, classifier-free guidance `--guidance`), the progressive student (DDIM on its grid) and the
 * consistency model (CMStochasticIterativeScheduler) at 1, 2, 4 and 8 steps — plus the teacher at 20
 * steps as the reference — by class accuracy (the shipped MNIST classifier) and FID against the 1,000
 * held-out test digits in the classifier's feature space, with sampling wall time per image. Both
 * students are distilled from the GUIDED teacher (guided distillation at the same w), so they are sampled
 * with guidance 1: one network call per step instead of the guided pair.
 * Writes `distill-mnist.md` (the table) into `--out-dir`, with the two student folders beside it, and
 * prints it. Numbers only, no assertions.
 *
 * Usage: npx tsx scripts/distill-mnist.ts [--iterations 1000] [--cd-iterations 2000] [--from-steps 64]
 *          [--lr 1e-4] [--cd-lr 2e-4]
 *          [--steps 4] [--batch-size 32] [--num 200] [--guidance 2] [--teacher models/mnist-unet]
 *          [--out-dir runs/distill-mnist] [--eval-steps 1,2,4,8] [--reuse]
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadClassifier } from '../src/metrics/classifier.js';
import { evaluatePipeline, type ImageMetrics } from '../src/metrics/evaluate.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { distillPipeline, type DistillMethod } from '../src/training/distill-pipeline.js';
import { writeFileAtomic } from '../src/util/fs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '1000' },
    'cd-iterations': { type: 'string', default: '2000' },
    lr: { type: 'string', default: '1e-4' },
    'cd-lr': { type: 'string', default: '2e-4' },
    'from-steps': { type: 'string', default: '64' },
    steps: { type: 'string', default: '4' },
    'batch-size': { type: 'string', default: '32' },
    num: { type: 'string', default: '200' },
    guidance: { type: 'string', default: '2' },
    teacher: { type: 'string', default: join(root, 'models', 'mnist-unet') },
    'out-dir': { type: 'string', default: join(root, 'runs', 'distill-mnist') },
    'eval-steps': { type: 'string', default: '1,2,4,8' },
    /** Keep a student already distilled into the out dir (its training_summary.json gives the time). */
    reuse: { type: 'boolean', default: false },
  },
});
const NUM = Number(values.num);
const GUIDANCE = Number(values.guidance);
const EVAL_STEPS = values['eval-steps']!.split(',').map(Number);
const OUT = values['out-dir']!;

interface Row {
  name: string;
  sampler: string;
  guidance: number;
  cells: Map<number, { fid: number; accuracy: number; msPerImage: number }>;
  distillMinutes: number | null;
}

async function distil(method: DistillMethod, iterations: number): Promise<{ dir: string; minutes: number }> {
  const dir = join(OUT, method);
  const summary = join(dir, 'training_summary.json');
  if (values.reuse && existsSync(summary)) {
    const { seconds } = JSON.parse(readFileSync(summary, 'utf8')) as { seconds: number };
    console.log(`${method}: reusing ${dir} (distilled in ${(seconds / 60).toFixed(1)} min)`);
    return { dir, minutes: seconds / 60 };
  }
  rmSync(dir, { recursive: true, force: true });
  const result = await distillPipeline({
    teacherDir: values.teacher!,
    outDir: dir,
    method,
    steps: Number(values.steps),
    fromSteps: Number(values['from-steps']),
    iterations,
    batchSize: Number(values['batch-size']),
    lr: Number(method === 'progressive' ? values.lr : values['cd-lr']),
    guidance: GUIDANCE,
    seed: 0,
    onStep: (line) => {
      if (/update (\d+)/.exec(line)?.[1]?.endsWith('00')) console.log(`${method}: ${line}`);
    },
  });
  console.log(
    `${method}: distilled in ${(result.seconds / 60).toFixed(1)} min, last losses ${result.finalLosses.map((l) => l.toFixed(4)).join(', ')}`,
  );
  return { dir, minutes: result.seconds / 60 };
}

async function score(
  name: string,
  dir: string,
  sampler: string,
  guidance: number,
  steps: readonly number[],
  classifier: ReturnType<typeof loadClassifier>,
  distillMinutes: number | null,
): Promise<Row> {
  const pipeline = loadPipeline(dir);
  const cells: Row['cells'] = new Map();
  for (const n of steps) {
    const report = await evaluatePipeline({
      ...pipeline,
      dataset: 'mnist',
      numSamples: NUM,
      sampler,
      steps: n,
      guidance,
      classifier,
    });
    const metrics = report.metrics as ImageMetrics;
    const cell = {
      fid: metrics.fid,
      accuracy: metrics.classAccuracy!,
      msPerImage: (1000 * report.samplingSeconds) / NUM,
    };
    cells.set(n, cell);
    console.log(
      `${name} ${n} steps: FID ${cell.fid.toFixed(1)}, accuracy ${(100 * cell.accuracy).toFixed(1)}%, ${cell.msPerImage.toFixed(1)} ms/image`,
    );
  }
  return { name, sampler, guidance, cells, distillMinutes };
}

function markdown(rows: Row[], reference: Row): string {
  const ref = reference.cells.get(20)!;
  const header = `| model (sampler, guidance) | ${EVAL_STEPS.map((s) => `${s} steps`).join(' | ')} | distillation |`;
  const rule = `|---|${EVAL_STEPS.map(() => '---').join('|')}|---|`;
  const line = (row: Row) =>
    `| ${row.name} (${row.sampler}, w=${row.guidance}) | ${EVAL_STEPS.map((s) => {
      const c = row.cells.get(s)!;
      return `${c.fid.toFixed(1)} / ${(100 * c.accuracy).toFixed(1)}% / ${c.msPerImage.toFixed(0)} ms`;
    }).join(' | ')} | ${row.distillMinutes === null ? '—' : `${row.distillMinutes.toFixed(0)} min`} |`;
  return [
    `FID / class accuracy / sampling wall time per image of ${NUM} digits (${NUM / 10} per class, seed 0);`,
    `FID against the 1,000 held-out test digits in the MNIST classifier's feature space. Students were`,
    `distilled from the teacher guided at w = ${GUIDANCE} and are sampled with one call per step (w = 1).`,
    `Wall time per image includes compiling the network once per cell (${NUM} images share it).`,
    `Teacher reference, dpmpp_2m at 20 steps: FID ${ref.fid.toFixed(1)}, accuracy ${(100 * ref.accuracy).toFixed(1)}%.`,
    '',
    header,
    rule,
    ...rows.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const progressive = await distil('progressive', Number(values.iterations));
  const consistency = await distil('consistency', Number(values['cd-iterations']));
  const classifier = loadClassifier();
  const reference = await score('teacher', values.teacher!, 'dpmpp_2m', GUIDANCE, [20], classifier, null);
  const rows = [
    await score('teacher', values.teacher!, 'dpmpp_2m', GUIDANCE, EVAL_STEPS, classifier, null),
    await score(
      'progressive student',
      progressive.dir,
      'ddim',
      1,
      EVAL_STEPS,
      classifier,
      progressive.minutes,
    ),
    await score(
      'consistency model',
      consistency.dir,
      'consistency',
      1,
      EVAL_STEPS,
      classifier,
      consistency.minutes,
    ),
  ];
  await classifier.dispose();
  const table = markdown(rows, reference);
  writeFileAtomic(join(OUT, 'distill-mnist.md'), `${table}\n`);
  console.log(`\n${table}\n\nwrote ${join(OUT, 'distill-mnist.md')}`);
}

await main();
