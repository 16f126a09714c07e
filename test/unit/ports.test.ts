import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePortBelowEphemeral } from '../../worker/ports.js';

const listen = (port: number) =>
  new Promise<() => Promise<void>>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(() => new Promise((done) => server.close(() => done()))));
  });

describe('freePortBelowEphemeral', () => {
  it('gives ports below the ephemeral range that can be bound, never one twice for the same set', async () => {
    const taken = new Set<number>();
    const ports: number[] = [];
    for (let i = 0; i < 9; i++) ports.push(await freePortBelowEphemeral(taken));
    expect(new Set(ports).size).toBe(9);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(32_768);
      expect(taken.has(port)).toBe(true);
    }
    const closers = await Promise.all(ports.map(listen));
    await Promise.all(closers.map((close) => close()));
  });
});
