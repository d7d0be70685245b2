/**
 * Wall-clock timing shared by the benchmarks: seconds per run as the fastest of several per-round
 * medians. On a shared machine other processes only ever slow a round down (and spinning thread pools
 * make that slowdown large), so the fastest round is the one that measured the work and not the
 * neighbours. The PyTorch sides of the benchmarks time the same way. This module must not know what
 * it times.
 */

/** The middle value of `values` (the upper one of the two for an even count). */
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Seconds per run: after `warmup` untimed runs, the median of each of `rounds` rounds (≥ 3 runs and
 * ~0.6 s each), then the fastest round.
 */
export async function bestRoundMedian(
  run: () => Promise<unknown>,
  rounds: number,
  warmup: number,
): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const medians: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const times: number[] = [];
    const start = performance.now();
    while (times.length < 3 || performance.now() - start < 600) {
      const t0 = performance.now();
      await run();
      times.push((performance.now() - t0) / 1000);
    }
    medians.push(median(times));
  }
  return Math.min(...medians);
}
