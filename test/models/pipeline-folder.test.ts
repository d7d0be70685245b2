// Pipeline folders in diffusers' layout: save→load round trips bit-exact (MLP, UNet2DModel, with a
// VAE), the reference diffusers UNet pieces load when arranged as a folder, extra project files ride
// along, a save replaces the old folder, and every failure is a typed error naming the file.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { AutoencoderKL } from '../../src/models/autoencoder-kl.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { loadPipeline, savePipeline } from '../../src/models/pipeline-folder.js';
import type { Params } from '../../src/models/types.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { UNet1DModel } from '../../src/models/unet1d.js';
import { ConfigError, FormatError, NotFoundError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const reference = fileURLToPath(new URL('../../../shared/reference/unet_small/', import.meta.url));
const ddpm = schedulerConfig('DDPMScheduler', { numTrainTimesteps: 1000, betaSchedule: 'linear' });

let root = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'pipeline-folder-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function assertSameParams(actual: Params, expected: Params): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const name of Object.keys(expected)) {
    assert.deepEqual(actual[name].shape, expected[name].shape, name);
    assert.deepEqual(
      Buffer.from(
        (actual[name].data as Float32Array).buffer,
        actual[name].data.byteOffset,
        actual[name].data.byteLength,
      ),
      Buffer.from(
        (expected[name].data as Float32Array).buffer,
        expected[name].data.byteOffset,
        expected[name].data.byteLength,
      ),
      name,
    );
  }
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

describe('savePipeline / loadPipeline', () => {
  it('round-trips an MLP bit-exactly with extra project files that diffusers ignores', () => {
    const network = new MLPDenoiser({ hidden_size: 16, num_layers: 2, num_class_embeds: 3 });
    const params = network.init(new Random(4));
    const dir = join(root, 'mlp');
    savePipeline(dir, {
      network,
      params,
      scheduler: ddpm,
      extra: {
        'training_state/state.json': '{"step": 7}\n',
        'training_state/rng.bin': new Uint8Array([1, 2, 3]),
      },
    });
    assert.deepEqual(readJson(join(dir, 'model_index.json')), {
      _class_name: 'DDPMPipeline',
      _diffusers_version: '0.40.0.dev0',
      scheduler: ['diffusers', 'DDPMScheduler'],
      unet: ['diffusion_ts', 'MLPDenoiser'],
    });
    assert.equal(readJson(join(dir, 'unet', 'config.json'))._class_name, 'MLPDenoiser');
    assert.equal(readFileSync(join(dir, 'training_state', 'state.json'), 'utf8'), '{"step": 7}\n');
    const loaded = loadPipeline(dir);
    assert.ok(loaded.network instanceof MLPDenoiser);
    assert.deepEqual(
      { ...(loaded.network.config as object), _diffusers_version: undefined },
      {
        ...network.config,
        _diffusers_version: undefined,
      },
    );
    assert.equal(loaded.network.numClassEmbeds, 3);
    assertSameParams(loaded.params, params);
    assert.equal(loaded.schedulerConfig.className, 'DDPMScheduler');
    assert.equal(loaded.schedulerConfig.numTrainTimesteps, 1000);
    assert.equal(loaded.vae, undefined);
  });

  it('round-trips a UNet2DModel and a UNet1DModel, and a save replaces the whole old folder', () => {
    const dir = join(root, 'replace');
    const unet = new UNet2DModel({
      sample_size: 8,
      in_channels: 1,
      out_channels: 1,
      block_out_channels: [8, 16],
      down_block_types: ['DownBlock2D', 'AttnDownBlock2D'],
      up_block_types: ['AttnUpBlock2D', 'UpBlock2D'],
      norm_num_groups: 4,
      attention_head_dim: 8,
    });
    const unetParams = unet.init(new Random(1));
    savePipeline(dir, {
      network: unet,
      params: unetParams,
      scheduler: ddpm,
      extra: { 'notes/a.txt': 'old' },
    });
    const loaded2d = loadPipeline(dir);
    assert.deepEqual(readJson(join(dir, 'model_index.json')).unet, ['diffusers', 'UNet2DModel']);
    assertSameParams(loaded2d.params, unetParams);
    const signal = new UNet1DModel({ block_out_channels: [4, 8], norm_num_groups: 2, sample_size: 8 });
    const signalParams = signal.init(new Random(2));
    savePipeline(dir, { network: signal, params: signalParams, scheduler: ddpm });
    assert.ok(!existsSync(join(dir, 'notes')), 'files of the old folder are gone');
    const loaded1d = loadPipeline(dir);
    assert.equal(loaded1d.network.className, 'UNet1DModel');
    assertSameParams(loaded1d.params, signalParams);
  });

  it('saves and loads an AutoencoderKL under vae/', () => {
    const network = new MLPDenoiser({ in_features: 8, hidden_size: 8, num_layers: 1 });
    const model = new AutoencoderKL({
      in_channels: 1,
      out_channels: 1,
      block_out_channels: [4],
      latent_channels: 2,
      norm_num_groups: 2,
    });
    const vaeParams = model.init(new Random(3));
    const dir = join(root, 'latent');
    savePipeline(dir, {
      network,
      params: network.init(new Random(0)),
      scheduler: ddpm,
      vae: { model, params: vaeParams },
    });
    assert.deepEqual(readJson(join(dir, 'model_index.json')).vae, ['diffusers', 'AutoencoderKL']);
    const loaded = loadPipeline(dir);
    assert.ok(loaded.vae);
    assert.equal(loaded.vae.model.config.latent_channels, 2);
    assertSameParams(loaded.vae.params, vaeParams);
  });

  it('loads the reference diffusers UNet2DModel pieces arranged as a pipeline folder', () => {
    const dir = join(root, 'reference');
    mkdirSync(join(dir, 'unet'), { recursive: true });
    mkdirSync(join(dir, 'scheduler'), { recursive: true });
    copyFileSync(join(reference, 'config.json'), join(dir, 'unet', 'config.json'));
    copyFileSync(
      join(reference, 'diffusion_pytorch_model.safetensors'),
      join(dir, 'unet', 'diffusion_pytorch_model.safetensors'),
    );
    writeFileSync(
      join(dir, 'model_index.json'),
      JSON.stringify({
        _class_name: 'DDPMPipeline',
        _diffusers_version: '0.40.0.dev0',
        scheduler: ['diffusers', 'DDPMScheduler'],
        unet: ['diffusers', 'UNet2DModel'],
      }),
    );
    writeFileSync(
      join(dir, 'scheduler', 'scheduler_config.json'),
      JSON.stringify({
        _class_name: 'DDPMScheduler',
        _diffusers_version: '0.40.0.dev0',
        num_train_timesteps: 1000,
      }),
    );
    const loaded = loadPipeline(dir);
    assert.equal(loaded.network.className, 'UNet2DModel');
    assert.deepEqual(loaded.network.sampleShape, [3, 16, 16]);
    assert.deepEqual(loaded.params['conv_in.weight'].shape, [32, 3, 3, 3]);
    assert.equal(Object.keys(loaded.params).length, Object.keys(loaded.network.paramTypes()).length);
  });
});

