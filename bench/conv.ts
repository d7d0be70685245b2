/**
 * Convolution speed of the engine against PyTorch on the same work in one run: a 3×3 convolution
 * forward and forward+backward (batch 32, 28×28, 64→64 channels, padding 1) and one whole train step
 * of a small conv net (forward, cross-entropy, backward, AdamW) — each as one compiled graph in
 * onnxruntime-node on the CPU. Prints medians, the ratio to PyTorch (when `/usr/bin/python3 -c "import
 * torch"` works) and achieved GFLOP/s against the machine's peak. Times are medians per round, best of
 * 5 rounds (see `timeRuns`). `--profile` adds onnxruntime's per-op-type time for each engine graph.
 * Run with `npx tsx bench/conv.ts [--profile]`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '../src/engine/graph.js';
import { backward } from '../src/engine/autodiff.js';
import { cast, equal, mul } from '../src/engine/ops/elementwise.js';
import { constant } from '../src/engine/ops/constant.js';
import { mean, sum } from '../src/engine/ops/reduce.js';
import { linear, relu } from '../src/engine/ops/composite.js';
import { unsqueeze } from '../src/engine/ops/shape.js';
import { conv2d } from '../src/engine/ops/conv.js';
import { logSoftmax } from '../src/engine/ops/softmax.js';
import { adamw, hostZeros, trainStep, trainStepTypes } from '../src/engine/optim.js';
import type { TensorTree } from '../src/engine/trace.js';
import { OrtNodeRuntime } from '../src/engine/runtime/ort-node.js';
import type { CompiledFunction, HostValue } from '../src/engine/runtime/types.js';
import type { Tree } from '../src/engine/trace.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { Random } from '../src/util/random.js';
import { bestRoundMedian } from './timing.js';

const N = 32;
const SIZE = 28;
const CHANNELS = 64;
const PROFILE = process.argv.includes('--profile');
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });

/** FLOPs of one conv forward: 2·N·Cout·Hout·Wout·Cin·k². */
const convFlops = (n: number, cin: number, cout: number, out: number, k = 3) =>
  2 * n * cout * out * out * cin * k * k;

/** The small conv net of the train step: 1→32 (28²), 32→64 stride 2 (14²), 64→64 (14²), mean, 64→10. */
const NET = {
  'c1.w': [32, 1, 3, 3],
  'c1.b': [32],
  'c2.w': [64, 32, 3, 3],
  'c2.b': [64],
  'c3.w': [64, 64, 3, 3],
  'c3.b': [64],
  'fc.w': [10, 64],
  'fc.b': [10],
};
// Forward FLOPs per conv; the backward adds the filter gradient for all three and the input gradient
// for the last two (the data needs none).
const NET_FORWARD = convFlops(N, 1, 32, 28) + convFlops(N, 32, 64, 14) + convFlops(N, 64, 64, 14);
const NET_STEP = 2 * NET_FORWARD + convFlops(N, 32, 64, 14) + convFlops(N, 64, 64, 14);

interface Case {
  name: string;
  flops: number;
  engine: number;
  torch: number | null;
}

function random(shape: number[], rng: Random, scale = 1): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * rng.normal());
}

const ROUNDS = 5;

/** Seconds per run: best of ROUNDS round medians after 3 warm-up runs; PyTorch is measured the same way. */
const timeRuns = (run: () => Promise<unknown>) => bestRoundMedian(run, ROUNDS, 3);

function netLogits(p: Record<string, Tensor>, x: Tensor): Tensor {
  let h = relu(conv2d(x, p['c1.w'], p['c1.b'], { padding: 1 }));
  h = relu(conv2d(h, p['c2.w'], p['c2.b'], { padding: 1, stride: 2 }));
  h = relu(conv2d(h, p['c3.w'], p['c3.b'], { padding: 1 }));
  return linear(mean(h, [2, 3]), p['fc.w'], p['fc.b']);
}

function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  const classes = constant(
    logits.graph,
    Array.from({ length: 10 }, (_, i) => i),
    [1, 10],
    'int64',
  );
  const oneHot = cast(equal(unsqueeze(labels, [1]), classes), 'float32');
  return mul(mean(sum(mul(oneHot, logSoftmax(logits, 1)), [1])), -1);
}

