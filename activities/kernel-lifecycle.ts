/**
 * A run's kernel: started (or taken from the warm pool) with the execution registry
 * installed where it can be, moved into the run's working directory, checked for
 * --checkpoint support, and shut down at the end.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Kernel, ServerConnection } from '@jupyterlab/services';
import type { KernelEnvironment, KernelHandle, KernelPlacement, StartedKernel, StartKernelRequest } from '../workflows/contracts.js';
import { kernelEnvironment } from './kernel-environment.js';
import type { BackgroundWork } from './background.js';
import { CheckpointError, requireCheckpointSupport } from './checkpoint.js';
import { connectKernel, KernelError, shutdownKernel, startKernel } from './jupyter.js';
import type { KernelPool, PooledKernel } from './kernel-pool.js';
import { installExecutionRegistry } from './execution-registry.js';
import { WorkingDirectoryError } from './working-directory.js';
import { removePlacement, withWorkerEnv, writePlacement } from './kernel-placement.js';
import { silentExecute } from './execute-request.js';
import { gatewayRefusal, kernelStartVariables, missingVariables, processProxyOf, startVariables } from './gateway-placement.js';

class PlacementError extends Error {}

export interface KernelLifecycleDeps {
  /** Kernels started ahead of runs (activities/kernel-pool.ts); none when absent. */
  kernelPool?: KernelPool;
  /** Where kernel shutdowns run without holding up the run's result; awaited when absent. */
  background?: BackgroundWork;
  /** Where container placements are left for the Jupyter Server's provisioner (activities/kernel-placement.ts). */
  placementsDir?: string;
  /** The user kernels start for on Enterprise Gateway (KERNEL_USERNAME): `millrace worker`'s `--kernel-user`; none: the gateway's own. */
  kernelUsername?: string;
}

/** papermill's --start-timeout default: how long a new kernel has to answer kernel_info. */
export const START_TIMEOUT_DEFAULT_S = 60;

/**
 * Starts a kernel in session `millrace/<runId>` and waits until it answers, with the
 * execution registry installed where it can be: ready for a run (or for the pool). A
 * kernel that does not answer within `startTimeoutS` is shut down, and the error says so
 * in jupyter_client's words (what papermill users see).
 */
export async function startReadyKernel(
  settings: ServerConnection.ISettings,
  kernelName: string,
  runId: string,
  startTimeoutS = START_TIMEOUT_DEFAULT_S,
  env?: Record<string, string>,
): Promise<PooledKernel> {
  const { model, sessionId } = await startKernel(settings, kernelName, runId, env);
  const connection = await connectKernel(settings, model, startTimeoutS * 1000, true).catch(async (err: unknown) => {
    if (!(err instanceof KernelError)) throw err;
    // Stops Jupyter restarting a kernel that cannot start.
    await shutdownKernel(settings, model.id).catch(() => undefined);
    if (err.kind === 'kernel-lost') {
      throw new KernelError(`kernel "${kernelName}" didn't respond in ${startTimeoutS} seconds (--start-timeout)`, 'start-timeout');
    }
    if (err.kind === 'start-failed') throw new KernelError(`kernel "${kernelName}" died while starting: ${err.message}`, 'start-failed');
    // Gone before it ever answered: Jupyter Server gave up restarting it (not millrace's provisioner).
    if (err.kind === 'kernel-gone') throw new KernelError(`kernel "${kernelName}" died while starting; the Jupyter Server's log has its error`, 'start-failed');
    throw err;
  });
  const info = await connection.info;
  const registry = await installExecutionRegistry(connection, info.language_info.name);
  return { model, ...(sessionId ? { sessionId } : {}), connection, languageInfo: info.language_info as unknown as Record<string, unknown>, ...registry };
}

/**
 * startReadyKernel in a container when there is a placement: the provisioner finds it by
 * the session's name (`runId`), read as the kernel starts (and kept for Jupyter's restarts),
 * so the run's variables stay on disk no longer than that.
 */
export async function startPlacedKernel(
  settings: ServerConnection.ISettings,
  kernelName: string,
  runId: string,
  container: { placement: KernelPlacement; placementsDir: string } | undefined,
  startTimeoutS?: number,
  env?: Record<string, string>,
): Promise<PooledKernel> {
  if (!container) return startReadyKernel(settings, kernelName, runId, startTimeoutS, env);
  writePlacement(container.placementsDir, runId, container.placement);
  try {
    return await startReadyKernel(settings, kernelName, runId, startTimeoutS);
  } finally {
    removePlacement(container.placementsDir, runId);
  }
}

