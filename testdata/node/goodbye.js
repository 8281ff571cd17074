// Goodbye fixture: says it is up, and on SIGINT or SIGTERM prints its last
// words on both streams, over a few ticks, before it exits: what a
// container's log must not lose.
console.log('up');
const bye = () => {
  let n = 0;
  const t = setInterval(() => {
    console.log(`last words ${n}`);
    console.error(`last error ${n}`);
    if (++n === 5) {
      clearInterval(t);
      console.log('goodbye');
      process.exit(0);
    }
  }, 10);
};
process.on('SIGINT', bye);
process.on('SIGTERM', bye);
setInterval(() => {}, 1 << 30);
