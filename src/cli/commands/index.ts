/**
 * The list of subcommands. A subcommand is registered here only once it works end to end.
 * Each module exports `register(program)` and owns its flags, validation and output.
 */
import type { Command } from 'commander';
import { register as registerDenoise } from './denoise.js';
import { register as registerDistill } from './distill.js';
import { register as registerEdit } from './edit.js';
import { register as registerEval } from './eval.js';
import { register as registerExport } from './export.js';
import { register as registerGenerateDataset } from './generate-dataset.js';
import { register as registerForecast } from './forecast.js';
import { register as registerImpute } from './impute.js';
import { register as registerInfo } from './info.js';
import { register as registerInpaint } from './inpaint.js';
import { register as registerMolecules } from './molecules.js';
import { register as registerNoise } from './noise.js';
import { register as registerPlan } from './plan.js';
import { register as registerSample } from './sample.js';
import { register as registerTrain } from './train.js';
import { register as registerTrainControl } from './train-control.js';
import { register as registerTrainVae } from './train-vae.js';
import { register as registerTxt2Img } from './txt2img.js';
import { register as registerServe } from './serve.js';
import { register as registerUpscale } from './upscale.js';
import { register as registerVariations } from './variations.js';

export const commandRegistrations: ReadonlyArray<(program: Command) => void> = [
  registerExport,
  registerServe,
  registerTrain,
  registerTrainVae,
  registerDistill,
  registerTrainControl,
  registerSample,
  registerTxt2Img,
  registerEdit,
  registerInpaint,
  registerImpute,
  registerForecast,
  registerPlan,
  registerUpscale,
  registerVariations,
  registerMolecules,
  registerDenoise,
  registerNoise,
  registerEval,
  registerGenerateDataset,
  registerInfo,
];
