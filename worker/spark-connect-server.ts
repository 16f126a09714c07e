/**
 * A Spark Connect server on 127.0.0.1 for tests and local use, from the pyspark package in
 * the project venv (its jars hold the server): what pyspark's sbin/start-connect-server.sh
 * runs, `spark-submit --class ...SparkConnectServer`, in the foreground (the script needs
 * sbin/spark-daemon.sh, which the pyspark package does not ship). Java 17+ on PATH or
 * JAVA_HOME. Ready when its gRPC port accepts connections.
 */
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { freePort } from './ports.js';
import { venvPython } from './paths.js';
import { spawnSupervised, type SupervisedProcess } from './process.js';

const HOST = '127.0.0.1';
const SERVER_CLASS = 'org.apache.spark.sql.connect.service.SparkConnectServer';

export interface SparkConnectServerOptions {
  stateDir: string;
  /** Spark properties (--conf KEY=VALUE), e.g. spark.eventLog.enabled. */
  conf?: Record<string, string>;
  /** Default 1g. */
  driverMemory?: string;
  /** Default 120 s: the JVM starts in about 14 s on a busy 2-core machine. */
  readyTimeoutMs?: number;
}

export interface SparkConnectServer {
  /** sc://127.0.0.1:PORT */
  url: string;
  port: number;
  /** The server's web UI (its REST API under /api/v1). */
  uiUrl: string;
  process: SupervisedProcess;
  /** SIGTERM, SIGKILL after 10 s, then every descendant. Idempotent. */
  stop(): Promise<void>;
}

/** SPARK_HOME: the pyspark package in the project venv. */
export function pysparkHome(): string {
  const lib = join(dirname(dirname(venvPython())), 'lib');
  for (const python of readdirSync(lib)) {
    const home = join(lib, python, 'site-packages', 'pyspark');
    if (existsSync(join(home, 'bin', 'spark-submit'))) return home;
  }
  throw new Error(`pyspark is not installed in the project venv (${lib}): run scripts/setup.sh`);
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startSparkConnectServer(options: SparkConnectServerOptions): Promise<SparkConnectServer> {
  const home = pysparkHome();
  const port = await freePort(HOST);
  const uiPort = await freePort(HOST);
  const conf = {
    'spark.connect.grpc.binding.address': HOST,
    'spark.connect.grpc.binding.port': String(port),
    'spark.ui.port': String(uiPort),
    'spark.driver.host': HOST,
    'spark.driver.bindAddress': HOST,
    ...options.conf,
  };
  const child = await spawnSupervised({
    name: `spark-connect-${port}`,
    command: join(home, 'bin', 'spark-submit'),
    args: ['--class', SERVER_CLASS, '--name', 'Spark Connect server', '--driver-memory', options.driverMemory ?? '1g', ...Object.entries(conf).flatMap(([k, v]) => ['--conf', `${k}=${v}`])],
    stateDir: options.stateDir,
    // The server's Python UDFs run in the venv's Python.
    env: { ...process.env, SPARK_HOME: home, SPARK_LOCAL_IP: HOST, PYSPARK_PYTHON: venvPython() },
  });
  try {
    await child.waitFor(() => portAnswers(port), { timeoutMs: options.readyTimeoutMs ?? 120_000, what: `Spark Connect on ${HOST}:${port} to answer`, intervalMs: 200 });
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { url: `sc://${HOST}:${port}`, port, uiUrl: `http://${HOST}:${uiPort}`, process: child, stop: () => child.stop() };
}
