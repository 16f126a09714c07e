/**
 * The store on S3 (or any S3-compatible server): locations are `s3://bucket/key`.
 *
 * Credentials come from MILLRACE_STORE_ACCESS_KEY_ID / MILLRACE_STORE_SECRET_ACCESS_KEY
 * (/ MILLRACE_STORE_SESSION_TOKEN), else the profile MILLRACE_STORE_PROFILE, else the AWS
 * SDK's default chain (AWS_* variables, shared config and profiles, container and
 * instance roles); never from workflow input. The store's own variables let an operator
 * keep store credentials apart from AWS_* ones, which kernels never see in any case
 * (worker/kernel-env.ts). A custom endpoint
 * comes from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (read here, as the SDK would, so
 * that messages can name it and path-style addressing can be switched on with it) or a
 * profile's `endpoint_url` (read by the SDK; set MILLRACE_S3_FORCE_PATH_STYLE=1 then).
 *
 * Immutability rests on conditional creates (`If-None-Match: *`, answered 412 when the
 * key exists); objects over 8 MiB go up as multipart uploads (the condition then rides on
 * CompleteMultipartUpload); reads stream; listings follow continuation tokens.
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { ObjectExistsError, ObjectNotFoundError, StoreError, redactUrl, type FolderListing, type ObjectInfo, type StoreBackend } from './errors.js';
import { parseS3Location } from './s3-location.js';

/** Above this an object goes up in parts of this size, several at a time. */
export const MULTIPART_THRESHOLD = 8 * 1024 * 1024;
const PART_SIZE = 8 * 1024 * 1024;
const PART_CONCURRENCY = 4;
/**
 * The SDK's own retries (exponential backoff with jitter, up to 20 s apart) ride out a
 * store that is briefly away, about half a minute in all; activity retries come after.
 */
const DEFAULT_MAX_ATTEMPTS = 8;
const CONNECT_TIMEOUT_MS = 5_000;

function s3Url(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

export interface S3Settings {
  /** A custom endpoint (S3-compatible servers), as configured; undefined for AWS itself. */
  endpoint?: string;
  forcePathStyle: boolean;
}

const TRUE = /^(1|true|yes|on)$/i;

/** What the environment says about reaching S3 (credentials are left to the SDK). */
export function s3Settings(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const ignoreConfigured = TRUE.test(env['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS'] ?? '');
  const endpoint = ignoreConfigured ? undefined : env['AWS_ENDPOINT_URL_S3'] || env['AWS_ENDPOINT_URL'] || undefined;
  const force = env['MILLRACE_S3_FORCE_PATH_STYLE'];
  return { ...(endpoint ? { endpoint } : {}), forcePathStyle: force !== undefined && force !== '' ? TRUE.test(force) : endpoint !== undefined };
}

/** The endpoint for messages: never with a user name, password or query in it. */
export function describeEndpoint(settings: S3Settings = s3Settings()): string {
  return settings.endpoint ? redactUrl(settings.endpoint) : 'AWS S3';
}

/**
 * The region: the SDK's chain (AWS_REGION, the profile), else us-east-1 with redirects
 * followed. The SDK asks for it on every request, so it is looked up once per client.
 */
function regionProvider(profile: string | undefined): () => Promise<string> {
  let found: Promise<string> | undefined;
  return () =>
    (found ??= (async () => {
      const probe = new S3Client(profile ? { profile } : {});
      try {
        return await probe.config.region();
      } catch {
        return 'us-east-1';
      } finally {
        probe.destroy();
      }
    })());
}

export interface StoreIdentity {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  profile?: string;
}

/**
 * The store's own credentials (MILLRACE_STORE_*), when set; an empty identity leaves them
 * to the SDK's default chain. A key id without its secret (or the reverse) is an error.
 */
export function storeIdentity(env: NodeJS.ProcessEnv = process.env): StoreIdentity {
  const id = env['MILLRACE_STORE_ACCESS_KEY_ID'] || undefined;
  const secret = env['MILLRACE_STORE_SECRET_ACCESS_KEY'] || undefined;
  const sessionToken = env['MILLRACE_STORE_SESSION_TOKEN'] || undefined;
  const profile = env['MILLRACE_STORE_PROFILE'] || undefined;
  if ((id === undefined) !== (secret === undefined)) {
    const [set, missing] = id ? ['MILLRACE_STORE_ACCESS_KEY_ID', 'MILLRACE_STORE_SECRET_ACCESS_KEY'] : ['MILLRACE_STORE_SECRET_ACCESS_KEY', 'MILLRACE_STORE_ACCESS_KEY_ID'];
    throw new StoreError(`${set} is set without ${missing}: set both, or neither to use MILLRACE_STORE_PROFILE or the AWS credential chain`, 'denied', 's3://');
  }
  if (id && secret) return { credentials: { accessKeyId: id, secretAccessKey: secret, ...(sessionToken ? { sessionToken } : {}) } };
  return profile ? { profile } : {};
}

function createClient(settings: S3Settings, identity: StoreIdentity, maxAttempts?: number): S3Client {
  // The pinned SDK supports Node 20; its notice that later versions will not would be
  // printed by every command that touches S3.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const config: S3ClientConfig = {
    region: regionProvider(identity.profile),
    ...identity,
    forcePathStyle: settings.forcePathStyle,
    followRegionRedirects: true,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS },
  };
  if (settings.endpoint) config.endpoint = settings.endpoint;
  // With a profile and AWS_ACCESS_KEY_ID both set, the SDK takes the profile but prints a
  // warning about it to stderr through console.warn when the client's logger is its
  // silent default. The profile is what the operator chose here: a logger as silent as
  // the default, that the SDK does not bypass.
  if (identity.profile) config.logger = { debug() {}, info() {}, warn() {}, error() {} };
  // AWS_MAX_ATTEMPTS, when set, is the operator's choice (the SDK reads it).
  if (maxAttempts !== undefined) config.maxAttempts = maxAttempts;
  else if (!process.env['AWS_MAX_ATTEMPTS']) config.maxAttempts = DEFAULT_MAX_ATTEMPTS;
  return new S3Client(config);
}

