/** Locations, endpoints and URLs as the store reads and shows them (pure). */
import { describe, expect, it } from 'vitest';
import { backendFor, locationBasename, parseS3Location, redactUrl, StoreError } from '../../record/store/index.js';
import { describeEndpoint, s3Settings } from '../../record/store/s3.js';

describe('S3 locations', () => {
  it('splits s3://bucket/key and refuses what is not one', () => {
    expect(parseS3Location('s3://my-bucket/a/b.ipynb')).toEqual({ bucket: 'my-bucket', key: 'a/b.ipynb' });
    expect(parseS3Location('s3://my-bucket')).toEqual({ bucket: 'my-bucket', key: '' });
    for (const bad of ['s3://', 's3://Upper/x', 's3://ab/x', 's3:///x']) {
      expect(() => parseS3Location(bad)).toThrow(StoreError);
      expect(() => backendFor(bad)).toThrow(/not an S3 location/);
    }
    expect(() => backendFor('ftp://host/x')).toThrow(/unsupported location/);
  });

  it('names files by their last segment, decoded for URLs only', () => {
    expect(locationBasename('s3://b-1/runs/r/nb.ipynb')).toBe('nb.ipynb');
    expect(locationBasename('https://host/a/my%20nb.ipynb?sig=1')).toBe('my nb.ipynb');
    expect(locationBasename('/tmp/100%25.ipynb')).toBe('100%25.ipynb');
  });
});

describe('S3 settings from the environment', () => {
  it('takes the S3 endpoint before the general one, and turns path-style on with it', () => {
    expect(s3Settings({})).toEqual({ forcePathStyle: false });
    expect(s3Settings({ AWS_ENDPOINT_URL: 'http://a:1', AWS_ENDPOINT_URL_S3: 'http://b:2' })).toEqual({ endpoint: 'http://b:2', forcePathStyle: true });
    expect(s3Settings({ AWS_ENDPOINT_URL: 'http://a:1' })).toEqual({ endpoint: 'http://a:1', forcePathStyle: true });
    expect(s3Settings({ AWS_ENDPOINT_URL: 'http://a:1', MILLRACE_S3_FORCE_PATH_STYLE: '0' }).forcePathStyle).toBe(false);
    expect(s3Settings({ MILLRACE_S3_FORCE_PATH_STYLE: 'true' }).forcePathStyle).toBe(true);
    expect(s3Settings({ AWS_ENDPOINT_URL_S3: 'http://b:2', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toEqual({ forcePathStyle: false });
  });

  it('never shows credentials in an endpoint or URL', () => {
    expect(describeEndpoint({ endpoint: 'https://user:secret@s3.example:9000/?X-Amz-Signature=abc', forcePathStyle: true })).toBe('https://s3.example:9000');
    expect(describeEndpoint({ forcePathStyle: false })).toBe('AWS S3');
    expect(redactUrl('https://u:p@host/a/nb.ipynb?sig=1#x')).toBe('https://host/a/nb.ipynb');
  });
});