async function engineTimes(profileDir: string | null): Promise<Record<string, number>> {
  const rng = new Random(0);
  const runtimeFor = (name: string) =>
    new OrtNodeRuntime(profileDir ? { profilePrefix: join(profileDir, name) } : {});
  const xType = f32([N, CHANNELS, SIZE, SIZE]);
  const wType = f32([CHANNELS, CHANNELS, 3, 3]);
  const conv = { x: random(xType.shape, rng), w: random(wType.shape, rng, 0.05), b: random([CHANNELS], rng) };
  const out: Record<string, number> = {};
  const measure = async (name: string, compiled: CompiledFunction<unknown>, inputs: Tree<HostValue>) => {
    out[name] = await timeRuns(() => compiled.run(inputs));
    await compiled.dispose();
  };

  const forward = ({ x, w, b }: Record<string, Tensor>) => conv2d(x, w, b, { padding: 1 });
  const forwardTypes = { x: xType, w: wType, b: f32([CHANNELS]) };
  await measure('forward', runtimeFor('forward').compile(forward, forwardTypes), conv);
  // Inference (a sampler calling its denoiser): weights frozen into the model as initializers.
  await measure(
    'forward, frozen weights',
    runtimeFor('forward-frozen').compile(forward, forwardTypes, { frozen: { w: conv.w, b: conv.b } }),
    { x: conv.x },
  );

  const forwardBackward = ({ x, w, b, gy }: Record<string, Tensor>) => {
    const y = conv2d(x, w, b, { padding: 1 });
    const [gx, gw, gb] = backward([y], [gy], [x, w, b]);
    return { y, gx: gx!, gw: gw!, gb: gb! };
  };
  await measure(
    'forward+backward',
    runtimeFor('forward-backward').compile(forwardBackward, {
      x: xType,
      w: wType,
      b: f32([CHANNELS]),
      gy: xType,
    }),
    { ...conv, gy: random(xType.shape, rng) },
  );

  const optimizer = adamw();
  const step = trainStep({
    loss: (p: TensorTree, batch: { x: Tensor; labels: Tensor }) =>
      crossEntropy(netLogits(p as Record<string, Tensor>, batch.x), batch.labels),
    optimizer,
  });
  const paramTypes = Object.fromEntries(Object.entries(NET).map(([k, s]) => [k, f32(s)]));
  const batchTypes = { x: f32([N, 1, SIZE, SIZE]), labels: { shape: [N], dtype: 'int64' as const } };
  const params = Object.fromEntries(Object.entries(NET).map(([k, s]) => [k, random(s, rng, 0.1)]));
  const batch = {
    x: random([N, 1, SIZE, SIZE], rng),
    labels: BigInt64Array.from({ length: N }, () => BigInt(rng.int(10))),
  };
  await measure(
    'train step',
    runtimeFor('train-step').compile(step as never, trainStepTypes(paramTypes, batchTypes, optimizer)),
    { params, opt: hostZeros(optimizer.stateTypes(paramTypes)), batch, step: 1, lr: 1e-3 } as never,
  );
  return out;
}

const TORCH_SCRIPT = `
import json, sys, time, statistics
import torch
import torch.nn.functional as F
torch.set_num_threads(${availableParallelism()})
torch.manual_seed(0)
N, S, C = ${N}, ${SIZE}, ${CHANNELS}

def median_time(fn):
    for _ in range(3): fn()
    rounds = []
    for _ in range(${ROUNDS}):
        times, start = [], time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < 0.6:
            t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
        rounds.append(statistics.median(times))
    return min(rounds)

x = torch.randn(N, C, S, S); w = 0.05 * torch.randn(C, C, 3, 3); b = torch.randn(C)
with torch.no_grad():
    forward = median_time(lambda: F.conv2d(x, w, b, padding=1))

xg, wg, bg = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()
gy = torch.randn(N, C, S, S)
def fwd_bwd():
    xg.grad = wg.grad = bg.grad = None
    F.conv2d(xg, wg, bg, padding=1).backward(gy)
forward_backward = median_time(fwd_bwd)

net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),
    torch.nn.Conv2d(32, 64, 3, padding=1, stride=2), torch.nn.ReLU(),
    torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(),
    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))
opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
data = torch.randn(N, 1, S, S); labels = torch.randint(0, 10, (N,))
def step():
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(data), labels)
    loss.backward()
    opt.step()
    return loss.item()
train_step = median_time(step)
json.dump({"forward": forward, "forward+backward": forward_backward, "train step": train_step,
           "version": torch.__version__, "threads": torch.get_num_threads()}, sys.stdout)
`;

function torchTimes(dir: string): Record<string, number> | null {
  const python = '/usr/bin/python3';
  if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
    console.log('PyTorch not found (/usr/bin/python3 -c "import torch" failed): engine numbers only.');
    console.log('  install it with: apt-get install -y python3-torch');
    return null;
  }
  const script = join(dir, 'conv_bench.py');
  writeFileAtomic(script, TORCH_SCRIPT);
  const result = spawnSync(python, [script], { encoding: 'utf8' });
  if (result.status !== 0) {
    console.log(`PyTorch benchmark failed: ${result.stderr.trim().split('\n').pop()}`);
    return null;
  }
  const times = JSON.parse(result.stdout) as Record<string, number> & { version: string; threads: number };
  console.log(`PyTorch ${times.version}, ${times.threads} threads`);
  return times;
}

