/**
 * Learning-rate schedules as pure functions of the 1-based step: a linear warm-up from 0 to the peak,
 * then either a constant rate or a half-cosine decay to `minRatio` × peak at the last step (SGDR of
 * Loshchilov & Hutter 2017 without restarts, as diffusers' `get_cosine_schedule_with_warmup`). Being a
 * function of the step alone, the rate needs no saved state for a resumed run to continue exactly.
 *
 * This module must not hold optimizer state or know about the train step.
 */
import { ConfigError, unknownChoice } from '../util/errors.js';

export const LR_SCHEDULES = ['constant', 'cosine'] as const;
export type LrScheduleName = (typeof LR_SCHEDULES)[number];

export interface LrSchedule {
  /** The peak learning rate, reached at the end of warm-up. */
  peak: number;
  /** Steps of linear warm-up (0: start at the peak). */
  warmupSteps: number;
  /** Total steps of the run; the cosine reaches its floor here. */
  totalSteps: number;
  name: LrScheduleName;
  /** Floor of the cosine decay as a fraction of the peak. */
  minRatio: number;
}

/** The schedule of a training config with the usual field names (lr, warmupSteps, steps, lrSchedule, minLrRatio). */
export function scheduleOf(config: {
  lr: number;
  warmupSteps: number;
  steps: number;
  lrSchedule: LrScheduleName;
  minLrRatio: number;
}): LrSchedule {
  return {
    peak: config.lr,
    warmupSteps: config.warmupSteps,
    totalSteps: config.steps,
    name: config.lrSchedule,
    minRatio: config.minLrRatio,
  };
}

/** Throws a ConfigError naming the field unless the schedule is usable. */
export function checkLrSchedule(schedule: LrSchedule): void {
  if (!(schedule.peak > 0 && Number.isFinite(schedule.peak)))
    throw new ConfigError(`learning rate must be a positive number, got ${schedule.peak}`);
  if (!Number.isInteger(schedule.warmupSteps) || schedule.warmupSteps < 0)
    throw new ConfigError(`warm-up steps must be an integer ≥ 0, got ${schedule.warmupSteps}`);
  if (!(schedule.minRatio >= 0 && schedule.minRatio <= 1))
    throw new ConfigError(`minimum learning-rate ratio must be in [0, 1], got ${schedule.minRatio}`);
  if (!LR_SCHEDULES.includes(schedule.name)) throw unknownChoice('lr schedule', schedule.name, LR_SCHEDULES);
}

/** The learning rate of 1-based step `step`. */
export function learningRate(schedule: LrSchedule, step: number): number {
  const { peak, warmupSteps, totalSteps, name, minRatio } = schedule;
  if (step <= warmupSteps) return (peak * step) / Math.max(1, warmupSteps);
  if (name === 'constant') return peak;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / span);
  const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
  return peak * (minRatio + (1 - minRatio) * cosine);
}