/**
 * One client per configuration: the SDK caches credentials and connections in it. Keyed
 * by the settings and the identity variables, so a process whose environment changes
 * (tests, mostly) does not keep using the old identity.
 */
const clients = new Map<string, S3Client>();

function client(): S3Client {
  const settings = s3Settings();
  const identity = storeIdentity();
  const env = process.env;
  const key = JSON.stringify([settings, identity, env['AWS_PROFILE'], env['AWS_ACCESS_KEY_ID'], env['AWS_REGION'], env['AWS_MAX_ATTEMPTS']]);
  let c = clients.get(key);
  if (!c) {
    c = createClient(settings, identity);
    clients.set(key, c);
  }
  return c;
}

// --- errors ------------------------------------------------------------------------------

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

function isNetworkError(e: SdkError): boolean {
  return (
    (e.code !== undefined && NETWORK_CODES.has(e.code)) ||
    e.name === 'TimeoutError' ||
    (e.$metadata?.httpStatusCode === undefined && /ECONNREFUSED|socket hang up|ETIMEDOUT|ENOTFOUND/.test(e.message ?? ''))
  );
}

function status(e: SdkError): number | undefined {
  return e.$metadata?.httpStatusCode;
}

/**
 * What went wrong, said once and clearly: the bucket and key, the endpoint when it could
 * not be reached. `doing` reads like "reading" / "writing".
 */
function translate(err: unknown, doing: string, bucket: string, key: string): Error {
  const e = (err ?? {}) as SdkError;
  const where = s3Url(bucket, key);
  if (err instanceof StoreError || err instanceof ObjectExistsError || err instanceof ObjectNotFoundError) return err;
  if (isNetworkError(e)) {
    return new StoreError(
      `cannot reach S3 at ${describeEndpoint()} while ${doing} ${where} (${e.code ?? e.name ?? 'network error'}); check AWS_ENDPOINT_URL_S3 and that the server is up`,
      'unreachable',
      where,
    );
  }
  if (e.name === 'NoSuchBucket') {
    return new StoreError(`bucket "${bucket}" does not exist (at ${describeEndpoint()}), so ${where} cannot be ${doing === 'writing' ? 'written' : 'read'}`, 'no-bucket', where);
  }
  if (e.name === 'AccessDenied' || e.name === 'Forbidden' || status(e) === 403) {
    return new StoreError(
      `access denied ${doing} ${where} (bucket "${bucket}", key "${key}"): the AWS credentials in use lack permission for it`,
      'denied',
      where,
    );
  }
  if (e.name === 'InvalidAccessKeyId' || e.name === 'SignatureDoesNotMatch') {
    return new StoreError(`S3 at ${describeEndpoint()} refused the AWS credentials (${e.name}) while ${doing} ${where}`, 'denied', where);
  }
  return err instanceof Error ? err : new Error(String(err));
}

function isMissing(err: unknown): boolean {
  const e = (err ?? {}) as SdkError;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || (status(e) === 404 && e.name !== 'NoSuchBucket');
}

function isPreconditionFailed(err: unknown): boolean {
  const e = (err ?? {}) as SdkError;
  return e.name === 'PreconditionFailed' || status(e) === 412;
}

function contentType(key: string): string | undefined {
  if (key.endsWith('.ipynb')) return 'application/x-ipynb+json';
  if (key.endsWith('.json')) return 'application/json';
  return undefined;
}

