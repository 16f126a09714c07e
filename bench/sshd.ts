/**
 * An OpenSSH server on a second loopback address (127.0.0.2), for Enterprise Gateway's
 * DistributedProcessProxy: a free port, a host key and a client key made for it, the
 * client's key the only one authorized, and a HOME for the gateway whose ~/.ssh holds that
 * key and the server's host key (paramiko, which the gateway uses, rejects unknown hosts).
 * sshd comes from Debian's openssh-server (scripts/setup-gateways.sh installs it).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../worker/ports.js';
import { spawnSupervised } from '../worker/process.js';

const exec = promisify(execFile);
const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  host: string;
  port: number;
  /** A HOME for the SSH client: .ssh/id_ed25519 and .ssh/known_hosts. */
  clientHome: string;
  /** What sshd logged so far. */
  logText(): string;
  stop(): Promise<void>;
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startSshd(stateDir: string, host = '127.0.0.2'): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: run scripts/setup-gateways.sh (it installs Debian's openssh-server)`);
  const dir = join(stateDir, 'sshd');
  const clientHome = join(stateDir, 'ssh-client-home');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(join(clientHome, '.ssh'), { recursive: true, mode: 0o700 });
  // sshd's privilege separation directory (Debian's service would make it).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, 'host_ed25519');
  const clientKey = join(clientHome, '.ssh', 'id_ed25519');
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'millrace-test-host', '-f', hostKey]);
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'millrace-test-client', '-f', clientKey]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const hostPublic = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    writeFileSync(join(clientHome, '.ssh', 'known_hosts'), `[${host}]:${port} ${hostPublic}\n`, { mode: 0o600 });
    const config = join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `ListenAddress ${host}:${port}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'UsePAM no',
        'StrictModes no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    const child = await spawnSupervised({ name: 'sshd', command: SSHD, args: ['-D', '-e', '-f', config], stateDir, stopGraceMs: 5_000 });
    try {
      await child.waitFor(() => answers(host, port), { timeoutMs: 20_000, what: `sshd on ${host}:${port}`, intervalMs: 100 });
    } catch (err) {
      await child.stop();
      if (attempt < 3 && /Address already in use/i.test(child.logTail(20))) continue;
      throw err;
    }
    return { host, port, clientHome, logText: () => child.logText(), stop: () => child.stop() };
  }
}
