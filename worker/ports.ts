/** Free TCP ports for servers started on 127.0.0.1 with ports chosen at start-up. */
import { createServer } from 'node:net';

/**
 * A port that was free a moment ago: the kernel picks it for a listener on port 0, which
 * is then closed. Another process can still take it before the caller binds it, so
 * callers retry a start that fails with "address in use".
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`cannot read the port of a listener on ${host}`));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}

/**
 * A port below Linux's ephemeral range (32768-60999 by default), free a moment ago, and not
 * in `taken` (which it joins): for a listener bound long after it is chosen (a container's
 * published port, a server's config written first). No outgoing connection is given such a
 * port, so only another listener choosing the same one can take it first.
 */
export async function freePortBelowEphemeral(taken: Set<number> = new Set(), host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    taken.add(port);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port found between 20000 and 32000');
}
