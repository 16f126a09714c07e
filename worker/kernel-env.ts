/**
 * What a kernel's environment holds: an allow-list, not the worker's whole environment.
 * A kernel runs whatever a notebook says; the worker holds the store's credentials, the
 * Temporal connection's and the Jupyter token, and none of them may reach user code.
 *
 * The embedded Jupyter Server is started with this environment (worker/jupyter-server.ts),
 * so the server, its warm kernel process (worker/kernel_zygote.py) and every kernel,
 * forked or launched, lack what it leaves out: a forked kernel's /proc/self/environ is the
 * warm process's, so filtering only the kernels' own variables would not be enough.
 * A kernelspec's `env` still applies on top.
 */

/**
 * Passed by default: where programs, libraries, locales and certificates are, which
 * interpreter and environment is active, and how many threads or which GPUs to use.
 * Nothing here is a credential; globs in it never pass a name that looks like one.
 */
export const DEFAULT_KERNEL_ENV: readonly string[] = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_*', 'TZ', 'TERM', 'TMPDIR',
  'PYTHON*', 'VIRTUAL_ENV', 'CONDA_*', 'JAVA_HOME', 'R_HOME', 'R_LIBS', 'R_LIBS_USER', 'JULIA_DEPOT_PATH', 'JULIA_PROJECT', 'JULIA_NUM_THREADS', 'NODE_PATH',
  'JUPYTER_PATH', 'JUPYTER_CONFIG_DIR', 'JUPYTER_DATA_DIR', 'JUPYTER_PLATFORM_DIRS', 'JUPYTER_PREFER_ENV_PATH', 'IPYTHONDIR',
  'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME', 'XDG_CONFIG_DIRS', 'XDG_DATA_DIRS',
  'LD_LIBRARY_PATH', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'NUMEXPR_MAX_THREADS', 'CUDA_VISIBLE_DEVICES', 'CUDA_HOME',
  'MPLBACKEND', 'MPLCONFIGDIR', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NO_PROXY', 'no_proxy',
];

/**
 * The stack's own secrets and settings: the store's credentials (MILLRACE_STORE_*, and
 * AWS_* that the store falls back to), the Temporal connection (address, TLS material,
 * API key) and the Jupyter token. Passed only when the operator names one exactly: no
 * glob, not even `*`, matches them.
 */
const PROTECTED = /^(AWS_|MILLRACE_|TEMPORAL_|JUPYTER_TOKEN)/;

/** Names that look like credentials: a default glob (`PYTHON*`, `CONDA_*`) never passes them. */
const SECRET_LOOKING = /SECRET|TOKEN|PASSW|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|AUTH|_KEY$|^KEY$/i;

const PATTERN = /^[A-Za-z_*?][A-Za-z0-9_*?]*$/;

export class KernelEnvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelEnvError';
  }
}

/**
 * The operator's patterns from `source` (`--kernel-env`, repeatable, or MILLRACE_KERNEL_ENV):
 * variable names or globs with `*` and `?`, several in one value separated by commas or
 * spaces. Throws a one-line KernelEnvError naming the source for anything else.
 */
export function parseKernelEnvPatterns(values: readonly string[], source: string): string[] {
  const patterns = values.flatMap((v) => v.split(/[\s,]+/)).filter((p) => p !== '');
  for (const pattern of patterns) {
    if (!PATTERN.test(pattern)) {
      throw new KernelEnvError(`${source}: ${JSON.stringify(pattern)} is not a variable name or a glob of one (letters, digits, _, * and ?)`);
    }
  }
  return patterns;
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

function isGlob(pattern: string): boolean {
  return /[*?]/.test(pattern);
}

/** A predicate for variable names: the defaults plus the operator's patterns (see the rules above). */
export function kernelEnvMatcher(allowed: readonly string[]): (name: string) => boolean {
  const exact = new Set(allowed.filter((p) => !isGlob(p)));
  const globs = allowed.filter(isGlob).map(globToRegExp);
  const defaultExact = new Set(DEFAULT_KERNEL_ENV.filter((p) => !isGlob(p)));
  const defaultGlobs = DEFAULT_KERNEL_ENV.filter(isGlob).map(globToRegExp);
  return (name) => {
    if (exact.has(name)) return true;
    // SQL jobs' connections (docs/jobs.md) are meant for the job's kernel, unlike the
    // stack's own secrets, so they pass although their URLs may hold a password.
    if (name.startsWith('MILLRACE_CONNECTION_')) return true;
    if (PROTECTED.test(name)) return false;
    if (globs.some((g) => g.test(name))) return true;
    if (defaultExact.has(name)) return true;
    return !SECRET_LOOKING.test(name) && defaultGlobs.some((g) => g.test(name));
  };
}

/** The variables of `env` a kernel may see. */
export function kernelEnvironment(env: NodeJS.ProcessEnv, allowed: readonly string[]): NodeJS.ProcessEnv {
  const passes = kernelEnvMatcher(allowed);
  return Object.fromEntries(Object.entries(env).filter(([name, value]) => value !== undefined && passes(name)));
}
