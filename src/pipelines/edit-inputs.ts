/**
 * What every front end of the image-editing pipelines (the CLI commands, the HTTP service) reads the
 * same way: a saved model's scheduler config as the `EditScheduleConfig` the DDIM-based editing
 * pipelines need (refused when it has no DDPM/DDIM-style schedule), and a mask picture as the keep mask
 * of `inpaint` (white = fill, black = keep). Errors are ConfigErrors about the model; callers word their
 * own errors (a flag, a request field) around them.
 *
 * This module must not read files, parse flags or know about HTTP; it only converts values.
 */
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import { imageToTensor, type RgbaImage } from '../io/images.js';
import { ConfigError } from '../util/errors.js';
import { editPredictionType, type EditInput, type EditScheduleConfig } from './img2img.js';

/** The fields of a scheduler config without which the editing pipelines cannot build a timetable. */
const SCHEDULE_FIELDS = ['numTrainTimesteps', 'timestepSpacing', 'stepsOffset', 'betaSchedule'] as const;

/** The scheduler config as the editing pipelines read it, or a ConfigError for one they cannot use. */
export function editScheduleOf(config: SchedulerConfig): EditScheduleConfig {
  const fields = config as unknown as Partial<EditScheduleConfig>;
  for (const key of SCHEDULE_FIELDS) {
    if (fields[key] === undefined) {
      throw new ConfigError(
        `the model's ${config.className} config has no ${key}; editing needs a DDPM/DDIM-style schedule`,
      );
    }
  }
  editPredictionType(fields as EditScheduleConfig);
  return fields as EditScheduleConfig;
}

/** Luma at or above this (in [0, 1]) marks a mask pixel white, i.e. to fill: 128 of 255. */
const FILL_LUMA = Math.fround(128 / 255);

/**
 * The pipeline's mask (1 = keep, 0 = fill) for one example of `channels` channels: a pixel is filled when
 * its luma is at least 128 (white), kept when darker (black); every channel follows the pixel.
 */
export function keepMask(mask: RgbaImage, channels: number): EditInput {
  const luma = imageToTensor(mask, { channels: 1, range: [0, 1] }).data;
  const plane = luma.length;
  const data = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++)
    for (let p = 0; p < plane; p++) data[c * plane + p] = luma[p] >= FILL_LUMA ? 0 : 1;
  return { data, shape: [channels, mask.height, mask.width] };
}
