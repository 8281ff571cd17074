// tx2 fixture: an app instrumented for PM2 with tx2. A counter metric
// "queue" at 7, and an action "hello" that replies with the instance's
// PORT (increment_var) and its parameter, if any. It prints the PORT once.
const tx2 = require('tx2');

const queue = tx2.counter('queue');
for (let i = 0; i < 7; i++) queue.inc();

tx2.action('hello', (param, reply) => {
  reply({ hi: true, port: process.env.PORT, param });
});

console.log(`tx2 app up on ${process.env.PORT}`);
setInterval(() => {}, 1 << 30);
process.on('SIGINT', () => process.exit(0));
