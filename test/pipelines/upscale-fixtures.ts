// Tiny random cascade stages saved as pipeline folders, shared by the pipeline and CLI tests.
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { savePipeline } from '../../src/models/pipeline-folder.js';
import { SuperResolutionUNet2DModel } from '../../src/models/super-resolution.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { Random } from '../../src/util/random.js';

export const small = {
  block_out_channels: [8],
  down_block_types: ['DownBlock2D'],
  up_block_types: ['UpBlock2D'],
  norm_num_groups: 4,
};
export const scheduler = schedulerConfig('DDPMScheduler', {
  predictionType: 'v_prediction',
  clipSample: false,
});

/** A tiny SR stage low → side, saved as a pipeline folder. */
export function saveSrStage(dir: string, low: number, side: number, seed = 1): void {
  const network = new SuperResolutionUNet2DModel({ ...small, sample_size: side, low_res_size: low });
  savePipeline(dir, { network, params: network.init(new Random(seed)), scheduler });
}

/** A tiny class-conditional base (3 classes + null) at side × side. */
export function saveBaseStage(dir: string, side: number): void {
  const network = new UNet2DModel({
    ...small,
    sample_size: side,
    in_channels: 1,
    out_channels: 1,
    num_class_embeds: 4,
    add_attention: false,
  });
  savePipeline(dir, { network, params: network.init(new Random(2)), scheduler });
}
