import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageToTensor, imagesToTensor, tensorToImages, type RgbaImage } from '../../src/io/images.js';
import { NumericError, ShapeError } from '../../src/util/errors.js';

/**
 * NumPy's bytes for the 768 values x = float32(2·((k + ½)/255) − 1) and their float32 neighbours
 * (k = 0…255, order: below, x, above), through diffusers' postprocess in float32:
 * `((x/2 + 0.5).clip(0, 1) * 255).round().astype(uint8)`. Naive rounding in float64 misses 193 of them.
 */
const NUMPY_BYTES =
  '00000101010202020303030404040505050606060707070808080909090a0a0a0b0b0b0c0c0c0d0d0d0e0e0e0f0f0f1010101111111212121313131414141515151616161717171818181919191a1a1a1b1b1b1c1c1c1d1d1d1e1e1e1f1f1f2020202121212222222323232424242525252626262727272828282929292a2a2a2b2b2b2c2c2c2d2d2d2e2e2e2f2f2f3030303131313232323333333434343535353636363737373838383939393a3a3a3b3b3b3c3c3c3d3d3d3e3e3e3f3f3f40404040414242424242434444444444454646464646474848484848494a4a4a4a4a4b4c4c4c4c4c4d4e4e4e4e4e4f5050505050515252525252535454545454555656565656575858585858595a5a5a5a5a5b5c5c5c5c5c5d5e5e5e5e5e5f60606060606262626262626464646464646666666666666868686868686a6a6a6a6a6a6c6c6c6c6c6c6e6e6e6e6e6e7070707070707272727272727474747474747676767676767878787878787a7a7a7a7a7a7c7c7c7c7c7c7e7e7e7e7e7e8080808080808282828282828484848484848686868686868888888888888a8a8a8a8a8a8c8c8c8c8c8c8e8e8e8e8e8e9090909090909292929292929494949494949696969696969898989898989a9a9a9a9a9a9c9c9c9c9c9c9e9e9e9e9e9ea0a0a0a0a0a1a2a2a2a2a2a3a4a4a4a4a4a5a6a6a6a6a6a7a8a8a8a8a8a9aaaaaaaaaaabacacacacacadaeaeaeaeaeafb0b0b0b0b0b1b2b2b2b2b2b3b4b4b4b4b4b5b6b6b6b6b6b7b8b8b8b8b8b9babababababbbcbcbcbcbcbdbebebebebebfc0c0c0c0c1c1c2c2c2c2c3c3c4c4c4c4c5c5c6c6c6c6c7c7c8c8c8c8c9c9cacacacacbcbcccccccccdcdcececececfcfd0d0d0d0d1d1d2d2d2d2d3d3d4d4d4d4d5d5d6d6d6d6d7d7d8d8d8d8d9d9dadadadadbdbdcdcdcdcdddddededededfdfe0e0e0e0e1e1e2e2e2e2e3e3e4e4e4e4e5e5e6e6e6e6e7e7e8e8e8e8e9e9eaeaeaeaebebececececededeeeeeeeeefeff0f0f0f0f1f1f2f2f2f2f3f3f4f4f4f4f5f5f6f6f6f6f7f7f8f8f8f8f9f9fafafafafbfbfcfcfcfcfdfdfefefefefefeffffff';

/** The float32 value just above (+1) or below (−1) x. */
function nextFloat32(x: number, direction: 1 | -1): number {
  if (x === 0) return direction * 2 ** -149;
  const f = new Float32Array([x]);
  const bits = new Int32Array(f.buffer);
  bits[0] += x > 0 ? direction : -direction;
  return f[0];
}

function image(width: number, height: number, pixels: number[][]): RgbaImage {
  return { width, height, data: Uint8Array.from(pixels.flat()) };
}