/** The key prefix of a folder location: "" for a bucket's root, else ending in "/". */
function folderPrefix(key: string): string {
  const trimmed = key.replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

async function* pages(bucket: string, prefix: string, delimiter?: string): AsyncGenerator<ListObjectsV2CommandOutput> {
  let token: string | undefined;
  do {
    let page: ListObjectsV2CommandOutput;
    try {
      page = await client().send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, ...(delimiter ? { Delimiter: delimiter } : {}) }),
      );
    } catch (err) {
      throw translate(err, 'listing', bucket, prefix);
    }
    yield page;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

export const s3Backend: StoreBackend = {
  async read(location) {
    const body = await this.readStream(location);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  },

  async readStream(location) {
    const { bucket, key } = parseS3Location(location);
    try {
      const out = await client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return out.Body as Readable;
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(location);
      throw translate(err, 'reading', bucket, key);
    }
  },

  async write(location, data, options = {}) {
    const { bucket, key } = parseS3Location(location);
    const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const params = {
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: contentType(key),
      ...(options.ifAbsent ? { IfNoneMatch: '*' } : {}),
    };
    try {
      if (body.length > MULTIPART_THRESHOLD) {
        // The parts go up in parallel; If-None-Match is checked by CompleteMultipartUpload.
        await new Upload({ client: client(), params, partSize: PART_SIZE, queueSize: PART_CONCURRENCY }).done();
      } else {
        await client().send(new PutObjectCommand(params));
      }
    } catch (err) {
      if (options.ifAbsent && isPreconditionFailed(err)) throw new ObjectExistsError(location);
      throw translate(err, 'writing', bucket, key);
    }
  },

  async exists(location) {
    return (await this.stat(location)) !== undefined;
  },

  async stat(location) {
    const { bucket, key } = parseS3Location(location);
    if (key === '' || key.endsWith('/')) return undefined;
    try {
      const out = await client().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { location, size: out.ContentLength ?? 0, modified: out.LastModified ?? new Date(0) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw translate(err, 'reading', bucket, key);
    }
  },

  async list(prefix) {
    const { bucket, key } = parseS3Location(prefix);
    const locations: string[] = [];
    for await (const page of pages(bucket, folderPrefix(key))) {
      for (const object of page.Contents ?? []) {
        if (object.Key && !object.Key.endsWith('/')) locations.push(s3Url(bucket, object.Key));
      }
    }
    return locations.sort();
  },

  async removeFolder(folder) {
    const { bucket, key } = parseS3Location(folder);
    const prefix = folderPrefix(key);
    if (prefix === '') throw new Error(`refusing to empty the whole bucket ${bucket}`);
    // A listing page holds at most 1,000 keys, as many as one DeleteObjects call takes.
    for await (const page of pages(bucket, prefix)) {
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length === 0) continue;
      try {
        await client().send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
      } catch (err) {
        throw translate(err, 'writing', bucket, prefix);
      }
    }
  },

  async listFolder(folder) {
    const { bucket, key } = parseS3Location(folder);
    const prefix = folderPrefix(key);
    const folders: string[] = [];
    const objects: ObjectInfo[] = [];
    for await (const page of pages(bucket, prefix, '/')) {
      for (const p of page.CommonPrefixes ?? []) {
        if (p.Prefix) folders.push(s3Url(bucket, p.Prefix.replace(/\/+$/, '')));
      }
      for (const object of page.Contents ?? []) {
        // A "folder marker" (the prefix itself) is not an object of the folder.
        if (!object.Key || object.Key === prefix || object.Key.endsWith('/')) continue;
        objects.push({ location: s3Url(bucket, object.Key), size: object.Size ?? 0, modified: object.LastModified ?? new Date(0) });
      }
    }
    folders.sort();
    objects.sort((a, b) => (a.location < b.location ? -1 : a.location > b.location ? 1 : 0));
    return { folders, objects } satisfies FolderListing;
  },
};

/**
 * Before anything starts: can the bucket be reached at all? Two quick attempts, so a
 * store that is down fails `millrace run` in seconds, naming the endpoint. Any answer from
 * S3 (even "access denied") counts as reachable: permissions are reported by the
 * operation that needs them, naming its bucket and key.
 */
export async function checkS3Reachable(location: string): Promise<void> {
  const { bucket, key } = parseS3Location(location);
  const probe = createClient(s3Settings(), storeIdentity(), 2);
  try {
    await probe.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const e = (err ?? {}) as SdkError;
    if (isNetworkError(e)) throw translate(err, 'checking', bucket, key);
    if (e.name === 'NoSuchBucket' || status(e) === 404) throw translate({ ...e, name: 'NoSuchBucket' }, 'writing', bucket, key);
  } finally {
    probe.destroy();
  }
}
