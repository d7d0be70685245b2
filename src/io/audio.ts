/**
 * WAV (RIFF/WAVE) reading and writing for 1-D signal data. Reading accepts integer PCM of 8, 16, 24
 * and 32 bits and IEEE float of 32 and 64 bits, plain or WAVE_FORMAT_EXTENSIBLE; every chunk size is
 * checked against the file before data is touched, and samples become Float32Array in [−1, 1)
 * (integer q of b bits → q / 2^(b−1), as soundfile and torchaudio read them). Writing produces 16-bit
 * PCM (x·32768 rounded and clipped, the inverse of reading, so 16-bit data round-trips exactly) or
 * 32-bit float. This module only converts bytes; resampling and framing belong to the data layer.
 */
import { readFileSync } from 'node:fs';
import { FormatError, NotFoundError, NumericError, ShapeError, UsageError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

export interface WavAudio {
  sampleRate: number;
  /** One Float32Array per channel, all the same length. */
  channels: Float32Array[];
}

export type WavSampleFormat = 'pcm16' | 'float32';

const PCM = 1;
const IEEE_FLOAT = 3;
const EXTENSIBLE = 0xfffe;
/** Beyond any real recording (common rates are 8 kHz to 384 kHz); guards against garbage headers. */
const MAX_SAMPLE_RATE = 10_000_000;
const MAX_CHANNELS = 256;

interface WavFormat {
  code: number;
  channelCount: number;
  sampleRate: number;
  bitsPerSample: number;
  blockAlign: number;
}

/** Decodes WAV bytes; `what` names the source in errors. */
export function decodeWav(bytes: Uint8Array, what = 'WAV data'): WavAudio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (offset: number) => String.fromCharCode(...bytes.subarray(offset, offset + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    throw new FormatError(`${what} is not a WAV file (no RIFF/WAVE header)`);
  }
  const riffEnd = 8 + view.getUint32(4, true);
  if (riffEnd > bytes.length) {
    throw new FormatError(`${what}: RIFF header claims ${riffEnd} bytes but the file has ${bytes.length}`, {
      hint: 'the file is truncated',
    });
  }
  let format: WavFormat | undefined;
  let data: Uint8Array | undefined;
  for (let offset = 12; offset + 8 <= riffEnd;) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (body + size > riffEnd) {
      throw new FormatError(
        `${what}: chunk '${id}' at byte ${offset} claims ${size} bytes, past the end of the file (${riffEnd})`,
      );
    }
    if (id === 'fmt ') format = parseFormat(view, body, size, what);
    else if (id === 'data') data = bytes.subarray(body, body + size);
    offset = body + size + (size % 2); // chunks are padded to even sizes
  }
  if (!format) throw new FormatError(`${what}: no 'fmt ' chunk`);
  if (!data) throw new FormatError(`${what}: no 'data' chunk`);
  if (data.length % format.blockAlign !== 0) {
    throw new FormatError(
      `${what}: data chunk of ${data.length} bytes is not a whole number of ${format.blockAlign}-byte frames`,
    );
  }
  return { sampleRate: format.sampleRate, channels: decodeSamples(data, format) };
}

function parseFormat(view: DataView, body: number, size: number, what: string): WavFormat {
  if (size < 16) throw new FormatError(`${what}: 'fmt ' chunk has ${size} bytes, needs at least 16`);
  let code = view.getUint16(body, true);
  const channelCount = view.getUint16(body + 2, true);
  const sampleRate = view.getUint32(body + 4, true);
  const blockAlign = view.getUint16(body + 12, true);
  const bitsPerSample = view.getUint16(body + 14, true);
  if (code === EXTENSIBLE) {
    // The real format code is the first two bytes of the SubFormat GUID, 8 bytes into the extension.
    if (size < 40) throw new FormatError(`${what}: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is too short`);
    code = view.getUint16(body + 24, true);
  }
  const supported =
    (code === PCM && [8, 16, 24, 32].includes(bitsPerSample)) ||
    (code === IEEE_FLOAT && [32, 64].includes(bitsPerSample));
  if (!supported) {
    throw new FormatError(`${what}: unsupported sample format (code ${code}, ${bitsPerSample} bits)`, {
      hint: 'supported: PCM 8/16/24/32-bit and float 32/64-bit; convert the file to 16-bit PCM',
    });
  }
  if (channelCount < 1 || channelCount > MAX_CHANNELS) {
    throw new FormatError(`${what}: ${channelCount} channels (must be 1 to ${MAX_CHANNELS})`);
  }
  if (sampleRate < 1 || sampleRate > MAX_SAMPLE_RATE) {
    throw new FormatError(`${what}: sample rate ${sampleRate} Hz is not plausible`);
  }
  if (blockAlign !== (channelCount * bitsPerSample) / 8) {
    throw new FormatError(
      `${what}: block align ${blockAlign} does not match ${channelCount} channels of ${bitsPerSample} bits`,
    );
  }
  return { code, channelCount, sampleRate, bitsPerSample, blockAlign };
}

/** Interleaved frames → one Float32Array per channel. */
function decodeSamples(data: Uint8Array, format: WavFormat): Float32Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const frames = data.length / format.blockAlign;
  const bytes = format.bitsPerSample / 8;
  const read = sampleReader(view, format);
  return Array.from({ length: format.channelCount }, (_, c) => {
    const out = new Float32Array(frames);
    for (let i = 0; i < frames; i++) out[i] = read(i * format.blockAlign + c * bytes);
    return out;
  });
}

