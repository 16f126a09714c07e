/**
 * Which interpreter and kernelspec a run's kernel is (metadata.millrace.kernel), so a run
 * can be reproduced: a Python kernel is asked for sys.executable and its version, and
 * for the kernelspec directory millrace's Jupyter Server puts in its environment
 * (worker/forking_provisioner.py); other kernels are described by their kernelspec's argv[0].
 *
 * A Python kernel is moved into the run's working directory by the same silent
 * execution: one round trip through Jupyter and the kernel's threads fewer per run.
 */
import { KernelSpecAPI, type Kernel, type ServerConnection } from '@jupyterlab/services';
import type { KernelEnvironment } from '../workflows/contracts.js';
import { silentExecute } from './execute-request.js';
import { enterDirectoryCode, workingDirectoryError } from './working-directory.js';

/** Set by millrace's provisioner in every kernel's environment; absent on other servers. */
const SPEC_DIR_VARIABLE = 'MILLRACE_KERNELSPEC_DIR';

// base64 of JSON: a repr of a str would need unquoting rules of its own.
const PYTHON_FACTS =
  "__import__('base64').b64encode(__import__('json').dumps({'python': __import__('sys').executable, " +
  `'python_version': __import__('platform').python_version(), 'spec_dir': __import__('os').environ.get('${SPEC_DIR_VARIABLE}')}).encode()).decode()`;

/**
 * What is known of the kernel; a fact that cannot be learnt is left out, never fails the
 * run. With `enter`, a Python kernel first moves into that directory, and a directory it
 * cannot enter throws WorkingDirectoryError (other languages cannot be told: the caller says so).
 */
export async function kernelEnvironment(
  settings: ServerConnection.ISettings,
  kernel: Kernel.IKernelConnection,
  kernelName: string,
  language: string,
  enter?: string,
): Promise<KernelEnvironment> {
  if (language === 'python') {
    const facts = await pythonFacts(kernel, enter);
    return { name: kernelName, ...facts };
  }
  const spec = await KernelSpecAPI.getSpecs(settings)
    .then((specs) => specs.kernelspecs[kernelName])
    .catch(() => undefined);
  const argv0 = spec?.argv[0];
  return { name: kernelName, ...(argv0 ? { argv0 } : {}) };
}

async function pythonFacts(kernel: Kernel.IKernelConnection, enter: string | undefined): Promise<KernelEnvironment> {
  // Without a directory to enter, a kernel that does not answer only costs the facts.
  const asked = silentExecute(kernel, enter === undefined ? '' : enterDirectoryCode(enter), { purpose: 'kernel-environment', expressions: { facts: PYTHON_FACTS } });
  const reply = enter === undefined ? await asked.catch(() => undefined) : await asked;
  if (!reply) return {};
  // Expressions are evaluated only after the code ran: an error here is the directory's.
  if (enter !== undefined && reply.status !== 'ok') throw workingDirectoryError(enter, reply);
  const value = reply.status === 'ok' ? (reply.user_expressions['facts'] as { status?: string; data?: Record<string, string> } | undefined) : undefined;
  const text = value?.status === 'ok' ? value.data?.['text/plain'] : undefined;
  if (!text) return {};
  try {
    const facts = JSON.parse(Buffer.from(text.replace(/^'|'$/g, ''), 'base64').toString('utf8')) as Record<string, unknown>;
    const out: KernelEnvironment = {};
    for (const key of ['python', 'python_version', 'spec_dir'] as const) {
      const v = facts[key];
      if (typeof v === 'string' && v !== '') out[key] = v;
    }
    return out;
  } catch {
    return {};
  }
}