/**
 * A kernel started for this run, when the pool had none ready: in a local container, or
 * with the variables of its start request (`env`: a gateway's KERNEL_* placement).
 */
async function startFreshKernel(
  settings: ServerConnection.ISettings,
  request: { runId: string; kernelName: string; startTimeoutS?: number },
  container: { placement: KernelPlacement; placementsDir: string } | undefined,
  env?: Record<string, string>,
): Promise<PooledKernel> {
  try {
    try {
      return await startPlacedKernel(settings, request.kernelName, request.runId, container, request.startTimeoutS, env);
    } catch (err) {
      // One kernel that dies while starting may be the machine's moment (seen once in a
      // few hundred forked starts under load, exit 1 and nothing on stderr): one more, and
      // a broken environment, which dies every time, fails the run a few seconds later.
      if (!(err instanceof KernelError && err.kind === 'start-failed')) throw err;
      Context.current().log.warn('the kernel died while starting: starting another once', { kernel: request.kernelName, reason: err.message });
      return await startPlacedKernel(settings, request.kernelName, request.runId, container, request.startTimeoutS, env);
    }
  } catch (err) {
    if (err instanceof KernelError && err.kind === 'unknown-kernel') {
      throw ApplicationFailure.nonRetryable(err.message, 'UnknownKernel');
    }
    // Starting it again would wait as long again: papermill fails at once too.
    if (err instanceof KernelError && err.kind === 'start-timeout') {
      throw ApplicationFailure.nonRetryable(err.message, 'KernelStartTimeout');
    }
    // A kernel whose process exited at start twice (a broken environment) would only exit again.
    if (err instanceof KernelError && err.kind === 'start-failed') {
      throw ApplicationFailure.nonRetryable(err.message, 'KernelDiedAtStart');
    }
    // The gateway refused the user: asking again gets the same answer.
    if (err instanceof KernelError && err.kind === 'start-refused') {
      throw ApplicationFailure.nonRetryable(err.message, 'KernelStartRefused');
    }
    throw err;
  }
}

export function createKernelActivities(settings: ServerConnection.ISettings, deps: KernelLifecycleDeps) {
  return {
    /**
     * Starts a kernel (or takes one from the pool), waits until it answers and moves it
     * into the run's working directory, returning its language_info for the record. Also
     * what a kernel restart (--on-kernel-loss restart) and a resumed run start with.
     */
    async startKernel(request: StartKernelRequest): Promise<StartedKernel> {
      // The worker's own values of the names given as `--env NAME`, wherever the kernel goes.
      let placement: KernelPlacement | undefined;
      if (request.placement) {
        const applied = withWorkerEnv(request.placement, process.env);
        if (applied.missing) {
          throw ApplicationFailure.nonRetryable(`environment variable "${applied.missing}" is not set on this worker (--env ${applied.missing} gives the kernel the worker's own value)`, 'PlacementRefused');
        }
        placement = applied.placement;
      }
      // On Enterprise Gateway, a kernelspec with a container process proxy places it (KERNEL_*).
      const onGateway = placement?.image ? await gatewayPlacement(settings, request.kernelName, placement) : undefined;
      const inContainer = Boolean(placement?.image) && !onGateway;
      if (inContainer && !deps.placementsDir) {
        throw ApplicationFailure.nonRetryable('this worker cannot start container kernels (its Jupyter Server is not millrace\'s own)', 'PlacementRefused');
      }
      const container = inContainer ? { placement: placement!, placementsDir: deps.placementsDir! } : undefined;
      // A warm kernel of the same kernelspec and, for a container, the same image, limits,
      // variables and mounts; else one started for this run (a gateway's placement never pools).
      const pooled = onGateway ? undefined : await deps.kernelPool?.take(request.kernelName, request.runId, container?.placement);
      const kernel = pooled ?? (await startFreshKernel(settings, request, container, await startVariables(settings, deps.kernelUsername, onGateway)));
      const { model, connection, languageInfo, outcomeRegistry, cellGate } = kernel;
      const language = String(languageInfo['name']);
      let environment: KernelEnvironment;
      try {
        // A container kernel works in its image's WORKDIR (or a mount): the caller's directory is not there.
        const enter = request.cwd && !inContainer && !onGateway ? request.cwd : undefined;
        if (enter && language !== 'python') {
          Context.current().log.warn(`the working directory applies to Python kernels only: this ${language} kernel runs in the Jupyter Server's root`, { cwd: enter });
        }
        // A Python kernel enters the run's directory in the same execution that describes it.
        environment = await kernelEnvironment(settings, connection, model.name, language, enter);
        if (inContainer) await requireContainer(connection, settings.baseUrl);
        if (onGateway) await requireVariables(connection, Object.keys(placement?.env ?? {}), settings.baseUrl);
        if (request.checkpoint) await requireCheckpointSupport(connection, language);
      } catch (err) {
        // The workflow never learns this kernel's id: shut it down here.
        await shutdownKernel(settings, model.id).catch(() => undefined);
        if (err instanceof WorkingDirectoryError) throw ApplicationFailure.nonRetryable(err.message, 'BadWorkingDirectory');
        if (err instanceof PlacementError) throw ApplicationFailure.nonRetryable(err.message, 'PlacementRefused');
        throw err instanceof CheckpointError ? ApplicationFailure.nonRetryable(err.message, 'CheckpointUnsupported') : err;
      }
      return { kernel: { kernelId: model.id, kernelName: model.name, outcomeRegistry, ...(cellGate ? { cellGate } : {}) }, languageInfo, environment };
    },

    /**
     * Asks Jupyter to shut the kernel down without waiting for its process to exit: the
     * run's record is final by now. A shutdown that fails is logged; the orphan reaper
     * (worker/orphans.ts) shuts down what is left of a finished run. With `wait`, returns
     * once Jupyter has shut it down: a run that replaces a dead kernel starts the new one
     * in the same session, which Jupyter would otherwise answer with the old kernel.
     */
    async shutdownKernel(kernel: KernelHandle, options: { wait?: boolean } = {}): Promise<void> {
      if (!deps.background || options.wait) return shutdownKernel(settings, kernel.kernelId);
      const logger = Context.current().log;
      deps.background.add(
        () => shutdownKernel(settings, kernel.kernelId),
        (err) => logger.warn('could not shut the kernel down', { kernelId: kernel.kernelId, error: String(err) }),
      );
    },
  };
}