function sampleReader(view: DataView, { code, bitsPerSample }: WavFormat): (offset: number) => number {
  if (code === IEEE_FLOAT) {
    return bitsPerSample === 32 ? (o) => view.getFloat32(o, true) : (o) => view.getFloat64(o, true);
  }
  switch (bitsPerSample) {
    case 8:
      return (o) => (view.getUint8(o) - 128) / 128; // 8-bit WAV is unsigned, centred on 128
    case 16:
      return (o) => view.getInt16(o, true) / 32768;
    case 24:
      return (o) => (view.getUint16(o, true) | (view.getInt8(o + 2) << 16)) / 8388608;
    default:
      return (o) => view.getInt32(o, true) / 2147483648;
  }
}

/** The average of all channels (stereo → mono as (L + R)/2). */
export function mixToMono(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0];
  const out = new Float32Array(channels[0].length);
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (const channel of channels) sum += channel[i];
    out[i] = sum / channels.length;
  }
  return out;
}

export interface ReadWavOptions {
  /** Refuse files at any other rate (models are trained at one rate; resampling is the caller's step). */
  expectedSampleRate?: number;
}

/** Reads a WAV file. */
export function readWav(path: string, options: ReadWavOptions = {}): WavAudio {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new NotFoundError(`cannot read audio file '${path}'${code ? ` (${code})` : ''}`, { cause: error });
  }
  const audio = decodeWav(bytes, `'${path}'`);
  const expected = options.expectedSampleRate;
  if (expected !== undefined && audio.sampleRate !== expected) {
    throw new UsageError(`'${path}' is sampled at ${audio.sampleRate} Hz, expected ${expected} Hz`, {
      hint: `resample it to ${expected} Hz first`,
    });
  }
  return audio;
}

/** Reads a WAV file as one mono signal (channels averaged). */
export function readWavMono(
  path: string,
  options: ReadWavOptions = {},
): { sampleRate: number; samples: Float32Array } {
  const audio = readWav(path, options);
  return { sampleRate: audio.sampleRate, samples: mixToMono(audio.channels) };
}

/** WAV bytes of one or more equal-length channels. */
export function encodeWav(
  channels: Float32Array | readonly Float32Array[],
  sampleRate: number,
  sampleFormat: WavSampleFormat = 'pcm16',
): Uint8Array {
  const list = channels instanceof Float32Array ? [channels] : [...channels];
  checkWritable(list, sampleRate, sampleFormat);
  const float = sampleFormat === 'float32';
  const bytesPerSample = float ? 4 : 2;
  const frames = list[0].length;
  const blockAlign = list.length * bytesPerSample;
  const dataBytes = frames * blockAlign;
  // float adds a 12-byte 'fact' chunk (sample frames), which the format requires for non-PCM data.
  const headerBytes = float ? 12 + 24 + 12 + 8 : 12 + 24 + 8;
  const out = new Uint8Array(headerBytes + dataBytes + (dataBytes % 2));
  const view = new DataView(out.buffer);
  const writeTag = (offset: number, tag: string) => out.set(new TextEncoder().encode(tag), offset);
  writeTag(0, 'RIFF');
  view.setUint32(4, out.length - 8, true);
  writeTag(8, 'WAVE');
  writeTag(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, float ? IEEE_FLOAT : PCM, true);
  view.setUint16(22, list.length, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * blockAlign, true);
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, bytesPerSample * 8, true);
  let offset = 36;
  if (float) {
    writeTag(36, 'fact');
    view.setUint32(40, 4, true);
    view.setUint32(44, frames, true);
    offset = 48;
  }
  writeTag(offset, 'data');
  view.setUint32(offset + 4, dataBytes, true);
  offset += 8;
  for (let i = 0; i < frames; i++) {
    for (const channel of list) {
      if (float) view.setFloat32(offset, channel[i], true);
      else view.setInt16(offset, Math.max(-32768, Math.min(32767, Math.round(channel[i] * 32768))), true);
      offset += bytesPerSample;
    }
  }
  return out;
}

/** Writes a WAV file atomically. */
export function writeWav(
  path: string,
  channels: Float32Array | readonly Float32Array[],
  sampleRate: number,
  sampleFormat: WavSampleFormat = 'pcm16',
): void {
  writeFileAtomic(path, encodeWav(channels, sampleRate, sampleFormat));
}

function checkWritable(channels: Float32Array[], sampleRate: number, sampleFormat: WavSampleFormat): void {
  if (sampleFormat !== 'pcm16' && sampleFormat !== 'float32') {
    throw new UsageError(`WAV sample format '${sampleFormat}' is not one of pcm16, float32`);
  }
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > MAX_SAMPLE_RATE) {
    throw new UsageError(`WAV sample rate must be a positive integer number of Hz, got ${sampleRate}`);
  }
  if (channels.length < 1 || channels.length > MAX_CHANNELS) {
    throw new ShapeError(`WAV needs 1 to ${MAX_CHANNELS} channels, got ${channels.length}`);
  }
  const frames = channels[0].length;
  channels.forEach((channel, c) => {
    if (channel.length !== frames) {
      throw new ShapeError(`WAV channel ${c} has ${channel.length} samples, channel 0 has ${frames}`);
    }
    const bad = channel.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new NumericError(`WAV channel ${c} sample ${bad} is ${channel[bad]}`);
  });
  const dataBytes = frames * channels.length * (sampleFormat === 'float32' ? 4 : 2);
  if (dataBytes > 0xffffffff - 64) {
    throw new ShapeError(`WAV data of ${dataBytes} bytes exceeds the format's 4 GB limit`);
  }
}
