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