/**
 * The KERNEL_* variables of the start request when the kernelspec has a container process
 * proxy; undefined when it has no process proxy at all (not Enterprise Gateway: the embedded
 * server's provisioner, or requireContainer's refusal). Refused before anything starts
 * when the gateway would run the kernel as a process, or cannot mount the run's folders.
 */
async function gatewayPlacement(settings: ServerConnection.ISettings, kernelName: string, placement: KernelPlacement): Promise<Record<string, string> | undefined> {
  const proxy = await processProxyOf(settings, kernelName);
  if (!proxy) return undefined;
  const refused = gatewayRefusal(placement, kernelName, proxy, settings.baseUrl);
  if (refused) throw ApplicationFailure.nonRetryable(refused, 'PlacementRefused');
  return kernelStartVariables(placement);
}

async function requireVariables(kernel: Kernel.IKernelConnection, names: string[], serverUrl: string): Promise<void> {
  const missing = await missingVariables(kernel, names);
  if (missing.length) {
    throw new PlacementError(
      `environment variable "${missing[0]}" did not reach the kernel: the Enterprise Gateway at ${serverUrl} drops the variables its client_envs does not list (EG_CLIENT_ENVS=${missing.join(',')})`,
    );
  }
}

/**
 * A server other than millrace's own never reads the placement and starts a process
 * kernel: refused rather than run on the host. The provisioner sets MILLRACE_CONTAINER
 * (and MILLRACE_CONTAINER_NETWORK) after the run's own variables, so a run cannot fake it.
 * A container on the host's network (slirp4netns missing) runs, with a warning: it can
 * reach everything on the host's loopback.
 */
async function requireContainer(kernel: Kernel.IKernelConnection, serverUrl: string): Promise<void> {
  const reply = await silentExecute(kernel, '', {
    purpose: 'container-check',
    expressions: {
      engine: "__import__('os').environ.get('MILLRACE_CONTAINER', '')",
      network: "__import__('os').environ.get('MILLRACE_CONTAINER_NETWORK', '')",
    },
  });
  const text = (name: string) =>
    reply.status === 'ok' ? (reply.user_expressions[name] as { data?: Record<string, string> } | undefined)?.data?.['text/plain'] : undefined;
  if (text('engine') !== "'podman'") {
    throw new PlacementError(`the kernel did not start in a container: the Jupyter Server at ${serverUrl} is not millrace's own (container kernels need the embedded server, millrace dev or run, or Enterprise Gateway with a container kernelspec)`);
  }
  if (text('network') === "'host'") {
    Context.current().log.warn("the kernel's container shares the host's network (slirp4netns is not installed): it can reach the Temporal and Jupyter servers and other runs' kernels on 127.0.0.1");
  }
}