/** FP32 peak from cores × FMA units × SIMD lanes × 2 × clock; says how it got each factor. */
function machinePeak(): { gflops: number; how: string } {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const flags = /^flags\s*:(.*)$/m.exec(info)?.[1] ?? '';
  const lanes = flags.includes('avx512f') ? 16 : flags.includes('avx') ? 8 : 4;
  const mhzLine = /^cpu MHz\s*:\s*([\d.]+)/m.exec(info);
  const bogo = /^bogomips\s*:\s*([\d.]+)/im.exec(info);
  // x86 BogoMIPS is twice the TSC frequency in MHz when no "cpu MHz" line is exposed.
  const mhz = mhzLine ? Number(mhzLine[1]) : bogo ? Number(bogo[1]) / 2 : (cpus()[0]?.speed ?? 0);
  const clockSource = mhzLine ? 'cpu MHz' : bogo ? 'BogoMIPS / 2' : 'os.cpus()';
  const cores = availableParallelism();
  const fmaUnits = 2;
  const gflops = (cores * fmaUnits * lanes * 2 * mhz) / 1000;
  const how =
    `${cores} cores × ${fmaUnits} FMA units (assumed) × ${lanes} fp32 lanes (${lanes === 16 ? 'AVX-512' : 'AVX2'}) ` +
    `× 2 flops/FMA × ${(mhz / 1000).toFixed(2)} GHz (${clockSource}; turbo clocks can exceed it)`;
  return { gflops, how };
}

/** Milliseconds per run of each ONNX op type from onnxruntime's profile files, largest first. */
function profileSummary(dir: string, prefix: string): string {
  const files = readdirSync(dir).filter((f) => f.startsWith(`${prefix}_`) && f.endsWith('.json'));
  const byOp = new Map<string, number>();
  let runs = 0;
  let runTime = 0;
  for (const file of files) {
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      cat: string;
      name: string;
      dur: number;
      args?: { op_name?: string };
    }[];
    for (const e of events) {
      if (e.cat === 'Session' && e.name === 'model_run') {
        runs++;
        runTime += e.dur;
      }
      if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name) {
        byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur);
      }
    }
  }
  const perRun = (us: number) => (us / Math.max(runs, 1) / 1000).toFixed(1);
  const ops = [...byOp]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([op, us]) => `${op} ${perRun(us)}`)
    .join(', ');
  return `${perRun(runTime)} ms per run in onnxruntime; by op type (ms): ${ops}`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'diffusion-bench-conv-'));
  try {
    const peak = machinePeak();
    console.log(`peak ${peak.gflops.toFixed(0)} GFLOP/s fp32 = ${peak.how}`);
    const engine = await engineTimes(PROFILE ? dir : null);
    const torch = torchTimes(dir);
    const cases: Case[] = [
      { name: 'forward', flops: convFlops(N, CHANNELS, CHANNELS, SIZE), engine: engine.forward, torch: null },
      {
        name: 'forward, frozen weights',
        flops: convFlops(N, CHANNELS, CHANNELS, SIZE),
        engine: engine['forward, frozen weights'],
        torch: null,
      },
      {
        name: 'forward+backward',
        flops: 3 * convFlops(N, CHANNELS, CHANNELS, SIZE),
        engine: engine['forward+backward'],
        torch: null,
      },
      { name: 'train step', flops: NET_STEP, engine: engine['train step'], torch: null },
    ].map((c) => ({ ...c, torch: torch?.[c.name.split(',')[0]] ?? null }));
    console.log('case                    engine ms   GFLOP/s  %peak   PyTorch ms  GFLOP/s   engine speed-up');
    for (const c of cases) {
      const g = (s: number) => c.flops / s / 1e9;
      const torchPart = c.torch
        ? `${(c.torch * 1000).toFixed(1).padStart(10)} ${g(c.torch).toFixed(0).padStart(8)}   ${(c.torch / c.engine).toFixed(2)}×`
        : '         —        —   —';
      console.log(
        `${c.name.padEnd(23)} ${(c.engine * 1000).toFixed(1).padStart(9)} ${g(c.engine).toFixed(0).padStart(9)} ` +
          `${((100 * g(c.engine)) / peak.gflops).toFixed(0).padStart(5)}%  ${torchPart}`,
      );
    }
    if (PROFILE) {
      for (const name of ['forward', 'forward-frozen', 'forward-backward', 'train-step']) {
        console.log(`profile ${name}: ${profileSummary(dir, name)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
