// A small CLIP text encoder trained from scratch with the engine's one-graph train step learns a toy
// task: which digit an MNIST caption names (10 templates × 10 digits, words and numerals), read by a
// linear head from the pooled (EOS) output. Tokenizer trained on the same captions.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { HostTensor, Tensor, TensorTree } from '../../src/engine/index.js';
import {
  adamw,
  argmax,
  hostZeros,
  linear,
  logSoftmax,
  mean,
  mul,
  neg,
  OrtNodeRuntime,
  sum,
  trainStep,
  trainStepTypes,
} from '../../src/engine/index.js';
import { CLIPTextModel } from '../../src/models/clip-text.js';
import { DIGIT_WORDS, MNIST_CAPTION_TEMPLATES } from '../../src/data/captions.js';
import { trainClipTokenizer } from '../../src/text/train-tokenizer.js';
import { Random } from '../../src/util/random.js';

const SEQ = 16;
const BATCH = 32;
const STEPS = 200;

it(`a 2-layer CLIP text encoder learns the digit a caption names in ${STEPS} steps`, async (t) => {
  const captions: { text: string; digit: number }[] = [];
  MNIST_CAPTION_TEMPLATES.forEach((template) => {
    DIGIT_WORDS.forEach((word, digit) => captions.push({ text: template(word, digit), digit }));
  });
  const tokenizer = trainClipTokenizer(
    captions.map((c) => c.text),
    { vocabSize: 600, modelMaxLength: SEQ },
  );
  const model = new CLIPTextModel({
    vocab_size: tokenizer.vocabSize,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    max_position_embeddings: SEQ,
    bos_token_id: tokenizer.bosTokenId,
    eos_token_id: tokenizer.eosTokenId,
    pad_token_id: tokenizer.padTokenId,
  });
  const headTypes = {
    'head.weight': { shape: [10, 32], dtype: 'float32' as const },
    'head.bias': { shape: [10], dtype: 'float32' as const },
  };
  const paramTypes = { ...model.paramTypes(), ...headTypes };
  const logits = (p: Record<string, Tensor>, ids: Tensor) =>
    linear(model.encode(p, ids).pooledOutput, p['head.weight'], p['head.bias']);
  const optimizer = adamw({ weightDecay: 0 });
  const step = trainStep({
    loss: (p: TensorTree, batch: { ids: Tensor; onehot: Tensor }) => {
      const logProbs = logSoftmax(logits(p as Record<string, Tensor>, batch.ids), -1);
      return neg(mean(sum(mul(batch.onehot, logProbs), [1])));
    },
    optimizer,
    clipNorm: 1,
  });
  const batchTypes = {
    ids: { shape: [BATCH, SEQ], dtype: 'int64' as const },
    onehot: { shape: [BATCH, 10], dtype: 'float32' as const },
  };
  const train = new OrtNodeRuntime().compile(step as never, trainStepTypes(paramTypes, batchTypes, optimizer));
  const predict = new OrtNodeRuntime().compile(
    (x: { params: Record<string, Tensor>; ids: Tensor }) => argmax(logits(x.params, x.ids), 1),
    { params: paramTypes, ids: { shape: [captions.length, SEQ], dtype: 'int64' as const } },
  );
  try {
    const rng = new Random(0);
    const head = { 'head.weight': new Float32Array(320).map(() => 0.1 * rng.normal()), 'head.bias': new Float32Array(10) };
    let params = {
      ...model.init(new Random(1)),
      ...Object.fromEntries(
        Object.entries(head).map(([n, data]) => [n, { data, shape: headTypes[n as keyof typeof headTypes].shape, dtype: 'float32' }]),
      ),
    } as unknown;
    let opt = hostZeros(optimizer.stateTypes(paramTypes)) as unknown;
    const accuracy = async () => {
      const all = tokenizer.encodeBatch(captions.map((c) => c.text));
      const out = (await predict.run({ params, ids: all.inputIds } as never)) as unknown as HostTensor;
      const predicted = Array.from(out.data as BigInt64Array, Number);
      return predicted.filter((p, i) => p === captions[i].digit).length / captions.length;
    };
    const before = await accuracy();
    let lastLoss = NaN;
    for (let s = 1; s <= STEPS; s++) {
      const picked = Array.from({ length: BATCH }, () => captions[rng.int(captions.length)]);
      const encoded = tokenizer.encodeBatch(picked.map((c) => c.text));
      const onehot = new Float32Array(BATCH * 10);
      picked.forEach((c, i) => (onehot[i * 10 + c.digit] = 1));
      const out = (await train.run({
        params,
        opt,
        batch: { ids: encoded.inputIds, onehot },
        step: s,
        lr: 3e-3,
      } as never)) as { params: unknown; opt: unknown; loss: HostTensor };
      ({ params, opt } = out);
      lastLoss = out.loss.data[0] as number;
    }
    const after = await accuracy();
    t.diagnostic(
      `accuracy on the 100 captions ${(100 * before).toFixed(0)}% → ${(100 * after).toFixed(0)}% after ${STEPS} steps (last batch loss ${lastLoss.toFixed(3)})`,
    );
    assert.ok(after >= 0.95, `accuracy ${after}`);
  } finally {
    await train.dispose();
    await predict.dispose();
  }
});
