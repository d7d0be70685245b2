/**
 * Feedback of a training run: a cli-progress bar on a TTY (plain lines every `logEvery` steps
 * otherwise), a JSONL metrics log with one `{ step, loss, lr, gradNorm, stepsPerSecond }` object per
 * `logEvery` steps (appended, so a resumed run continues the same file), and the one-paragraph summary
 * at the end.
 *
 * This module must not run training; it only turns `StepReport`s into output.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import type { StepReport, TrainResult } from './trainer.js';

export interface ProgressReporter {
  onStep(report: StepReport): void;
  finish(): void;
}

export interface ProgressOptions {
  /** Where lines go (a TTY gets a progress bar). */
  stream: NodeJS.WriteStream;
  logEvery: number;
  /** The JSONL metrics file; none: no log. */
  metricsPath?: string;
  /** Step the run starts from (a resumed run). */
  startStep: number;
  totalSteps: number;
}

/** The reporter for `options.stream`: a bar on a TTY, plain lines otherwise. */
export function progressReporter(options: ProgressOptions): ProgressReporter {
  const { stream, logEvery, metricsPath } = options;
  if (metricsPath) mkdirSync(dirname(metricsPath), { recursive: true });
  const bar = stream.isTTY
    ? new cliProgress.SingleBar(
        {
          stream,
          format:
            'train [{bar}] {value}/{total} | loss {loss} | lr {lr} | {rate} steps/s | eta {eta_formatted}',
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(options.totalSteps, options.startStep, { loss: '-', lr: '-', rate: '-' });
  return {
    onStep(report) {
      const fields = {
        loss: report.loss.toFixed(4),
        lr: report.lr.toExponential(2),
        rate: formatRate(report.stepsPerSecond),
      };
      bar?.update(report.step, fields);
      if (report.step % logEvery !== 0 && report.step !== report.totalSteps) return;
      const { step, loss, lr, gradNorm, stepsPerSecond } = report;
      if (metricsPath)
        appendFileSync(metricsPath, `${JSON.stringify({ step, loss, lr, gradNorm, stepsPerSecond })}\n`);
      if (!bar)
        stream.write(
          `step ${step}/${report.totalSteps}  loss ${fields.loss}  lr ${fields.lr}  ${fields.rate} steps/s\n`,
        );
    },
    finish: () => bar?.stop(),
  };
}

/** Steps per second with two decimals below 10 (a U-Net runs about one step a second on a CPU). */
const formatRate = (rate: number): string => rate.toFixed(rate < 10 ? 2 : 0);

/** The closing summary of a run. */
export function summaryLine(result: TrainResult): string {
  const tail = result.losses.slice(-Math.min(100, result.losses.length));
  const meanLoss = tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length);
  const verb = result.interrupted ? 'stopped at' : result.timeLimited ? 'time limit reached at' : 'finished';
  return `${verb} step ${result.step}: ${result.losses.length} steps in ${result.seconds.toFixed(1)} s (${formatRate(result.stepsPerSecond)} steps/s), mean loss of the last ${tail.length} steps ${meanLoss.toFixed(4)}`;
}
