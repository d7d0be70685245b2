/**
 * Conversions between JavaScript numbers and the two 16-bit float formats of weight files:
 * IEEE 754 binary16 (F16: 5 exponent bits, 10 fraction bits) and bfloat16 (BF16: 8 exponent bits,
 * 7 fraction bits). Encoding rounds each value once, to nearest with ties to even, straight from its
 * double value (no detour through float32, which could round twice); overflow gives ±Infinity,
 * tiny values become subnormals or ±0, NaN stays NaN. This module knows nothing of files.
 */

interface SmallFloatFormat {
  fractionBits: number;
  bias: number;
}

const F16: SmallFloatFormat = { fractionBits: 10, bias: 15 };
const BF16: SmallFloatFormat = { fractionBits: 7, bias: 127 };

/** F16 bit patterns → float32 values (exact: every F16 value is a float32 value). */
export function halfToFloat(half: Uint16Array): Float32Array {
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) {
    const h = half[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) out[i] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) out[i] = fraction ? NaN : sign * Infinity;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}

/** BF16 bit patterns → float32 values (exact: BF16 is the top half of a float32). */
export function bfloat16ToFloat(bf16: Uint16Array): Float32Array {
  const bits = new Uint32Array(bf16.length);
  for (let i = 0; i < bf16.length; i++) bits[i] = bf16[i] << 16;
  return new Float32Array(bits.buffer);
}

/** Values → F16 bit patterns, correctly rounded. */
export function floatToHalf(values: ArrayLike<number>): Uint16Array {
  return encodeAll(values, F16);
}

/** Values → BF16 bit patterns, correctly rounded (not truncated, unlike a plain bit shift). */
export function floatToBfloat16(values: ArrayLike<number>): Uint16Array {
  return encodeAll(values, BF16);
}

function encodeAll(values: ArrayLike<number>, format: SmallFloatFormat): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encode(values[i], format);
  return out;
}

// Reading a double's exponent field from its bits is exact where Math.log2 may be off by one ulp.
const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** One value → bit pattern of a format with 1 sign bit, `16 − 1 − fractionBits` exponent bits. */
function encode(x: number, { fractionBits, bias }: SmallFloatFormat): number {
  const exponentMask = (2 * bias + 1) << fractionBits; // all exponent bits set
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  if (Number.isNaN(x)) return sign | exponentMask | (1 << (fractionBits - 1)); // quiet NaN
  const a = Math.abs(x);
  const minNormalExponent = 1 - bias;
  if (a < 2 ** minNormalExponent) {
    // Subnormal: a multiple of 2^(minNormalExponent − fractionBits). A result of 2^fractionBits is
    // the smallest normal number, whose bit pattern is that same integer.
    return sign | roundHalfEven(a * 2 ** (fractionBits - minNormalExponent));
  }
  if (a === Infinity) return sign | exponentMask;
  scratch[0] = a;
  let exponent = ((scratchWords[HIGH_WORD] >>> 20) & 0x7ff) - 1023;
  // a = 2^exponent · (1 + f), f in [0, 1); round f to fractionBits bits.
  let fraction = roundHalfEven((a * 2 ** -exponent - 1) * 2 ** fractionBits);
  if (fraction === 2 ** fractionBits) {
    fraction = 0;
    exponent += 1;
  }
  if (exponent > bias) return sign | exponentMask; // overflow → ±Infinity
  return sign | ((exponent + bias) << fractionBits) | fraction;
}

/** Nearest integer, ties to even (IEEE 754 default rounding). Exact for the values used here. */
function roundHalfEven(v: number): number {
  const floor = Math.floor(v);
  const rest = v - floor;
  if (rest > 0.5 || (rest === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}
