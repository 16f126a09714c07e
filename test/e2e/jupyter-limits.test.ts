/**
 * Many kernels on one Jupyter Server (issue 17's 200-run load): worker/jupyter_server_config.py
 * raises the soft RLIMIT_NOFILE to the hard limit (kernels inherit it) and ZeroMQ's sockets
 * per context past 1,023 on the context the kernel manager shares between kernels. Before,
 * about 200 kernels on one server failed to start with "Too many open files". Checked on
 * the real classes: the config file loaded as the server loads it, in a Python whose soft
 * limit is 256, then 1,500 sockets opened on the kernel manager's context (each kernel
 * costs the server about five).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { packageRoot, venvPython } from '../../worker/paths.js';

const script = `
import json, os, resource, sys
import zmq
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
from traitlets.config.loader import PyFileConfigLoader
cfg = PyFileConfigLoader("jupyter_server_config.py", path=sys.argv[1]).load_config()
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
km = cfg.ServerApp.get("kernel_manager_class", AsyncMappingKernelManager)(config=cfg)
sockets, error = [], None
try:
    for _ in range(1500):
        sockets.append(km.context.socket(zmq.DEALER))
except zmq.ZMQError as e:
    error = str(e)
print(json.dumps({"soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "hard": hard, "sockets": len(sockets), "error": error}), flush=True)
os._exit(0)
`;

it("the server's config lifts the open-file and ZeroMQ socket limits that stopped ~200 kernels", () => {
  const out = execFileSync(venvPython(), ['-c', script, join(packageRoot(), 'worker')], { encoding: 'utf8' });
  const result = JSON.parse(out) as { soft: number; hard: number; sockets: number; error: string | null };
  expect(result.error).toBeNull();
  expect(result.sockets).toBe(1500);
  expect(result.soft).toBe(result.hard === -1 ? 65536 : result.hard);
}, 60_000);
