// The command example's default command: prints `tick N of COUNT` every INTERVAL ms, then `done`, and
// exits with EXIT (default 0). Harmless, quick, and present wherever Node is.
//
// usage: node dist/examples/command/ticker.js [COUNT=5] [INTERVAL_MS=500] [EXIT=0]
const [count = 5, interval = 500, exitCode = 0] = process.argv.slice(2).map(Number);
if (![count, interval, exitCode].every(Number.isInteger) || count < 0 || interval < 0) {
  process.stderr.write('usage: ticker [COUNT] [INTERVAL_MS] [EXIT_CODE] (integers)\n');
  process.exit(2);
}

let tick = 0;
const timer = setInterval(() => {
  tick += 1;
  if (tick <= count) {
    process.stdout.write(`tick ${tick} of ${count}\n`);
    return;
  }
  clearInterval(timer);
  process.stdout.write('done\n');
  process.exitCode = exitCode;
}, interval);
