/**
 * Progress lines on stderr, as every command writes them: none under --json, where
 * stdout carries the one JSON object and stderr stays quiet. A light module: commands
 * use it before they load the Temporal client.
 */
export function progressLog(options: { json: boolean }): (line: string) => void {
  return (line) => {
    if (!options.json) process.stderr.write(`${line}\n`);
  };
}

/** What `run --detach` and `resume --detach` print once the run is started, whoever started it. */
export function printStarted(run: { runId: string; output: string }, options: { json: boolean; warnings: string[] }): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ run_id: run.runId, status: 'running', output: run.output, warnings: options.warnings })}\n`);
  } else {
    process.stdout.write(`${run.runId}\noutput: ${run.output}\n`);
  }
}
