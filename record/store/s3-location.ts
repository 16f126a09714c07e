/** `s3://bucket/key` locations, without loading the AWS SDK (the CLI checks them early). */
import { StoreError } from './errors.js';

export interface S3Location {
  bucket: string;
  /** May be empty (the bucket's root); never starts with "/". */
  key: string;
}

// S3's bucket naming rules (3-63 lower-case letters, digits, dots and hyphens).
const LOCATION_RE = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/;

export function parseS3Location(location: string): S3Location {
  const match = LOCATION_RE.exec(location);
  if (!match) {
    throw new StoreError(
      `${location}: not an S3 location; expected s3://bucket/key with a bucket name of 3-63 lower-case letters, digits, "." or "-"`,
      'bad-location',
      location,
    );
  }
  return { bucket: match[1]!, key: match[2] ?? '' };
}
