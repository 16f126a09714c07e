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
