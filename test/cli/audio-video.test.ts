// Audio and video through bin/diffusion.js with tiny models: a spoken-digits-style folder of WAVs trains a
// class-conditional 1-D U-Net and samples a WAV; moving MNIST trains the space–time U-Net, `sample` writes
// an animated GIF and a frame-strip PNG of the expected sizes, and misuse exits 2 with one line.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav, writeWav } from '../../src/io/audio.js';
import { readImage } from '../../src/io/images.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('audio and video on the command line', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-av-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('trains on a spoken-digits folder (labels from sub-folders) and samples a WAV at 8 kHz', () => {
    const data = join(dir, 'digits');
    for (const digit of ['0', '1']) {
      mkdirSync(join(data, digit), { recursive: true });
      for (let k = 0; k < 3; k++) {
        const hz = digit === '0' ? 300 + 20 * k : 900 + 20 * k;
        const clip = Float32Array.from(
          { length: 256 },
          (_, n) => 0.5 * Math.sin((2 * Math.PI * hz * n) / 8000),
        );
        writeWav(join(data, digit, `${k}.wav`), clip, 8000);
      }
    }
    const config = join(dir, 'audio.json');
    writeFileSync(
      config,
      JSON.stringify({
        data: 'spoken-digits',
        dataOptions: { path: data, length: 256 },
        model: { className: 'UNet1DModel', config: { block_out_channels: [4, 8], norm_num_groups: 2 } },
        classConditional: true,
        steps: 2,
        batchSize: 2,
        lr: 1e-3,
        numSamples: 2,
        sampleSteps: 2,
      }),
    );
    const out = join(dir, 'audio-run');
    const trained = run('train', '--config', config, '--out', out);
    assert.equal(trained.status, 0, trained.stderr);
    const wav = join(dir, 'one.wav');
    const sampled = run('sample', '--model', out, '--class', '1', '--num', '1', '--steps', '2', '--out', wav);
    assert.equal(sampled.status, 0, sampled.stderr);
    const audio = readWav(wav);
    assert.equal(audio.sampleRate, 8000);
    assert.equal(audio.channels[0].length, 256);
  });

  describe('moving MNIST', () => {
    let out = '';
    before(() => {
      const config = join(dir, 'video.json');
      writeFileSync(
        config,
        JSON.stringify({
          data: 'moving-mnist',
          dataOptions: { size: 8, imageSize: 24, frames: 4 },
          model: {
            className: 'UNet3DModel',
            config: { sample_size: 24, num_frames: 4, block_out_channels: [4, 8], norm_num_groups: 2 },
          },
          steps: 2,
          batchSize: 2,
          lr: 1e-3,
          numSamples: 2,
          sampleSteps: 2,
        }),
      );
      out = join(dir, 'video-run');
      const trained = run('train', '--config', config, '--out', out);
      assert.equal(trained.status, 0, trained.stderr);
    });

    it('training writes a frame-strip PNG: one row of 4 frames per sample', () => {
      const image = readImage(join(out, 'samples.png'));
      assert.deepEqual([image.width, image.height], [4 * 26 + 2, 2 * 26 + 2]);
    });

    it('sample writes an animated GIF with one frame per video frame, and a strip PNG', () => {
      const gif = join(dir, 'videos.gif');
      const result = run('sample', '--model', out, '--num', '3', '--steps', '2', '--out', gif);
      assert.equal(result.status, 0, result.stderr);
      const bytes = readFileSync(gif);
      assert.equal(bytes.subarray(0, 6).toString('latin1'), 'GIF89a');
      // 3 videos in a 2-wide grid of 24 px cells with 2 px padding.
      assert.equal(bytes.readUInt16LE(6), 2 * 26 + 2);
      assert.equal(bytes.readUInt16LE(8), 2 * 26 + 2);
      const frames = [...bytes].filter(
        (b, i) => b === 0x2c && bytes[i - 1] === 0x00 && bytes[i - 8] === 0x21,
      ).length;
      assert.equal(frames, 4, 'one image descriptor per frame');
      const png = join(dir, 'videos.png');
      assert.equal(run('sample', '--model', out, '--num', '3', '--steps', '2', '--out', png).status, 0);
      const image = readImage(png);
      assert.deepEqual([image.width, image.height], [4 * 26 + 2, 3 * 26 + 2]);
    });

    it('misuse exits 2 with a one-line error', () => {
      const wav = run('sample', '--model', out, '--num', '1', '--steps', '2', '--out', join(dir, 'v.wav'));
      assert.equal(wav.status, 2);
      assert.match(wav.stderr, /not for videos/);
      assert.equal(wav.stderr.trim().split('\n').length, 1);
      const badFormat = run('sample', '--model', out, '--format', 'mp4', '--out', join(dir, 'v.png'));
      assert.equal(badFormat.status, 2);
      assert.match(badFormat.stderr, /--format/);
      const badData = run('train', '--data', 'moving-mnist', '--out', join(dir, 'x'), '--steps', '0');
      assert.equal(badData.status, 2);
    });
  });
});
