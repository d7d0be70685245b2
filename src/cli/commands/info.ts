/**
 * `diffusion info DIR`: describes a saved pipeline folder: the component classes, the denoiser's
 * config and parameter count, the scheduler config, the class names of a class-conditional model, and
 * the training summary when the folder is a training run.
 *
 * This command must not compile or run the network; it reads the folder and prints.
 */
import type { Command } from 'commander';
import { stringifyJson } from '../../io/json.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import type { Params } from '../../models/types.js';
import { schedulerConfigJson } from '../../diffusion/scheduler-config.js';
import { readRunSummary } from './run-folder.js';

/** Number of scalars in the weights. */
export function parameterCount(params: Params): number {
  return Object.values(params).reduce((total, p) => total + p.data.length, 0);
}

function runInfo(dir: string): void {
  const { network, params, schedulerConfig, modelIndex } = loadPipeline(dir);
  const summary = readRunSummary(dir);
  const lines = [
    `pipeline: ${modelIndex._class_name}`,
    `unet: ${network.className}, ${parameterCount(params).toLocaleString('en-US')} parameters, sample shape [${network.sampleShape.join(', ')}]`,
    `scheduler: ${schedulerConfig.className}`,
  ];
  if (network.numClassEmbeds !== null) {
    const names =
      summary?.classNames ?? Array.from({ length: network.numClassEmbeds - 1 }, (_, i) => String(i));
    lines.push(`classes (${names.length}): ${names.map((n, i) => `${i}=${n}`).join(', ')}`);
  } else {
    lines.push('classes: none (unconditional)');
  }
  if (summary) {
    const loss = summary.finalLoss === null ? '-' : summary.finalLoss.toFixed(4);
    const state = summary.interrupted ? 'interrupted' : 'finished';
    lines.push(
      `training: ${summary.data}, ${summary.step}/${summary.totalSteps} steps (${state}) in ${summary.seconds.toFixed(1)} s, final loss ${loss}`,
    );
  }
  lines.push(`unet config: ${stringifyJson(network.config as never, { sortKeys: true })}`);
  lines.push(
    `scheduler config: ${stringifyJson(schedulerConfigJson(schedulerConfig) as never, { sortKeys: true })}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function register(program: Command): void {
  program
    .command('info')
    .description('describe a saved model folder: classes, config, parameter count, training summary')
    .argument('<dir>', 'pipeline folder')
    .action(runInfo);
}
