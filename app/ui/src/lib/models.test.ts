import { describe, expect, it } from 'vitest';
import { contextLength, progressFraction, toRow } from './models';

describe('model rows', () => {
  it('takes the context length of the model architecture', () => {
    expect(contextLength({ model_info: { 'general.architecture': 'llama', 'llama.context_length': 512, 'other.context_length': 9 } })).toBe(512);
    expect(contextLength({ model_info: { 'qwen2.context_length': 32768 } })).toBe(32768);
    expect(contextLength({ model_info: {} })).toBeUndefined();
    expect(contextLength(undefined)).toBeUndefined();
  });
  it('joins tags with show details, preferring show', () => {
    const row = toRow(
      { name: 'stories:q4', size: 1000, details: { format: 'gguf', family: 'llama', quantization_level: 'Q4_K_M' } },
      { details: { parameter_size: '260K' }, model_info: { 'llama.context_length': 512 } },
    );
    expect(row).toMatchObject({ name: 'stories:q4', family: 'llama', format: 'gguf', quant: 'Q4_K_M', parameterSize: '260K', context: 512, size: 1000 });
    expect(toRow({ name: 'bare', size: 1 })).toMatchObject({ family: '—', format: '—', quant: '—', randomWeights: false });
    expect(toRow({ name: 'demo', size: 1, details: { random_weights: true } }).randomWeights).toBe(true);
  });
  it('computes pull progress only when sizes are known', () => {
    expect(progressFraction(50, 200)).toBe(0.25);
    expect(progressFraction(300, 200)).toBe(1);
    expect(progressFraction(5, 0)).toBeUndefined();
    expect(progressFraction(undefined, 10)).toBeUndefined();
  });
});
