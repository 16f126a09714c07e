// Issue 14 item 10: credentials in a webhook URL become an Authorization header (fetch
// refuses such a URL), and a failed notification reads as one line with its attempts.
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { webhookRequest } from '../../activities/notify.js';
import { runHeader } from '../../cli/inspect/view-model.js';
import { notificationFailure } from '../../workflows/notify-run.js';

describe('webhookRequest', () => {
  it('moves user:password into HTTP Basic authentication, decoded', () => {
    const r = webhookRequest('https://hook%20user:p%40ss%3Aword@hooks.example/services/T0?x=1');
    expect(r.url).toBe('https://hooks.example/services/T0?x=1');
    expect(r.headers).toEqual({ authorization: `Basic ${Buffer.from('hook user:p@ss:word').toString('base64')}` });
    expect(() => new Request(r.url)).not.toThrow();
  });

  it('takes a user without a password, and leaves a URL without credentials as it is', () => {
    expect(webhookRequest('https://token@hooks.example/x').headers.authorization).toBe(`Basic ${Buffer.from('token:').toString('base64')}`);
    expect(webhookRequest('https://hooks.example/x')).toEqual({ url: 'https://hooks.example/x', headers: {} });
  });
});

describe('notificationFailure', () => {
  const failed = (cause: Error) => new ActivityFailure('activity failed', 'notifyWebhook', '1', RetryState.MAXIMUM_ATTEMPTS_REACHED, 'w', cause);
  it('names the last error and the attempts made', () => {
    expect(notificationFailure(failed(ApplicationFailure.retryable('webhook answered HTTP 500', 'WebhookError', { attempt: 5 })))).toBe(
      'webhook answered HTTP 500 (5 attempts)',
    );
    expect(notificationFailure(failed(ApplicationFailure.nonRetryable('webhook answered HTTP 404', 'WebhookRejected', { attempt: 1 })))).toBe(
      'webhook answered HTTP 404 (1 attempt)',
    );
    expect(notificationFailure(failed(ApplicationFailure.retryable('webhook unreachable (ECONNREFUSED)')))).toBe('webhook unreachable (ECONNREFUSED)');
  });
});

describe('the inspector', () => {
  it("says a run's notification failed in its header", () => {
    const summary = {
      run_id: 'r1', status: 'completed', notebook: 'nb.ipynb', output: '/s/runs/r1/nb.ipynb', schedule: 'daily',
      started: null, ended: null, duration_s: null, parameters: null, notification_failed: 'webhook answered HTTP 500 (5 attempts)',
    };
    const fields = runHeader({ summary, notebook: null, progress: null, failure: null, resumedAs: [], note: null }, new Date());
    expect(fields).toContainEqual({ label: 'notification failed', value: 'webhook answered HTTP 500 (5 attempts)', color: 'yellow' });
    expect(runHeader({ summary: { ...summary, notification_failed: null }, notebook: null, progress: null, failure: null, resumedAs: [], note: null }, new Date()).map((f) => f.label)).not.toContain('notification failed');
  });
});