test('every byte survives image → tensor → image, in both common ranges', () => {
  const all = image(
    256,
    1,
    Array.from({ length: 256 }, (_, b) => [b, 255 - b, b, 255]),
  );
  for (const range of [
    [-1, 1],
    [0, 1],
  ] as const) {
    const tensor = imageToTensor(all, { range });
    assert.deepEqual(tensor.shape, [1, 3, 1, 256]);
    assert.deepEqual(tensorToImages(tensor.data, tensor.shape, { range })[0].data, all.data);
  }
  // diffusers' float32 values: 2·float32(b/255) − 1.
  const t = imageToTensor(all).data;
  assert.equal(t[0], -1);
  assert.equal(t[255], 1);
  assert.equal(t[1], -0.9921568632125854);
  assert.equal(t[128], 0.003921627998352051);
  assert.equal(imageToTensor(all, { range: [0, 1] }).data[51], Math.fround(0.2));
});

test("tensor → bytes matches diffusers' float32 postprocess bit for bit, ties to even included", () => {
  const xs: number[] = [];
  for (let k = 0; k < 256; k++) {
    const x = Math.fround(2 * ((k + 0.5) / 255) - 1);
    xs.push(nextFloat32(x, -1), x, nextFloat32(x, 1));
  }
  const grey = tensorToImages(Float32Array.from(xs), [1, 1, 768]);
  const got = Buffer.from(grey[0].data.filter((_, i) => i % 4 === 0)).toString('hex');
  assert.equal(got, NUMPY_BYTES);
  // Out of range is clamped; x = 0 lands on the tie 127.5 and goes to the even 128.
  const [clamped] = tensorToImages(new Float32Array([-7, 0, 1e9]), [1, 1, 3]);
  assert.deepEqual([...clamped.data], [0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255]);
});

test('NCHW layout, batch, grey luma (PIL "L") and alpha composited on white', () => {
  const a = image(2, 1, [
    [255, 0, 0, 255],
    [0, 0, 0, 0], // transparent → white
  ]);
  const b = image(2, 1, [
    [0, 255, 0, 255],
    [0, 0, 0, 128], // half-transparent black over white → round(255·127/255) = 127
  ]);
  const rgb = imagesToTensor([a, b], { range: [0, 1] });
  assert.deepEqual(rgb.shape, [2, 3, 1, 2]);
  const v = (byte: number) => Math.fround(byte / 255);
  assert.deepEqual([...rgb.data], [1, 1, 0, 1, 0, 1, 0, v(127), 1, v(127), 0, v(127)]);
  const grey = imagesToTensor([a, b], { range: [0, 1], channels: 1 });
  assert.deepEqual(grey.shape, [2, 1, 1, 2]);
  // PIL luma: red → 76, green → 150.
  assert.deepEqual([...grey.data], [v(76), 1, v(150), v(127)]);
  const rgba = imageToTensor(b, { channels: 4, range: [0, 1] });
  assert.deepEqual([...rgba.data], [0, 0, 1, 0, 0, 0, 1, v(128)]);
  const back = tensorToImages(rgba.data, [4, 1, 2], { range: [0, 1] });
  assert.deepEqual(back[0].data, b.data);
  const [g] = tensorToImages(new Float32Array([0.5]), [1, 1, 1, 1], { range: [0, 1] });
  assert.deepEqual([...g.data], [128, 128, 128, 255]);
});

test('bad shapes and NaN are typed errors', () => {
  const a = image(2, 1, [
    [0, 0, 0, 255],
    [0, 0, 0, 255],
  ]);
  const b = image(1, 1, [[0, 0, 0, 255]]);
  assert.throws(
    () => imagesToTensor([a, b]),
    (e: unknown) => e instanceof ShapeError && /image 1 is 1×1/.test(e.message),
  );
  assert.throws(() => imagesToTensor([]), ShapeError);
  assert.throws(() => imageToTensor(a, { channels: 2 as 3 }), ShapeError);
  assert.throws(() => imageToTensor(a, { range: [1, 1] }), ShapeError);
  assert.throws(() => tensorToImages(new Float32Array(6), [1, 2, 1, 3]), /C = 1, 3 or 4/);
  assert.throws(() => tensorToImages(new Float32Array(5), [1, 1, 2, 3]), /does not fit 5 values/);
  assert.throws(
    () => tensorToImages(new Float32Array([0, NaN]), [1, 1, 2]),
    (e: unknown) => e instanceof NumericError && /NaN at index 1/.test(e.message),
  );
});