describe('pipeline folder errors', () => {
  const network = new MLPDenoiser({ hidden_size: 8, num_layers: 1 });

  it('a missing folder or file is a NotFoundError naming it', () => {
    assert.throws(
      () => loadPipeline(join(root, 'nowhere')),
      (e: Error) => e instanceof NotFoundError && /nowhere/.test(e.message),
    );
    const dir = join(root, 'partial');
    savePipeline(dir, { network, params: network.init(new Random(0)), scheduler: ddpm });
    rmSync(join(dir, 'unet', 'diffusion_pytorch_model.safetensors'));
    assert.throws(
      () => loadPipeline(dir),
      (e: Error) =>
        e instanceof NotFoundError && /unet weights .*diffusion_pytorch_model\.safetensors/.test(e.message),
    );
    rmSync(join(dir, 'model_index.json'));
    assert.throws(
      () => loadPipeline(dir),
      (e: Error) => e instanceof NotFoundError && /model_index\.json/.test(e.message),
    );
  });

  it('an unknown network class is a NotFoundError listing the known ones', () => {
    const dir = join(root, 'unknown');
    savePipeline(dir, { network, params: network.init(new Random(0)), scheduler: ddpm });
    const configPath = join(dir, 'unet', 'config.json');
    writeFileSync(configPath, JSON.stringify({ ...readJson(configPath), _class_name: 'UVit2DModel' }));
    const indexPath = join(dir, 'model_index.json');
    writeFileSync(indexPath, JSON.stringify({ ...readJson(indexPath), unet: ['diffusers', 'UVit2DModel'] }));
    assert.throws(
      () => loadPipeline(dir),
      (e: Error & { hint?: string }) =>
        e instanceof NotFoundError && /UVit2DModel/.test(e.message) && /MLPDenoiser/.test(e.hint ?? ''),
    );
    writeFileSync(indexPath, JSON.stringify({ ...readJson(indexPath), unet: ['diffusers', 'UNet2DModel'] }));
    assert.throws(
      () => loadPipeline(dir),
      (e: Error) => e instanceof ConfigError && /model_index\.json says UNet2DModel/.test(e.message),
    );
  });

  it('weights that do not match the config are a FormatError naming the tensor', () => {
    const dir = join(root, 'mismatch');
    savePipeline(dir, { network, params: network.init(new Random(0)), scheduler: ddpm });
    const configPath = join(dir, 'unet', 'config.json');
    writeFileSync(configPath, JSON.stringify({ ...readJson(configPath), hidden_size: 12 }));
    assert.throws(
      () => loadPipeline(dir),
      (e: Error) =>
        e instanceof FormatError &&
        /'blocks\.0\.linear_1\.bias' has shape \[8\], expected \[12\]/.test(e.message),
    );
  });

  it('refuses params of another network and extra paths that escape or shadow components, writing nothing', () => {
    const dir = join(root, 'refused');
    const other = new MLPDenoiser({ hidden_size: 4, num_layers: 1 });
    assert.throws(
      () => savePipeline(dir, { network, params: other.init(new Random(0)), scheduler: ddpm }),
      (e: Error) => e instanceof FormatError && /has shape \[4\], the config needs \[8\]/.test(e.message),
    );
    for (const path of ['../outside.txt', 'unet/extra.bin', '/abs.txt']) {
      assert.throws(
        () =>
          savePipeline(dir, {
            network,
            params: network.init(new Random(0)),
            scheduler: ddpm,
            extra: { [path]: 'x' },
          }),
        UsageError,
      );
    }
    assert.ok(!existsSync(dir));
  });
});
