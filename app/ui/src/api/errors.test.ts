import { describe, expect, it } from 'vitest';
import { errorFromBody } from './errors';

describe('errorFromBody', () => {
  it('reads the OpenAI error shape and the blamed parameter', () => {
    const e = errorFromBody(400, 'Bad Request', '{"error":{"message":"temperature must be >= 0","type":"invalid_request_error","param":"temperature"}}');
    expect(e.message).toBe('temperature must be >= 0 (HTTP 400 Bad Request)');
    expect(e.key).toBe('temperature');
    expect(e.status).toBe(400);
  });
  it('reads the Ollama error shape', () => {
    expect(errorFromBody(404, '', '{"error":"model \\"x\\" not found"}').message).toBe('model "x" not found (HTTP 404)');
  });
  it('names the config key for a config error', () => {
    expect(errorFromBody(400, '', '{"error":{"message":"must be positive","key":"scheduler.max_batch"}}').key).toBe('scheduler.max_batch');
  });
  it('shows plain text and empty bodies as they are', () => {
    expect(errorFromBody(502, 'Bad Gateway', 'upstream down').message).toBe('upstream down (HTTP 502 Bad Gateway)');
    expect(errorFromBody(500, 'Internal Server Error', '').message).toBe('HTTP 500 Internal Server Error');
  });
});
