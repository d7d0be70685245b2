// (SLOW=1) The spoken-digits and moving-mnist presets trained through the CLI for 50 steps each (a few
// minutes of CPU): the logged training loss falls (measured 0.81 → 0.20 and 0.84 → 0.08 by step 50, see
// docs/audio.md and docs/video.md), and the folders sample a WAV and an animated GIF. 50 steps do not make
// usable models; this checks that both presets learn at all. Spoken digits need espeak-ng (skipped without).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav } from '../../src/io/audio.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const script = new URL('../../scripts/make-spoken-digits.ts', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, args, { encoding: 'utf8' });
const hasEspeak = spawnSync('espeak-ng', ['--version']).status === 0;

/** First and last logged losses of a run. */
function lossEnds(runDir: string): [number, number] {
  const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
  const losses = lines
    .map((l) => JSON.parse(l) as { loss?: number })
    .flatMap((m) => (m.loss === undefined ? [] : [m.loss]));
  return [losses[0], losses[losses.length - 1]];
}

describe('audio and video presets (slow)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'audio-video-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'spoken digits: the loss falls and the folder samples an 8 kHz WAV',
    { skip: !hasEspeak && 'espeak-ng is not installed' },
    () => {
      const data = join(dir, 'spoken-digits');
      const made = run('--import', 'tsx', script, '--out', data);
      assert.equal(made.status, 0, made.stderr);
      const runDir = join(dir, 'audio');
      const trained = run(
        bin,
        'train',
        '--data',
        'spoken-digits',
        '--data-path',
        join(data, 'train'),
        '--out',
        runDir,
        '--steps',
        '50',
      );
      assert.equal(trained.status, 0, trained.stderr);
      const [first, last] = lossEnds(runDir);
      assert.ok(last < 0.5 * first, `loss ${first} → ${last}`);
      const wav = join(dir, 'seven.wav');
      assert.equal(
        run(bin, 'sample', '--model', runDir, '--class', '7', '--num', '1', '--steps', '5', '--out', wav)
          .status,
        0,
      );
      assert.equal(readWav(wav).sampleRate, 8000);
    },
  );

  it('moving MNIST: the loss falls and the folder samples an animated GIF', () => {
    const runDir = join(dir, 'video');
    const trained = run(bin, 'train', '--data', 'moving-mnist', '--out', runDir, '--steps', '50');
    assert.equal(trained.status, 0, trained.stderr);
    const [first, last] = lossEnds(runDir);
    assert.ok(last < 0.5 * first, `loss ${first} → ${last}`);
    const gif = join(dir, 'videos.gif');
    assert.equal(run(bin, 'sample', '--model', runDir, '--num', '4', '--steps', '5', '--out', gif).status, 0);
    assert.equal(readFileSync(gif).subarray(0, 6).toString('latin1'), 'GIF89a');
  });
});
