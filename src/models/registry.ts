/**
 * Builds a denoising network from its saved config by diffusers' `_class_name`. Each network class
 * registers one builder here (a one-line entry: `MLPDenoiser`, `UNet1DModel` and others are added
 * the same way as `UNet2DModel`).
 *
 * This module must not read files; callers parse config.json and pass the object.
 */
import { ConfigError, unknownChoice } from '../util/errors.js';
import type { DenoiserNetwork } from './types.js';
import { UNet2DModel } from './unet2d.js';
import { MLPDenoiser } from './mlp.js';
import { UNet1DModel } from './unet1d.js';
import { ForecastUNet1DModel } from './forecast-unet1d.js';
import { UNet2DConditionModel } from './unet2d-condition.js';
import { UNet3DModel } from './unet3d.js';
import { SuperResolutionUNet2DModel } from './super-resolution.js';
import { EmbeddingPrior } from './embedding-prior.js';

type NetworkBuilder = (config: Record<string, unknown>) => DenoiserNetwork;

// Add one line per network class: `<_class_name>: (config) => new <Class>(config),`.
const BUILDERS: Readonly<Record<string, NetworkBuilder>> = {
  UNet2DModel: (config) => new UNet2DModel(config),
  MLPDenoiser: (config) => new MLPDenoiser(config),
  UNet1DModel: (config) => new UNet1DModel(config),
  ForecastUNet1DModel: (config) => new ForecastUNet1DModel(config),
  UNet2DConditionModel: (config) => new UNet2DConditionModel(config),
  UNet3DModel: (config) => new UNet3DModel(config),
  SuperResolutionUNet2DModel: (config) => new SuperResolutionUNet2DModel(config),
  EmbeddingPrior: (config) => new EmbeddingPrior(config),
};

/** The `_class_name` values a config may carry. */
export function networkClassNames(): string[] {
  return Object.keys(BUILDERS);
}

/** A network built from a config object (e.g. a parsed `unet/config.json`), chosen by `_class_name`. */
export function buildNetwork(config: unknown): DenoiserNetwork {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ConfigError('network config must be a JSON object with a _class_name');
  }
  const record = config as Record<string, unknown>;
  const className = record._class_name;
  if (typeof className !== 'string') {
    throw new ConfigError('network config has no _class_name', {
      hint: `add "_class_name": one of ${networkClassNames().join(', ')}`,
    });
  }
  const builder = BUILDERS[className];
  if (!builder) throw unknownChoice('network class', className, networkClassNames());
  return builder(record);
}
