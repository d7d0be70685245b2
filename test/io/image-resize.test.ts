import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  centerCrop,
  resizeAndCenterCrop,
  resizeImage,
  resizeShorterSide,
  type RgbaImage,
} from '../../src/io/images.js';
import { NotFoundError, ShapeError } from '../../src/util/errors.js';

/** PyTorch 1.13 `interpolate(x, size=(8, 7), mode="bilinear", align_corners=False).round()` of the
 * 5×3 image below, as HWC bytes. */
const TORCH_BILINEAR_8x7 =
  '001f3e07264511304f1a39582342612d4c6b3453720221400a29481332511c3b5a2544632f4e6d3655740f2e4d173655203f5e2948673352713c5b7a4362811c3b5a2443622d4c6b365574405f7e496887506f8e2a496831506f3a59784463824d6c8b5675945e7d9c3756753e5d7c47668551708f5a79986382a16b8aa94463824b6a895574935e7d9c6786a5708fae7897b64665844d6c8b577695607f9e6988a77392b17a99b8';

function opaque(
  width: number,
  height: number,
  value: (x: number, y: number, c: number) => number,
): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) data[(y * width + x) * 4 + c] = value(x, y, c);
      data[(y * width + x) * 4 + 3] = 255;
    }
  }
  return { width, height, data };
}

const rgbOf = (image: RgbaImage) => image.data.filter((_, i) => i % 4 !== 3);

test('bilinear matches PyTorch (half-pixel centres, no antialias) to the rounding of ties', () => {
  const source = opaque(5, 3, (x, y, c) => (7 * y * 5 + 13 * x + 31 * c) % 256);
  const resized = resizeImage(source, 7, 8, 'bilinear');
  const torch = Buffer.from(TORCH_BILINEAR_8x7, 'hex');
  const mine = rgbOf(resized);
  let exact = 0;
  for (let i = 0; i < torch.length; i++) {
    assert.ok(Math.abs(mine[i] - torch[i]) <= 1, `value ${i}: ${mine[i]} vs ${torch[i]}`);
    if (mine[i] === torch[i]) exact++;
  }
  // PyTorch rounds its 18 exact halves to even; we round them up.
  assert.ok(exact >= torch.length - 18, `${exact} of ${torch.length} exact`);
  // A 2-pixel row enlarged to 4: source positions 0, 0.25, 0.75, 1 (clamped at both ends).
  const row = resizeImage(
    opaque(2, 1, (x) => x * 100),
    4,
    1,
    'bilinear',
  );
  assert.deepEqual([...row.data.filter((_, i) => i % 4 === 0)], [0, 25, 75, 100]);
});

test('area averages covered pixels weighted by coverage', () => {
  const block = opaque(4, 4, (x, y) => (x < 2 ? 0 : 100) + (y < 2 ? 0 : 40) + x + 4 * y);
  const half = resizeImage(block, 2, 2, 'area');
  // Means of the 2×2 blocks: (0+1+4+5)/4 = 2.5 → 3, 100 + 4.5, 40 + 10.5, 140 + 12.5 (halves round up).
  assert.deepEqual([...half.data.filter((_, i) => i % 4 === 0)], [3, 105, 51, 153]);
  // 3 → 2: output pixels cover [0, 1.5) and [1.5, 3): (0 + 90/2)/1.5 = 30 and (90/2 + 180)/1.5 = 150.
  const third = resizeImage(
    opaque(3, 1, (x) => x * 90),
    2,
    1,
    'area',
  );
  assert.deepEqual([...third.data.filter((_, i) => i % 4 === 0)], [30, 150]);
  // A constant image stays constant whatever the sizes.
  const flat = resizeImage(
    opaque(7, 5, () => 77),
    3,
    4,
    'area',
  );
  assert.ok(rgbOf(flat).every((v) => v === 77));
});

test('transparent pixels do not bleed their colour (premultiplied alpha)', () => {
  const image: RgbaImage = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 255, 0, 255, 0, 0]) };
  assert.deepEqual([...resizeImage(image, 1, 1, 'area').data], [255, 0, 0, 128]);
});

test('centre crop rounds offsets like torchvision, shorter-side resize keeps the aspect', () => {
  const image = opaque(6, 5, (x, y) => 10 * y + x);
  const crop = centerCrop(image, 1, 2);
  // left = round(2.5) = 2 (ties to even), top = round(1.5) = 2.
  assert.deepEqual([...crop.data.filter((_, i) => i % 4 === 0)], [22, 32]);
  assert.deepEqual(
    [...centerCrop(image, 3, 3).data.filter((_, i) => i % 4 === 0)],
    [12, 13, 14, 22, 23, 24, 32, 33, 34], // left = round(1.5) = 2, top = round(1) = 1
  );
  const wide = resizeShorterSide(
    opaque(40, 20, () => 0),
    10,
  );
  assert.deepEqual([wide.width, wide.height], [20, 10]);
  const tall = resizeShorterSide(
    opaque(20, 33, () => 0),
    10,
  );
  assert.deepEqual([tall.width, tall.height], [10, 16]); // int(10·33/20) = 16
  const square = resizeAndCenterCrop(
    opaque(40, 20, () => 9),
    8,
  );
  assert.deepEqual([square.width, square.height], [8, 8]);
  assert.ok(rgbOf(square).every((v) => v === 9));
  const copy = resizeImage(image, 6, 5);
  assert.deepEqual(copy.data, image.data);
  assert.notEqual(copy.data, image.data);
});

test('bad sizes and filters are typed errors', () => {
  const image = opaque(4, 4, () => 0);
  assert.throws(
    () => centerCrop(image, 5, 2),
    (e: unknown) => e instanceof ShapeError && /cannot crop 5×2/.test(e.message),
  );
  assert.throws(() => resizeImage(image, 0, 2), /must be positive integers/);
  assert.throws(() => resizeImage(image, 2, 2, 'cubic' as 'area'), NotFoundError);
});
